"""Hard limits in code. Pure: no I/O, no clock.

Every action is checked against a state before it runs (and again, on fresh state, when an
approval is pressed). Whatever a brain says — and whatever a market title or a headline says to
a brain — nothing reaches the exchange that breaks these limits:

- price on the market's own tick grid (whole cents, 0.01-0.99, unless the market states a finer
  one: director/ticks.py); quantity a positive integer ≤ max contracts per order;
- cost (price × quantity plus the market's taker fee, director/fees.py) ≤ max cost per order,
  and ≤ the cash available;
- total exposure after the order ≤ max exposure × equity;
- new orders only on open markets that are in the State of the Union (an opportunity or a held
  position);
- the trading state (director/trading_state.py): nothing at all while the exchange is not
  trading; only cancels and position-reducing rebalances in safe mode, after a brain failure
  with the `safe` fallback, or with the risk score above the limit (0.8, or lower if the rules
  say so);
- no order from unknown data (a failed balance, positions or orders read), and none on a market
  whose last order is not reconciled with the exchange yet (director/fail_closed.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from director.baskets import BasketIntent
from director.fail_closed import refusal
from director.fees import FeeSchedule, trade_fee
from director.models import (
    CENT,
    Action,
    CancelOrder,
    DoNothing,
    OrderAction,
    PlaceBasket,
    PlaceOrder,
    Plan,
    Rebalance,
    Side,
    SystemState,
)
from director.ticks import describe, on_grid, price_bounds
from director.trading_state import Trading, trading_state

if TYPE_CHECKING:
    from director.rulebook import RuleSet
    from director.settings import Settings

MIN_PRICE = Decimal("0.01")
MAX_PRICE = Decimal("0.99")
# Rule 1's threshold is data (the review may move it), but the guard never lets it above this.
HARD_RISK_LIMIT = 0.8


@dataclass(frozen=True)
class Limits:
    max_order_contracts: int
    max_order_cost: Decimal
    max_exposure: Decimal  # fraction of equity
    risk_limit: float = HARD_RISK_LIMIT

    def __post_init__(self) -> None:
        object.__setattr__(self, "risk_limit", min(self.risk_limit, HARD_RISK_LIMIT))

    @classmethod
    def from_settings(cls, settings: Settings, rules: RuleSet) -> Limits:
        """The one place the guard's limits are read: the order and exposure caps from the
        settings, rule 1's risk threshold from the active rules (capped at HARD_RISK_LIMIT)."""
        return cls(
            max_order_contracts=settings.max_order_contracts,
            max_order_cost=settings.max_order_cost,
            max_exposure=settings.max_exposure,
            risk_limit=rules.thresholds.risk_limit,
        )


@dataclass(frozen=True)
class OrderIntent:
    """The exact order an allowed place_order or rebalance resolves to."""

    market: str
    side: Side
    action: OrderAction
    price: Decimal
    quantity: int
    # Issue 13: the market's fees and the moment they apply (a fee waiver ends).
    fees: FeeSchedule | None = None
    fees_at: datetime | None = None

    @property
    def notional(self) -> Decimal:
        return self.price * self.quantity

    @property
    def fee(self) -> Decimal:
        return trade_fee(self.quantity, self.price, self.fees, at=self.fees_at)

    def describe(self) -> str:
        return f"{self.action.value} {self.quantity} {self.market} {self.side.value} @ {self.price}"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str
    order: OrderIntent | None = None  # what to send, for place_order and rebalance
    cancel_order_id: str | None = None
    cost: Decimal = Decimal(0)  # cash the action commits (0 for cancels and sells)
    new_exposure: Decimal = Decimal(0)
    noop: bool = False  # do_nothing, or a rebalance already at its target
    basket: BasketIntent | None = None  # what to send, for place_basket (director/basket_guard)

    @property
    def sends_something(self) -> bool:
        return self.allowed and not self.noop


@dataclass
class _Budget:
    """What earlier actions of the same plan have already committed."""

    cash: Decimal
    exposure: Decimal
    canceled: set[str] = field(default_factory=set)
    touched_markets: set[str] = field(default_factory=set)
    # Markets admitted to the State of the Union when a parked action was parked (see
    # check_action's `admitted`).
    admitted: frozenset[str] = frozenset()


def blocked(reason: str) -> Verdict:
    return Verdict(allowed=False, reason=reason)


def check_plan(
    plan: Plan, state: SystemState, limits: Limits, *, trading: Trading | None = None
) -> list[Verdict]:
    """Verdicts for every action of a plan, in order; later actions see what earlier ones
    commit, so three orders that each fit can't together break the exposure limit.
    `trading`: the trading state (by default the state's own, director/trading_state.py)."""
    trading = trading or trading_state(state, limits)
    budget = _Budget(cash=state.portfolio_cash, exposure=state.exposure)
    verdicts = []
    for action in plan.actions:
        verdict = check_action(action, state, limits, trading=trading, budget=budget)
        if verdict.allowed:
            budget.cash -= verdict.cost
            budget.exposure += verdict.new_exposure
            if verdict.cancel_order_id:
                budget.canceled.add(verdict.cancel_order_id)
            if verdict.order:
                budget.touched_markets.add(verdict.order.market)
            if verdict.basket:
                budget.touched_markets.update(verdict.basket.markets)
        verdicts.append(verdict)
    return verdicts


def check_action(
    action: Action,
    state: SystemState,
    limits: Limits,
    *,
    trading: Trading | None = None,
    budget: _Budget | None = None,
    admitted: frozenset[str] = frozenset(),
) -> Verdict:
    """One action against the state, in the trading state `trading` (by default the state's
    own: director/trading_state.py; a cycle's also knows whether its brain failed).

    `admitted`: markets that were in the State of the Union (an opportunity or a position) when
    this action was parked for approval. An approval's re-check must not depend on what a
    scanner says a second later: such a market still needs to be open and within every limit,
    but no longer needs to be an opportunity now."""
    trading = trading or trading_state(state, limits)
    budget = budget or _Budget(
        cash=state.portfolio_cash, exposure=state.exposure, admitted=admitted
    )
    if isinstance(action, DoNothing):
        return Verdict(allowed=True, reason="nothing to do", noop=True)
    if trading.halted:
        return blocked(trading.reason)
    if isinstance(action, CancelOrder):
        return _check_cancel(action, state, budget)
    unsafe = refusal(action, state)  # unknown data, or an order not yet reconciled
    if unsafe is not None:
        return blocked(unsafe)
    if isinstance(action, Rebalance):
        return _check_rebalance(action, state, limits, trading, budget)
    if isinstance(action, PlaceBasket):
        # Imported here: basket_guard builds on this module's Verdict and limits.
        from director.basket_guard import check_basket

        return check_basket(action, state, limits, trading, budget)
    return _check_place(action, state, limits, trading, budget)


def _check_cancel(action: CancelOrder, state: SystemState, budget: _Budget) -> Verdict:
    order_id = action.details.order_id
    if order_id in budget.canceled:
        return blocked(f"order {order_id} is already canceled by this plan")
    if state.order(order_id) is None:
        return blocked(f"order {order_id} is not a resting order")
    return Verdict(allowed=True, reason="cancels are always allowed", cancel_order_id=order_id)


def _check_rebalance(
    action: Rebalance,
    state: SystemState,
    limits: Limits,
    trading: Trading,
    budget: _Budget,
) -> Verdict:
    market, target = action.details.market, action.details.target_quantity
    position = state.position(market)
    if target < 0:
        return blocked(f"target quantity {target} is negative")
    if position is None:
        if target == 0:
            return Verdict(
                allowed=True, reason=f"no position in {market}: nothing to close", noop=True
            )
        return blocked(f"no position in {market} to rebalance (use place_order to open one)")
    if market in budget.touched_markets:
        return blocked(f"{market} already has an order in this plan")
    if target == position.quantity:
        return Verdict(allowed=True, reason=f"already at {target}", noop=True)
    quote = state.markets.get(market)
    if quote is None or not quote.is_open:
        return blocked(f"market {market} is not open or has no quote")
    if target < position.quantity:
        price = quote.bid(position.side)
        if price is None or price < MIN_PRICE:
            return blocked(f"no bid to sell {market} {position.side.value} into")
        order = OrderIntent(
            market=market,
            side=position.side,
            action=OrderAction.SELL,
            price=min(price, MAX_PRICE),
            quantity=min(position.quantity - target, limits.max_order_contracts),
        )
        reduced = (
            " (capped at the max contracts per order)"
            if order.quantity < (position.quantity - target)
            else ""
        )
        return Verdict(
            allowed=True,
            reason=f"reduces {market} from {position.quantity} to "
            f"{position.quantity - order.quantity}{reduced}",
            order=order,
        )
    price = quote.ask(position.side)
    if price is None:
        return blocked(f"no ask to buy {market} {position.side.value} from")
    order = OrderIntent(
        market=market,
        side=position.side,
        action=OrderAction.BUY,
        price=price,
        quantity=target - position.quantity,
    )
    return _check_new_exposure(order, state, limits, trading, budget)


def _check_place(
    action: PlaceOrder,
    state: SystemState,
    limits: Limits,
    trading: Trading,
    budget: _Budget,
) -> Verdict:
    d = action.details
    if d.price is None:
        return blocked("price missing")
    if d.quantity is None:
        return blocked("quantity missing")
    quote = state.markets.get(d.market)
    grid = quote.price_ranges if quote is not None else ()
    low, high = price_bounds(grid)  # 0.01-0.99 on the cent grid
    if not d.price.is_finite() or not low <= d.price <= high:
        return blocked(f"price {d.price} outside {low}-{high}")
    if not on_grid(d.price, grid):
        return blocked(f"price {d.price} is not on {d.market}'s tick grid ({describe(grid)})")
    if d.market in budget.touched_markets:
        return blocked(f"{d.market} already has an order in this plan")
    order = OrderIntent(
        market=d.market, side=d.side, action=OrderAction.BUY, price=d.price, quantity=d.quantity
    )
    return _check_new_exposure(order, state, limits, trading, budget)


def _check_new_exposure(
    order: OrderIntent,
    state: SystemState,
    limits: Limits,
    trading: Trading,
    budget: _Budget,
) -> Verdict:
    if not trading.allows_new_exposure:
        return blocked(trading.reason)
    if order.quantity <= 0:
        return blocked(f"quantity {order.quantity} is not a positive number of contracts")
    if order.quantity > limits.max_order_contracts:
        return blocked(
            f"quantity {order.quantity} > max {limits.max_order_contracts} contracts per order"
        )
    in_sotu = (
        state.opportunity(order.market) is not None
        or state.position(order.market) is not None
        or order.market in budget.admitted
    )
    if not in_sotu:
        return blocked(f"{order.market} is neither an opportunity nor a held position")
    quote = state.markets.get(order.market)
    if quote is None or not quote.is_open:
        return blocked(f"market {order.market} is not open")
    if quote.fees is not None and not quote.fees.modelled:
        return blocked(f"{order.market}'s fee schedule ({quote.fees.describe()}) is not modelled")
    order = replace(order, fees=quote.fees, fees_at=state.timestamp)
    cost = order.notional + order.fee
    if cost > limits.max_order_cost:
        return blocked(f"cost ${cost} > max ${limits.max_order_cost} per order")
    if cost > budget.cash:
        return blocked(f"cost ${cost} > cash available ${budget.cash}")
    cap = (limits.max_exposure * state.equity).quantize(CENT)
    after = budget.exposure + order.notional
    if after > cap:
        return blocked(
            f"exposure would be ${after:.2f} > limit ${cap} ({limits.max_exposure:%} of equity)"
        )
    return Verdict(
        allowed=True,
        reason="within limits",
        order=order,
        cost=cost,
        new_exposure=order.notional,
    )
