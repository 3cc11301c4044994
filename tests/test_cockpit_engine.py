"""The engine side of the operator's cockpit, pure: the guard's `admitted` input as a table,
operator actions, recorded outcomes, P&L by period, and why no trade."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from director.guard import Limits, check_action
from director.models import (
    Fill,
    Market,
    MarketStatus,
    Opportunity,
    OrderAction,
    PlaceOrder,
    PlaceOrderDetails,
    Position,
    Side,
    SystemState,
)
from director.operator_actions import (
    OperatorActionError,
    close_action,
    halved,
    recorded_decision,
)
from director.pnl import SettledPnl, pnl_by_period, realized_from_fills
from director.rulebook import Thresholds
from director.store import ApprovalRecord, ApprovalStatus
from director.why import ActionFact, explain, explain_cycle

D = Decimal
NOW = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
LIMITS = Limits(max_order_contracts=100, max_order_cost=D(50), max_exposure=D("0.5"))


def state(
    *, opportunity: bool, status: MarketStatus = MarketStatus.OPEN, **extra: object
) -> SystemState:
    opportunities = (
        [
            Opportunity(
                market="KX", edge=D("0.2"), confidence=D("0.8"), expires_at=NOW + timedelta(hours=1)
            )
        ]
        if opportunity
        else []
    )
    values: dict[str, object] = {
        "timestamp": NOW,
        "portfolio_cash": D(1000),
        "equity": D(1000),
        "active_opportunities": opportunities,
        "markets": {"KX": Market(ticker="KX", yes_bid=D("0.40"), yes_ask=D("0.42"), status=status)},
    }
    values.update(extra)
    return SystemState.model_validate(values)


def order(quantity: int = 10, price: str = "0.42") -> PlaceOrder:
    return PlaceOrder(
        details=PlaceOrderDetails(market="KX", side=Side.YES, price=D(price), quantity=quantity)
    )


@pytest.mark.parametrize(
    ("opportunity_now", "admitted", "status", "quantity", "allowed", "reason"),
    [
        # An opportunity now: allowed, admitted or not.
        (True, False, MarketStatus.OPEN, 10, True, "within limits"),
        (True, True, MarketStatus.OPEN, 10, True, "within limits"),
        # Gone from the scanner a second later: only an admitted (parked) order still passes.
        (False, False, MarketStatus.OPEN, 10, False, "neither an opportunity nor a held position"),
        (False, True, MarketStatus.OPEN, 10, True, "within limits"),
        # Admitted is no pass for the rest: the market must be open, the limits hold.
        (False, True, MarketStatus.CLOSED, 10, False, "is not open"),
        (False, True, MarketStatus.OPEN, 101, False, "max 100 contracts"),
        (False, True, MarketStatus.OPEN, 100, False, "max $50 per order"),
    ],
)
def test_admitted_markets_need_not_still_be_opportunities(
    opportunity_now: bool,
    admitted: bool,
    status: MarketStatus,
    quantity: int,
    allowed: bool,
    reason: str,
) -> None:
    price = "0.49" if quantity == 100 else "0.42"  # 100 × 0.49 + fee > $50
    verdict = check_action(
        order(quantity, price),
        state(opportunity=opportunity_now, status=status),
        LIMITS,
        admitted=frozenset({"KX"}) if admitted else frozenset(),
    )
    assert verdict.allowed is allowed
    assert reason in verdict.reason


def test_admitted_never_lifts_safe_mode_or_the_risk_limit() -> None:
    for extra in ({"safe_mode": True}, {"current_risk_score": 0.95}):
        verdict = check_action(
            order(), state(opportunity=False, **extra), LIMITS, admitted=frozenset({"KX"})
        )
        assert not verdict.allowed


def test_close_action_reduces_what_is_held_and_refuses_the_rest() -> None:
    held = state(
        opportunity=False,
        open_positions=[Position(market="KX", side=Side.NO, quantity=10, avg_price=D("0.3"))],
    )
    assert close_action(held, "KX").details.target_quantity == 0
    assert close_action(held, "KX", 4).details.target_quantity == 6
    for market, quantity, why in (
        ("KY", None, "no position"),
        ("KX", 11, "more than"),
        ("KX", 0, "positive"),
    ):
        with pytest.raises(OperatorActionError, match=why):
            close_action(held, market, quantity)
    verdict = check_action(close_action(held, "KX", 4), held, LIMITS)
    assert verdict.allowed and verdict.order is not None
    assert (verdict.order.action, verdict.order.quantity) == (OrderAction.SELL, 4)


def test_approve_half_halves_a_priced_order_only() -> None:
    half = halved(order(9))
    assert isinstance(half, PlaceOrder) and half.details.quantity == 4
    assert halved(order(1)) is None


def test_a_decided_approval_answers_with_who_really_decided() -> None:
    record = ApprovalRecord(
        7, 1, 1, "place_order", NOW, NOW + timedelta(hours=1), ApprovalStatus.BLOCKED, "alice (1)",
        NOW, "Re-check on fresh state blocked it: safe mode.", 1001, 5,
    )  # fmt: skip
    decision = recorded_decision(record, "place_order(KX yes 0.42×10)")
    assert decision.decided_by == "alice (1)"
    assert (
        decision.message
        == "Already blocked by alice (1). Re-check on fresh state blocked it: safe mode."
    )
    assert not decision.ok


def fill(at: datetime, action: OrderAction, price: str, quantity: int, fee: str = "0.01") -> Fill:
    return Fill(
        fill_id=f"f{at.timestamp()}{action}", order_id="o", market="KX", side=Side.YES,
        action=action, price=D(price), quantity=quantity, fee=D(fee), created_at=at,
    )  # fmt: skip


def test_pnl_by_day_splits_realized_from_the_equity_change() -> None:
    day1, day2 = NOW - timedelta(days=1), NOW
    fills = [
        fill(day1, OrderAction.BUY, "0.40", 10),
        fill(day1 + timedelta(minutes=1), OrderAction.BUY, "0.50", 10),
        fill(day2, OrderAction.SELL, "0.60", 10),
    ]
    assert realized_from_fills(fills) == [(day2, D("1.50"))]  # (0.60 − 0.45) × 10
    equity = [(day1, D(1000)), (day1 + timedelta(hours=1), D(999)), (day2, D(1003))]
    spend = [(day2, D("0.25"))]
    settled = [SettledPnl(day2 + timedelta(minutes=5), D("2"))]
    rows = pnl_by_period("day", equity, fills, settled, spend)
    assert [r.start for r in rows] == [day1.date(), day2.date()]
    first, second = rows
    assert (first.total, first.realized, first.fees, first.fills) == (D(-1), D(0), D("0.02"), 2)
    assert second.total == D(4)  # from the first day's close
    assert second.realized == D("3.50") and second.ai_spend == D("0.25")
    assert second.unrealized == D(4) - D("3.50") + D("0.01")
    weeks = pnl_by_period("week", equity, fills, settled, spend)
    assert len(weeks) == 1 and weeks[0].total == D(3)


def test_why_names_the_missed_threshold_and_the_guards_reason() -> None:
    thresholds = Thresholds()
    sotu = state(opportunity=False).model_copy(
        update={
            "active_opportunities": [
                Opportunity(market="LOW", edge=D("0.05"), confidence=D("0.9"), expires_at=NOW),
                Opportunity(market="SHY", edge=D("0.3"), confidence=D("0.5"), expires_at=NOW),
                Opportunity(market="KX", edge=D("0.2"), confidence=D("0.8"), expires_at=NOW),
                Opportunity(market="OK", edge=D("0.2"), confidence=D("0.8"), expires_at=NOW),
            ]
        }
    )
    facts = [ActionFact("KX", "place_order", "blocked", "cost $60 > max $50 per order")]
    answers = {a.market: a for a in explain_cycle(sotu, thresholds, facts)}
    assert answers["LOW"].fate == "below_threshold"
    assert answers["LOW"].reason == "edge 0.05 ≤ 0.1 (min_edge)"
    assert answers["SHY"].reason == "confidence 0.5 ≤ 0.7 (min_confidence)"
    assert answers["KX"].fate == "blocked" and "max $50" in answers["KX"].reason
    assert answers["OK"].fate == "not_chosen"
    taken = explain(
        sotu.active_opportunities[3],
        sotu,
        thresholds,
        [ActionFact("OK", "place_order", "executed", "within limits")],
    )
    assert taken.fate == "taken"


def test_an_approval_sent_with_an_unclear_answer_says_so() -> None:
    record = ApprovalRecord(
        8, 1, 1, "place_order", NOW, NOW + timedelta(hours=1), ApprovalStatus("unknown"),
        "alice (1)", NOW, None, 1001, 6,
    )  # fmt: skip
    decision = recorded_decision(record, "place_order(KX yes 0.42×10)")
    assert decision.message.startswith("Already approved by alice (1) and sent;")
