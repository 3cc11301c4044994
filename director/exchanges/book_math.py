"""Holding, fill and settlement arithmetic shared by the in-memory venues, pure and with no I/O.

The paper book (paper_book.py) and the replay venue (replay.py) keep their cash their own way
(the paper book pays a maker buy from its reserve, the replay venue releases the reserve to
cash first); what a fill does to the contracts held, what a sell realizes, what a settlement
pays and what an order or fill record holds is the same for both and lives here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from director.models import CENT, Fill, Order, OrderAction, OrderRequest, OrderStatus, Side

ZERO = Decimal(0)
AVG_PRICE_STEP = Decimal("0.0001")

HoldingKey = tuple[str, Side]  # (market, side)


@dataclass(slots=True)
class Holding:
    quantity: int
    cost: Decimal  # what the contracts held were bought for (whole ticks of their grid)

    @property
    def avg_price(self) -> Decimal:
        return (self.cost / self.quantity).quantize(AVG_PRICE_STEP)


def book_fill(
    holdings: dict[HoldingKey, Holding],
    order: Order,
    qty: int,
    price: Decimal,
    *,
    tick: Decimal = CENT,
) -> Decimal:
    """Move `qty` contracts filled at `price` into or out of `holdings`; the P&L the fill
    realizes before fees: nothing for a buy, for a sell its proceeds less the cost it releases
    (pro rata, to the market's finest `tick`, all of it when the holding is sold out)."""
    key = (order.market, order.side)
    amount = price * qty
    if order.action is OrderAction.BUY:
        holding = holdings.setdefault(key, Holding(0, ZERO))
        holding.quantity += qty
        holding.cost += amount
        return ZERO
    holding = holdings[key]
    if qty == holding.quantity:
        released = holding.cost
    else:
        released = (holding.cost * qty / holding.quantity).quantize(tick, rounding=ROUND_HALF_EVEN)
    holding.quantity -= qty
    holding.cost -= released
    if holding.quantity == 0:
        del holdings[key]
    return amount - released


@dataclass(frozen=True)
class SettledHoldings:
    """What a market's settlement took out of the holdings and paid for them."""

    yes: Holding | None
    no: Holding | None
    payout: Decimal  # $1 a winning contract
    cost: Decimal  # what the contracts settled had cost

    @property
    def pnl(self) -> Decimal:
        return self.payout - self.cost


def settle_holdings(
    holdings: dict[HoldingKey, Holding], ticker: str, result: Side
) -> SettledHoldings | None:
    """Take both sides of `ticker` out of `holdings` as settled at `result`; None if neither
    was held."""
    yes = holdings.pop((ticker, Side.YES), None)
    no = holdings.pop((ticker, Side.NO), None)
    if yes is None and no is None:
        return None
    won = yes if result is Side.YES else no
    payout = Decimal(won.quantity) if won is not None else ZERO
    cost = (yes.cost if yes else ZERO) + (no.cost if no else ZERO)
    return SettledHoldings(yes=yes, no=no, payout=payout, cost=cost)


def new_order(
    request: OrderRequest,
    *,
    order_id: str,
    remaining: int,
    status: OrderStatus,
    created_at: datetime,
) -> Order:
    """The order `request` becomes, with `remaining` contracts still to fill."""
    return Order(
        order_id=order_id,
        client_order_id=request.client_order_id,
        market=request.market,
        side=request.side,
        action=request.action,
        price=request.price,
        quantity=request.quantity,
        remaining=remaining,
        status=status,
        created_at=created_at,
    )


def new_fill(
    fill_id: str,
    order: Order,
    qty: int,
    price: Decimal,
    fee: Decimal,
    *,
    taker: bool,
    at: datetime,
) -> Fill:
    """The record of `qty` contracts of `order` filled at `price`."""
    return Fill(
        fill_id=fill_id,
        order_id=order.order_id,
        market=order.market,
        side=order.side,
        action=order.action,
        price=price,
        quantity=qty,
        fee=fee,
        is_taker=taker,
        created_at=at,
    )


def canceled(order: Order) -> Order:
    return order.model_copy(update={"status": OrderStatus.CANCELED})
