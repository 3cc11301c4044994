from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from director.act import execute
from director.disposition import approval_reason
from director.guard import HARD_RISK_LIMIT, Limits, check_action, check_plan
from director.models import (
    Autonomy,
    CancelOrder,
    CancelOrderDetails,
    DoNothing,
    Fill,
    Market,
    Order,
    OrderAction,
    OrderRequest,
    OrderStatus,
    PlaceOrder,
    PlaceOrderDetails,
    Plan,
    Position,
    Priority,
    Rebalance,
    RebalanceDetails,
    Side,
)
from director.trading_state import Trading, TradingState
from tests.builders import LIMITS, NOW, D, market, opportunity, order, order_for, position, state


def place(
    ticker: str, price: str | None = "0.42", quantity: int | None = 10, side: str = "yes"
) -> PlaceOrder:
    return PlaceOrder(
        details=PlaceOrderDetails(
            market=ticker,
            side=Side(side),
            price=None if price is None else D(price),
            quantity=quantity,
        )
    )


def test_allows_an_order_within_every_limit() -> None:
    s = state(opportunities=[opportunity("KXA")])
    verdict = check_action(place("KXA"), s, LIMITS)
    assert verdict.allowed, verdict.reason
    assert verdict.order is not None and verdict.order.quantity == 10
    # 10 × 0.42 plus the taker fee ceil(0.07 × 10 × 0.42 × 0.58) = 0.18
    assert verdict.cost == D("4.38")


def test_price_must_be_in_range_and_on_a_cent() -> None:
    s = state(opportunities=[opportunity("KXA")])
    for price, why in [
        ("0", "outside"),
        ("1.00", "outside"),
        ("1.5", "outside"),
        ("0.425", "cent"),
    ]:
        verdict = check_action(place("KXA", price=price), s, LIMITS)
        assert not verdict.allowed and why in verdict.reason


def test_missing_price_or_quantity_is_blocked_not_guessed() -> None:
    s = state(opportunities=[opportunity("KXA")])
    assert check_action(place("KXA", price=None), s, LIMITS).reason == "price missing"
    assert check_action(place("KXA", quantity=None), s, LIMITS).reason == "quantity missing"


def test_quantity_limits() -> None:
    s = state(opportunities=[opportunity("KXA")])
    assert "max 100" in check_action(place("KXA", price="0.10", quantity=101), s, LIMITS).reason
    assert "positive" in check_action(place("KXA", quantity=0), s, LIMITS).reason
    assert "positive" in check_action(place("KXA", quantity=-3), s, LIMITS).reason


def test_cost_limit_and_cash() -> None:
    s = state(opportunities=[opportunity("KXA")])
    assert "max $50" in check_action(place("KXA", price="0.60", quantity=90), s, LIMITS).reason
    poor = state(cash="3", opportunities=[opportunity("KXA")])
    assert "cash available" in check_action(place("KXA"), poor, LIMITS).reason


def test_only_markets_in_the_state_of_the_union() -> None:
    s = state(opportunities=[opportunity("KXA")], markets=[market("KXZ")])
    verdict = check_action(place("KXZ"), s, LIMITS)
    assert not verdict.allowed and "neither an opportunity nor a held position" in verdict.reason


def test_closed_market_is_refused() -> None:
    closed = Market(ticker="KXA", status="closed", yes_bid=D("0.4"), yes_ask=D("0.42"))
    s = state(opportunities=[opportunity("KXA")], markets=[closed])
    assert "not open" in check_action(place("KXA"), s, LIMITS).reason


def test_safe_mode_allows_only_cancels_and_reductions() -> None:
    s = state(
        positions=[position("KXP", 20)],
        orders=[order("o1", "KXP")],
        opportunities=[opportunity("KXA")],
        safe_mode=True,
    )
    assert "safe mode" in check_action(place("KXA"), s, LIMITS).reason
    grow = Rebalance(details=RebalanceDetails(market="KXP", target_quantity=30))
    assert "safe mode" in check_action(grow, s, LIMITS).reason
    shrink = Rebalance(details=RebalanceDetails(market="KXP", target_quantity=5))
    verdict = check_action(shrink, s, LIMITS)
    assert verdict.allowed and verdict.order is not None
    assert verdict.order.action is OrderAction.SELL and verdict.order.quantity == 15
    cancel = CancelOrder(details=CancelOrderDetails(order_id="o1"))
    assert check_action(cancel, s, LIMITS).allowed


def test_high_risk_blocks_new_exposure_whatever_the_rules_say() -> None:
    s = state(opportunities=[opportunity("KXA")], risk_score=0.85)
    assert "no new exposure" in check_action(place("KXA"), s, LIMITS).reason
    lax = Limits(
        max_order_contracts=100, max_order_cost=D(50), max_exposure=D("0.5"), risk_limit=0.95
    )
    assert lax.risk_limit == HARD_RISK_LIMIT
    assert not check_action(place("KXA"), s, lax).allowed


def test_plan_cannot_exceed_exposure_in_aggregate() -> None:
    # Equity 100: the cap is 50. Each order costs ~4.2 alone but together they break it.
    opps = [opportunity(f"KX{i}") for i in range(15)]
    s = state(cash="100", opportunities=opps)
    plan = Plan(reasoning="greedy", actions=[place(f"KX{i}") for i in range(15)])
    verdicts = check_plan(plan, s, LIMITS)
    allowed = [v for v in verdicts if v.allowed]
    assert 0 < len(allowed) < 15
    assert sum(v.new_exposure for v in allowed) <= D(50)
    assert any("exposure would be" in v.reason for v in verdicts if not v.allowed)


def test_duplicate_orders_and_cancels_in_one_plan() -> None:
    s = state(orders=[order("o1", "KXB")], opportunities=[opportunity("KXA")])
    cancel = CancelOrder(details=CancelOrderDetails(order_id="o1"))
    plan = Plan(reasoning="twice", actions=[place("KXA"), place("KXA"), cancel, cancel])
    v = check_plan(plan, s, LIMITS)
    assert [x.allowed for x in v] == [True, False, True, False]


def test_cancel_unknown_order_and_rebalance_without_position() -> None:
    s = state()
    assert not check_action(
        CancelOrder(details=CancelOrderDetails(order_id="nope")), s, LIMITS
    ).allowed
    grow = Rebalance(details=RebalanceDetails(market="KXQ", target_quantity=5))
    assert "no position" in check_action(grow, s, LIMITS).reason
    close = Rebalance(details=RebalanceDetails(market="KXQ", target_quantity=0))
    assert check_action(close, s, LIMITS).noop


def test_blocked_new_exposure_reason_from_a_failed_brain() -> None:
    s = state(opportunities=[opportunity("KXA")])
    plan = Plan(reasoning="x", actions=[place("KXA")])
    failed = Trading(TradingState.REDUCING, "brain failed: safe fallback")
    [verdict] = check_plan(plan, s, LIMITS, trading=failed)
    assert verdict.reason == "brain failed: safe fallback"


def test_approval_policy() -> None:
    s = state(opportunities=[opportunity("KXA")])
    verdict = check_action(place("KXA"), s, LIMITS)
    common: dict[str, Any] = {"cost_threshold": D(25), "escalated": False}
    assert (
        approval_reason(verdict, autonomy=Autonomy.AUTO, priority=Priority.MEDIUM, **common) is None
    )
    assert approval_reason(verdict, autonomy=Autonomy.CONFIRM, priority=Priority.LOW, **common)
    assert "HIGH" in str(
        approval_reason(verdict, autonomy=Autonomy.AUTO, priority=Priority.HIGH, **common)
    )
    escalated = approval_reason(
        verdict, autonomy=Autonomy.AUTO, priority=Priority.LOW, cost_threshold=D(25), escalated=True
    )
    assert escalated == "plan was escalated"
    pricey = approval_reason(
        verdict, autonomy=Autonomy.AUTO, priority=Priority.LOW, cost_threshold=D(1), escalated=False
    )
    assert pricey is not None and "threshold" in pricey
    noop = check_action(DoNothing(), s, LIMITS)
    assert (
        approval_reason(noop, autonomy=Autonomy.CONFIRM, priority=Priority.HIGH, **common) is None
    )


# --- property: whatever a brain returns, nothing that reaches the exchange breaks a limit ----


class RecordingExchange:
    """Accepts everything and remembers it: the property is about what reaches a venue."""

    name = "recording"

    def __init__(self) -> None:
        self.placed: list[OrderRequest] = []
        self.canceled: list[str] = []

    async def place_order(self, request: OrderRequest) -> Order:
        self.placed.append(request)
        return order_for(request, f"x{len(self.placed)}")

    async def cancel_order(self, order_id: str) -> Order:
        self.canceled.append(order_id)
        return Order(
            order_id=order_id,
            market="?",
            side=Side.YES,
            price=D("0.5"),
            quantity=1,
            remaining=0,
            status=OrderStatus.CANCELED,
            created_at=NOW,
        )

    async def get_balance(self) -> Decimal:
        return D(0)

    async def get_positions(self) -> list[Position]:
        return []

    async def get_resting_orders(self) -> list[Order]:
        return []

    async def get_fills(self, since: datetime | None = None) -> list[Fill]:
        return []

    async def get_markets(self, tickers: Sequence[str] | None = None) -> list[Market]:
        return []

    async def close(self) -> None:
        return None


TICKERS = ["KXA", "KXB", "KXC", "KXP", "KXQ", "UNKNOWN"]
prices = st.one_of(
    st.none(),
    st.decimals(min_value=-2, max_value=3, places=3, allow_nan=False, allow_infinity=False),
    st.sampled_from([D("0.01"), D("0.99"), D("0.5"), D("1"), D("0")]),
)
quantities = st.one_of(st.none(), st.integers(min_value=-5, max_value=10_000))
actions = st.one_of(
    st.builds(
        lambda m, s, p, q: PlaceOrder(
            details=PlaceOrderDetails(market=m, side=s, price=p, quantity=q)
        ),
        st.sampled_from(TICKERS),
        st.sampled_from(list(Side)),
        prices,
        quantities,
    ),
    st.builds(
        lambda o: CancelOrder(details=CancelOrderDetails(order_id=o)),
        st.sampled_from(["o1", "o2", "zzz"]),
    ),
    st.builds(
        lambda m, t: Rebalance(details=RebalanceDetails(market=m, target_quantity=t)),
        st.sampled_from(TICKERS),
        st.integers(min_value=-3, max_value=500),
    ),
    st.just(DoNothing()),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    plan_actions=st.lists(actions, max_size=12),
    cash=st.decimals(min_value=0, max_value=5000, places=2),
    risk_score=st.floats(min_value=0, max_value=1),
    safe_mode=st.booleans(),
    held=st.integers(min_value=1, max_value=300),
)
async def test_nothing_that_reaches_the_exchange_breaks_a_limit(
    plan_actions: list[Any], cash: Decimal, risk_score: float, safe_mode: bool, held: int
) -> None:
    s = state(
        cash=str(cash),
        positions=[position("KXP", held, "0.30")],
        orders=[order("o1", "KXB"), order("o2", "KXC")],
        opportunities=[opportunity("KXA"), opportunity("KXB", side=Side.NO)],
        markets=[market("KXC"), market("KXQ")],
        risk_score=risk_score,
        safe_mode=safe_mode,
    )
    plan = Plan(reasoning="fuzz", actions=plan_actions, priority=Priority.LOW)
    exchange = RecordingExchange()
    for idx, verdict in enumerate(check_plan(plan, s, LIMITS)):
        if verdict.sends_something:
            await execute(exchange, verdict, f"coid-{idx}")

    cap = LIMITS.max_exposure * s.equity
    exposure, spent = s.exposure, D(0)
    for request in exchange.placed:
        assert D("0.01") <= request.price <= D("0.99")
        assert request.price == request.price.quantize(D("0.01"))
        assert 0 < request.quantity <= LIMITS.max_order_contracts
        if request.action is OrderAction.SELL:
            held_position = s.position(request.market)
            assert held_position is not None and request.quantity <= held_position.quantity
            continue
        assert not safe_mode
        assert risk_score <= HARD_RISK_LIMIT
        assert s.opportunity(request.market) or s.position(request.market)
        assert request.market in s.markets and s.markets[request.market].is_open
        cost = request.price * request.quantity
        assert cost <= LIMITS.max_order_cost
        exposure += cost
        spent += cost
        assert exposure <= cap
        assert spent <= s.portfolio_cash
    assert len(set(exchange.canceled)) == len(exchange.canceled)
    assert set(exchange.canceled) <= {"o1", "o2"}
