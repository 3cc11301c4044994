"""The guard's check of a place_basket, as a whole. Pure: no I/O, no clock.

A basket is allowed only as the unit a scanner proved sure (DESIGN.md, "The plan"):

- it is a basket the State of the Union holds (same event, same side) with exactly its legs,
  all of them — a subset of legs is a naked directional bet, not an arbitrage;
- the same quantity on every leg, 1..max contracts per order, and no more than the books offered;
- every leg's price within 0.01-0.99 and on the market's tick, every leg's market open;
- filled in full at its limit prices it still profits (the payout is sure, the cost bounded);
- its whole cost (every leg at its limit plus fees) ≤ max cost per order and ≤ cash; its whole
  notional counts as new exposure (cash is tied up until settlement);
- a trading state other than ACTIVE (director/trading_state.py: safe mode, a blocked fallback,
  a risk score above the limit) refuses it, like any new order; so do unknown exchange data this
  cycle and a leg with an unreconciled order (director/fail_closed.py, checked before).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from director.baskets import BasketIntent, LegOrder, payout_per_basket
from director.fees import trade_fee
from director.guard import Limits, Verdict, _Budget, blocked
from director.models import CENT, BasketOpportunity, Market, PlaceBasket, Side, SystemState
from director.ticks import describe, on_grid, price_bounds
from director.trading_state import Trading


def leg_fee(quote: Market | None, quantity: int, price: Decimal, at: datetime | None) -> Decimal:
    """The taker fee of one leg on its market's own schedule: the project's one fee function."""
    return trade_fee(quantity, price, quote.fees if quote is not None else None, at=at)


def check_basket(
    action: PlaceBasket,
    state: SystemState,
    limits: Limits,
    trading: Trading,
    budget: _Budget,
) -> Verdict:
    d = action.details
    sides = {leg.side for leg in d.legs}
    if len(sides) != 1:
        return blocked(f"basket {d.event} mixes yes and no legs")
    side = sides.pop()
    if not trading.allows_new_exposure:
        return blocked(trading.reason)
    found = state.basket(d.event, side)
    if found is None:
        return blocked(f"no {side.value.upper()} basket on {d.event} in the State of the Union")
    refused = _legs_problem(action, found, state, limits, budget)
    if refused:
        return blocked(refused)
    return _within_money_limits(action, side, state, limits, budget)


def _legs_problem(
    action: PlaceBasket,
    found: BasketOpportunity,
    state: SystemState,
    limits: Limits,
    budget: _Budget,
) -> str:
    d = action.details
    markets = [leg.market for leg in d.legs]
    if len(set(markets)) != len(markets):
        return f"basket {d.event} names a leg twice"
    if set(markets) != set(found.markets):
        missing = sorted(set(found.markets) - set(markets))
        extra = sorted(set(markets) - set(found.markets))
        return (
            f"basket {d.event} must buy exactly its {len(found.legs)} legs"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; not in it {', '.join(extra)}" if extra else "")
        )
    quantities = {leg.quantity for leg in d.legs}
    if len(quantities) != 1:
        return f"basket {d.event} legs must all have the same quantity"
    quantity = quantities.pop()
    if quantity <= 0:
        return f"quantity {quantity} is not a positive number of contracts"
    if quantity > limits.max_order_contracts:
        return f"quantity {quantity} > max {limits.max_order_contracts} contracts per order"
    if quantity > found.contracts:
        return f"quantity {quantity} > the {found.contracts} baskets the books offered"
    for leg in d.legs:
        problem = _leg_problem(leg.market, leg.price, state, budget)
        if problem:
            return problem
    return ""


def _leg_problem(market: str, price: Decimal, state: SystemState, budget: _Budget) -> str:
    quote = state.markets.get(market)
    grid = quote.price_ranges if quote is not None else ()
    low, high = price_bounds(grid)  # 0.01-0.99 on the cent grid
    if not price.is_finite() or not low <= price <= high:
        return f"{market}: price {price} outside {low}-{high}"
    if not on_grid(price, grid):
        return f"{market}: price {price} is not on the market's tick grid ({describe(grid)})"
    if market in budget.touched_markets:
        return f"{market} already has an order in this plan"
    unresolved = state.unresolved_orders.get(market)
    if unresolved is not None:
        return unresolved
    if quote is None or not quote.is_open:
        return f"market {market} is not open"
    if quote.fees is not None and not quote.fees.modelled:
        return f"{market}'s fee schedule ({quote.fees.describe()}) is not modelled"
    return ""


def _within_money_limits(
    action: PlaceBasket, side: Side, state: SystemState, limits: Limits, budget: _Budget
) -> Verdict:
    d = action.details
    quantity = d.legs[0].quantity
    legs = tuple(LegOrder(leg.market, side, leg.price, quantity) for leg in d.legs)
    notional = sum((leg.price * quantity for leg in legs), Decimal(0))
    fees = sum(
        (
            leg_fee(state.markets.get(leg.market), quantity, leg.price, state.timestamp)
            for leg in legs
        ),
        Decimal(0),
    )
    cost = notional + fees
    net = payout_per_basket(side, len(legs)) * quantity - cost
    if net <= 0:
        return blocked(
            f"basket {d.event} filled at its limits would pay ${net:.2f} net of fees: not sure"
        )
    if cost > limits.max_order_cost:
        return blocked(f"basket cost ${cost} > max ${limits.max_order_cost} per order")
    if cost > budget.cash:
        return blocked(f"basket cost ${cost} > cash available ${budget.cash}")
    cap = (limits.max_exposure * state.equity).quantize(CENT)
    after = budget.exposure + notional
    if after > cap:
        return blocked(
            f"exposure would be ${after:.2f} > limit ${cap} ({limits.max_exposure:%} of equity)"
        )
    intent = BasketIntent(d.event, side, legs, quantity, cost, net)
    return Verdict(
        allowed=True,
        reason=f"basket within limits; at least ${net:.2f} net if every leg fills",
        basket=intent,
        cost=cost,
        new_exposure=notional,
    )
