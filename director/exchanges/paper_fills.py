"""How orders meet the paper venue's finite books: taking walks the price levels, resting
waits in a queue. Pure: the book (paper_book.py) applies what these functions decide.

Prices here are whole cents of the order's own side (a NO order at 40 trades against YES bids
at 60). Every level of a market holds `Simulator.depth(market)` contracts.

- Taking: a buy lifts the asks of its side level by level up to its limit (a sell hits the
  bids down to its limit), at most the depth at each level; what it takes moves the quote
  at once (the next order meets the new touch) and adds price impact that decays over the
  next steps (paper_sim.py). A remainder rests at the limit.
- Resting: an order rests at its price. Each step the crowd sends a volume of flow against
  the resting side: a random base, plus informed flow that grows with how far the hidden
  value moved against the order that step (sellers arrive when the value falls, which is
  when a resting buy least wants to be filled). An order at the touch waits behind the depth
  already there (a fresh level's queue; the model keeps no queue position across steps, so
  a restart changes nothing); an order better than the touch is first in line; one behind
  the touch gets nothing; one the quote crosses fills whole. Fills are maker fills at the
  order's price.
"""

from __future__ import annotations

import math

from director.exchanges.paper_dynamics import unit_draws
from director.exchanges.paper_market import SimMarket
from director.models import Order, OrderAction, Side

_BASE_FLOW = 0.25  # mean uninformed flow a step, in levels of depth
_INFORMED_PER_CENT = 0.5  # levels of informed flow per cent the value moved against the order


def lifts_yes_asks(side: Side, action: OrderAction) -> bool:
    """Buying YES and selling NO both trade against the YES asks."""
    return (action is OrderAction.BUY) == (side is Side.YES)


def _touch(market: SimMarket, yes_asks: bool) -> tuple[int | None, int]:
    """The YES price of the touch this order trades against, and what is already taken there."""
    if yes_asks:
        return market.yes_ask, market.taken_ask
    return market.yes_bid, market.taken_bid


def plan_take(
    market: SimMarket, depth: int, side: Side, action: OrderAction, qty: int, limit: int
) -> list[tuple[int, int]]:
    """(own price in cents, contracts) of each level the order would take, best first."""
    yes_asks = lifts_yes_asks(side, action)
    level, taken = _touch(market, yes_asks)
    step = 1 if yes_asks else -1
    levels: list[tuple[int, int]] = []
    left = qty
    while left > 0 and level is not None and 1 <= level <= 99:
        own = level if side is Side.YES else 100 - level
        if (action is OrderAction.BUY and own > limit) or (
            action is OrderAction.SELL and own < limit
        ):
            break
        contracts = min(left, depth - taken)
        levels.append((own, contracts))
        left -= contracts
        level, taken = level + step, 0
    return levels


def commit_take(
    market: SimMarket, depth: int, side: Side, action: OrderAction, levels: list[tuple[int, int]]
) -> None:
    """Move the quote past what `levels` took, and add the price impact."""
    if not levels:
        return
    yes_asks = lifts_yes_asks(side, action)
    total = sum(n for _, n in levels)
    level, taken = _touch(market, yes_asks)
    assert level is not None
    used = taken + total
    moved = used // depth
    remaining_taken = used - moved * depth
    direction = 1 if yes_asks else -1
    new_level = level + direction * moved
    if yes_asks:
        market.yes_ask = new_level if new_level <= 99 else None
        market.taken_ask = remaining_taken
    else:
        market.yes_bid = new_level if new_level >= 1 else None
        market.taken_bid = remaining_taken
    market.impact += direction * total / depth


def value_move_against(market: SimMarket, fair_now: float | None, order: Order) -> float:
    """Cents the hidden value of the order's side moved against it this step (≥ 0)."""
    if fair_now is None or market.fair_before is None:
        return 0.0
    moved = (fair_now - market.fair_before) * 100.0
    if order.side is Side.NO:
        moved = -moved
    # A buyer is hurt by a fall, a seller by a rise.
    return max(0.0, -moved if order.action is OrderAction.BUY else moved)


def resting_fill(
    market: SimMarket, depth: int, order: Order, fair_now: float | None, seed: int, step: int
) -> int:
    """Contracts of a resting `order` that fill this step (0..remaining)."""
    cents = round(order.price * 100)
    if order.action is OrderAction.BUY:
        opposite, touch = market.ask_cents(order.side), market.bid_cents(order.side)
        crossed = opposite is not None and opposite <= cents
        better = touch is None or cents > touch
    else:
        opposite, touch = market.bid_cents(order.side), market.ask_cents(order.side)
        crossed = opposite is not None and opposite >= cents
        better = touch is None or cents < touch
    if crossed:
        return order.remaining
    if not better and cents != touch:
        return 0  # behind the touch: the flow is absorbed before it reaches this price
    ahead = 0 if better else depth
    (u,) = unit_draws(1, "flow", seed, step, order.order_id)
    base = -math.log(1.0 - u) * _BASE_FLOW
    informed = _INFORMED_PER_CENT * value_move_against(market, fair_now, order)
    flow = int((base + informed) * depth)
    return max(0, min(order.remaining, flow - ahead))
