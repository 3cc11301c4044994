"""The rules brain's baskets (rule 2 for place_basket): which sure baskets to take, and how many.

A basket's payout is sure, so rule 2's confidence and edge do not apply to it. It is taken when,
sized within the per-order limits, the cash and the exposure headroom, and priced at its limit
prices (the worst the guard allows), its net profit after fees clears two thresholds (data in
the rules, so the review can move them):

- `min_basket_profit` dollars — below it, the cost of unwinding one uneven fill across a spread
  can exceed the profit;
- `min_basket_return` of the cash committed — the cash stays tied up until settlement.

At most `max_new_baskets` a cycle, best net profit first, none touching a market that is held,
working, awaiting approval or being reconciled.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from director.basket_guard import leg_fee
from director.baskets import payout_per_basket
from director.models import (
    Action,
    BasketLegDetails,
    BasketOpportunity,
    PlaceBasket,
    PlaceBasketDetails,
    SystemState,
)
from director.rulebook import Thresholds


def basket_cost(basket: BasketOpportunity, quantity: int, state: SystemState) -> Decimal:
    """Every leg at its limit, plus fees: the most `quantity` baskets can cost (the guard's
    own fee function, on each leg's market)."""
    return sum(
        (
            leg.price * quantity
            + leg_fee(state.markets.get(leg.market), quantity, leg.price, state.timestamp)
            for leg in basket.legs
        ),
        Decimal(0),
    )


def size_basket(
    basket: BasketOpportunity,
    state: SystemState,
    *,
    max_contracts: int,
    max_cost: Decimal,
    max_exposure: Decimal,
) -> int:
    """The most baskets the books, the per-order limits, the cash and the exposure allow."""
    per_basket = sum((leg.price for leg in basket.legs), Decimal(0))
    headroom = max_exposure * state.equity - state.exposure
    cash = min(max_cost, state.portfolio_cash)
    quantity = min(basket.contracts, max_contracts)
    if per_basket > 0:
        by_money = min(cash, headroom) / per_basket
        quantity = min(quantity, max(0, int(by_money.to_integral_value(rounding=ROUND_FLOOR))))
    # Fees round up to the cent: step down until the whole cost fits.
    while quantity > 0 and basket_cost(basket, quantity, state) > cash:
        quantity -= 1
    return quantity


def take_baskets(
    state: SystemState,
    t: Thresholds,
    *,
    max_contracts: int,
    max_cost: Decimal,
    max_exposure: Decimal,
) -> tuple[list[Action], str]:
    baskets = state.basket_opportunities
    if not baskets:
        return [], ""
    busy = (
        {o.market for o in state.pending_orders}
        | {p.market for p in state.open_positions}
        | set(state.awaiting_approval)
        | set(state.unresolved_orders)
    )
    actions: list[Action] = []
    notes: list[str] = []
    for basket in sorted(baskets, key=lambda b: (-b.net_profit, b.event)):
        if len(actions) >= t.max_new_baskets:
            break
        if basket.event in busy or busy & set(basket.markets):
            notes.append(f"{basket.event}: a leg is held, working or awaiting approval")
            continue
        quantity = size_basket(
            basket,
            state,
            max_contracts=max_contracts,
            max_cost=max_cost,
            max_exposure=max_exposure,
        )
        if quantity < 1:
            notes.append(f"{basket.event}: no room to buy one basket within the limits")
            continue
        cost = basket_cost(basket, quantity, state)
        net = payout_per_basket(basket.side, len(basket.legs)) * quantity - cost
        if net < t.min_basket_profit or net < t.min_basket_return * cost:
            notes.append(
                f"{basket.event}: {quantity} baskets net ${net:.2f} on ${cost:.2f} "
                f"(needs ${t.min_basket_profit} and {t.min_basket_return:.1%} of cost)"
            )
            continue
        actions.append(_place(basket, quantity))
        notes.append(
            f"{basket.event} {basket.side.value.upper()} basket ×{quantity} on "
            f"{len(basket.legs)} legs: at least ${net:.2f} net on ${cost:.2f}"
        )
    text = (
        f"{len(baskets)} sure basket(s); taking those netting ≥ ${t.min_basket_profit} and "
        f"≥ {t.min_basket_return:.1%} of cost at their limit prices: " + "; ".join(notes) + "."
    )
    return actions, text


def _place(basket: BasketOpportunity, quantity: int) -> PlaceBasket:
    return PlaceBasket(
        details=PlaceBasketDetails(
            event=basket.event,
            legs=[
                BasketLegDetails(
                    market=leg.market, side=leg.side, price=leg.price, quantity=quantity
                )
                for leg in basket.legs
            ],
        )
    )
