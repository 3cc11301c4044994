"""No order from unknown data, none on a market whose last order is not reconciled: the guard
refuses them with a reason, the rules brain does not propose them, and a failed read on the
paper exchange is a failed source like any other."""

from __future__ import annotations

from pathlib import Path

import pytest

from director.brains.rules import RulesBrain
from director.director import Director
from director.exchanges.paper import PaperExchange
from director.guard import Limits, check_action
from director.models import (
    CancelOrder,
    CancelOrderDetails,
    PlaceOrder,
    PlaceOrderDetails,
    Rebalance,
    RebalanceDetails,
    Side,
)
from director.rulebook import DEFAULT_RULESET
from director.settings import Settings
from director.store import Store
from tests.builders import D, opportunity, order, position, state
from tests.fakes import RecordingReporter

LIMITS = Limits(max_order_contracts=100, max_order_cost=D(50), max_exposure=D("0.5"))
BUY = PlaceOrder(
    details=PlaceOrderDetails(market="KXA", side=Side.YES, price=D("0.42"), quantity=5)
)
SELL = Rebalance(details=RebalanceDetails(market="KXH", target_quantity=0))
CANCEL = CancelOrder(details=CancelOrderDetails(order_id="o1"))


@pytest.mark.parametrize(
    ("action", "unknown", "unresolved", "refused"),
    [
        (BUY, ["balance"], {}, "balance unknown"),
        (SELL, ["balance"], {}, "balance unknown"),  # no "risk 1.00" sell-off
        (SELL, ["positions"], {}, "positions unknown"),
        (BUY, ["orders"], {}, "orders unknown"),
        (BUY, [], {"KXA": "order x is not reconciled"}, "not reconciled"),
        (SELL, [], {"KXH": "order y is not reconciled"}, "not reconciled"),
        (CANCEL, ["balance"], {"KXA": "order x is not reconciled"}, None),
        (BUY, [], {"KXB": "another market"}, None),
    ],
)
def test_the_guard_refuses_orders_from_unknown_data_or_unreconciled_markets(
    action: PlaceOrder | Rebalance | CancelOrder,
    unknown: list[str],
    unresolved: dict[str, str],
    refused: str | None,
) -> None:
    base = state(
        positions=[position("KXH", 10)],
        orders=[order("o1", "KXH")],
        opportunities=[opportunity("KXA")],
    )
    sotu = base.model_copy(update={"unknown_data": unknown, "unresolved_orders": unresolved})
    verdict = check_action(action, sotu, LIMITS)
    if refused is None:
        assert verdict.allowed, verdict.reason
    else:
        assert not verdict.allowed and refused in verdict.reason


def test_the_rules_brain_proposes_nothing_from_an_unknown_balance() -> None:
    # A $0 placeholder balance with a held position would score risk 1.00 and trigger rule 1.
    sotu = state(cash="0", positions=[position("KXH", 40)], opportunities=[opportunity("KXA")])
    assert sotu.current_risk_score > 0.8
    unknown = sotu.model_copy(update={"unknown_data": ["balance"]})
    plan = RulesBrain(Settings()).plan(unknown, DEFAULT_RULESET)
    assert plan.actions == [] and "no proposal from unknown data" in plan.reasoning
    assert RulesBrain(Settings()).plan(sotu, DEFAULT_RULESET).actions  # known data: it acts


def test_the_rules_brain_skips_a_market_being_reconciled() -> None:
    sotu = state(opportunities=[opportunity("KXA"), opportunity("KXB")]).model_copy(
        update={"unresolved_orders": {"KXA": "order x is not reconciled"}}
    )
    plan = RulesBrain(Settings()).plan(sotu, DEFAULT_RULESET)
    markets = {getattr(a.details, "market", None) for a in plan.actions}
    assert "KXA" not in markets and "being reconciled" in plan.reasoning


async def test_a_failed_paper_read_is_a_failed_source_not_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await Store.open(tmp_path / "p.db")
    paper = await PaperExchange.open(store, seed=7, n_markets=20, starting_cash=D(10000))

    async def unreadable() -> None:
        raise OSError("disk I/O error")

    monkeypatch.setattr(paper, "get_balance", unreadable)
    director = Director(
        settings=Settings(autonomy_setting="auto", db_path=tmp_path / "p.db"),
        store=store,
        exchange=paper,
        brain=RulesBrain(Settings()),
        reporter=RecordingReporter(),
    )
    try:
        sotu = await director.sense()
        assert sotu.unknown_data == ["balance"] and "balance down" in sotu.system_health.summary()
        report = await director.run_cycle("manual")
        assert report.outcomes == []
    finally:
        await paper.close()
        await store.close()
