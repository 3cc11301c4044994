"""The trading state and the disposition of one checked action: pure decisions, as data."""

from __future__ import annotations

from director.disposition import (
    ApprovalPolicy,
    Disposition,
    DispositionKind,
    Parked,
    action_key,
    dispose,
)
from director.guard import Verdict, blocked, check_action
from director.models import (
    Autonomy,
    CancelOrder,
    CancelOrderDetails,
    PlaceOrder,
    PlaceOrderDetails,
    Priority,
    Rebalance,
    RebalanceDetails,
    Side,
)
from director.trading_state import BRAIN_FAILED_SAFE, TradingState, trading_state
from tests.builders import LIMITS, D, opportunity, order, position, state

MEDIUM = ApprovalPolicy(priority=Priority.MEDIUM, escalated=False, cost_threshold=D(25))
SENDS = Verdict(allowed=True, reason="within limits", cost=D(5), new_exposure=D(5))


def place(ticker: str = "KXA") -> PlaceOrder:
    return PlaceOrder(
        details=PlaceOrderDetails(market=ticker, side=Side.YES, price=D("0.42"), quantity=10)
    )


def test_the_trading_state_names_its_first_cause() -> None:
    assert trading_state(state(), LIMITS).state is TradingState.ACTIVE
    halted = trading_state(
        state(safe_mode=True).model_copy(update={"trading_halt": "pause"}), LIMITS
    )
    assert halted.state is TradingState.HALTED and halted.halted
    assert halted.reason == "exchange not trading (pause): nothing is sent"
    safe = trading_state(state(safe_mode=True, risk_score=0.9), LIMITS, brain_failed_safe=True)
    assert safe.state is TradingState.REDUCING and not safe.allows_new_exposure
    assert safe.reason == "safe mode (test): only cancels and position-reducing rebalances"
    failed = trading_state(state(risk_score=0.9), LIMITS, brain_failed_safe=True)
    assert failed.reason == BRAIN_FAILED_SAFE
    risky = trading_state(state(risk_score=0.9), LIMITS)
    assert risky.state is TradingState.REDUCING
    assert risky.reason == "risk 0.90 > 0.80: no new exposure"


def test_reducing_allows_cancels_and_reductions_and_halted_nothing() -> None:
    s = state(
        positions=[position("KXP", 20)],
        orders=[order("o1", "KXP")],
        opportunities=[opportunity("KXA")],
        risk_score=0.9,
    )
    reducing = trading_state(s, LIMITS, brain_failed_safe=True)
    cancel = CancelOrder(details=CancelOrderDetails(order_id="o1"))
    shrink = Rebalance(details=RebalanceDetails(market="KXP", target_quantity=5))
    assert check_action(place(), s, LIMITS, trading=reducing).reason == BRAIN_FAILED_SAFE
    assert check_action(cancel, s, LIMITS, trading=reducing).allowed
    assert check_action(shrink, s, LIMITS, trading=reducing).allowed
    halted = trading_state(s.model_copy(update={"trading_halt": "maintenance"}), LIMITS)
    for action in (place(), cancel, shrink):
        assert check_action(action, s, LIMITS, trading=halted).reason == halted.reason


def test_dispose_blocks_skips_and_observes_before_the_policy() -> None:
    assert dispose(blocked("no"), Autonomy.AUTO, MEDIUM, 7) == Disposition(
        DispositionKind.BLOCKED, "no"
    )
    noop = Verdict(allowed=True, reason="already at 5", noop=True)
    assert dispose(noop, Autonomy.CONFIRM, MEDIUM, None).kind is DispositionKind.NOOP
    observed = dispose(SENDS, Autonomy.OBSERVE, MEDIUM, 7)
    assert observed == Disposition(DispositionKind.OBSERVED, "autonomy is observe")


def test_dispose_parks_what_the_policy_holds_once() -> None:
    assert dispose(SENDS, Autonomy.AUTO, MEDIUM, None) == Disposition(
        DispositionKind.EXECUTE, "within limits"
    )
    assert dispose(SENDS, Autonomy.CONFIRM, MEDIUM, None) == Disposition(
        DispositionKind.PARK, "autonomy is confirm"
    )
    high = ApprovalPolicy(priority=Priority.HIGH, escalated=False, cost_threshold=D(25))
    assert dispose(SENDS, Autonomy.AUTO, high, None).kind is DispositionKind.PARK
    # What executes at once is never a duplicate, whatever waits.
    assert dispose(SENDS, Autonomy.AUTO, MEDIUM, 3).kind is DispositionKind.EXECUTE
    assert dispose(SENDS, Autonomy.CONFIRM, MEDIUM, 3) == Disposition(
        DispositionKind.DUPLICATE, "already awaiting approval #3", approval_id=3
    )


def test_parked_covers_by_action_key_and_lists_markets() -> None:
    cancel = CancelOrder(details=CancelOrderDetails(order_id="o1"))
    parked = Parked.of([(1, place("KXA"), "KXA"), (2, cancel, None), (4, place("KXA"), "KXA")])
    assert parked.covering(place("KXA")) == 4  # the newest of a key asked twice
    assert parked.covering(cancel) == 2 and parked.covering(place("KXB")) is None
    assert parked.markets == ("KXA",)
    assert action_key(cancel) == "cancel:o1" and action_key(place()) == "place_order:KXA"
    assert Parked().covering(place()) is None
