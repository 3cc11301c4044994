"""OMEGA_EXCHANGE=kalshi end to end, for a basket: the scanner reports one sure basket, the rules
brain takes it, the guard parks it for approval, and the approval sends every leg in one
batched, immediate-or-cancel create inside an order group — once, however often it is pressed."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from director.app import build_director
from director.models import PlaceBasket
from director.settings import load_settings
from tests.fakes import RecordingReporter
from tests.kalshi_standin import KalshiStandin, SMarket, new_rsa_key, write_private_key

D = Decimal
# YES bids sum to 1.20: NO on every leg costs 1.80 a basket and pays 2.
QUOTES = [("0.45", "0.50"), ("0.40", "0.45"), ("0.35", "0.40")]


async def test_a_sure_basket_is_parked_approved_and_sent_as_one_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = new_rsa_key()
    with KalshiStandin(key.public_key()) as standin:
        standin.add_event("KXWIN-B", title="Who wins B?", mutually_exclusive=True)
        for n, (bid, ask) in enumerate(QUOTES):
            standin.add_market(
                SMarket(
                    f"KXWIN-B-L{n}", "KXWIN-B", title="Who wins B?", yes_bid=D(bid), yes_ask=D(ask)
                )
            )
        env = {
            "OMEGA_EXCHANGE": "kalshi",
            "KALSHI_API_BASE": standin.base_url,
            "KALSHI_API_KEY_ID": standin.key_id,
            "KALSHI_PRIVATE_KEY_PATH": str(write_private_key(key, tmp_path / "kalshi.pem")),
            "OMEGA_DB_PATH": str(tmp_path / "omega.db"),
            "OMEGA_BRAIN": "rules",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        reporter = RecordingReporter()
        director = await build_director(load_settings(), reporter)
        try:
            report = await director.run_cycle("manual")
            assert report.error is None and report.state is not None
            [request] = reporter.requests  # confirm is Kalshi's default: it waits
            assert request.description.startswith("place_basket(KXWIN-B:")
            assert standin.calls("batch-create") == [] and standin.calls("create") == []
            decision = await director.decide_approval(request.approval_id, "alice", True)
            assert decision.ok, decision.message
            assert "filled" in decision.message
            again = await director.decide_approval(request.approval_id, "bob", True)
            assert not again.ok
            [batch] = standin.calls("batch-create")
            assert batch.body is not None
            orders = batch.body["orders"]
            assert [o["ticker"] for o in orders] == ["KXWIN-B-L0", "KXWIN-B-L1", "KXWIN-B-L2"]
            assert {o["time_in_force"] for o in orders} == {"immediate_or_cancel"}
            assert len({o["count"] for o in orders}) == 1
            assert standin.calls("create") == []  # no leg ever went out on its own
            state = await director.sense()
            assert {p.market for p in state.open_positions} == {o["ticker"] for o in orders}
            plan = await director.store.action(request.action_id)
            assert plan is not None and isinstance(
                PlaceBasket.model_validate(plan.action), PlaceBasket
            )
        finally:
            await director.close()
