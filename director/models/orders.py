"""What the account holds and sends: positions, orders, order requests and fills."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import Field

from director.models.base import Frozen, Side


class Position(Frozen):
    market: str
    side: Side
    quantity: int = Field(gt=0)
    avg_price: Decimal = Field(description="average entry price, dollars per contract")
    mark_price: Decimal | None = None

    @property
    def cost(self) -> Decimal:
        """What was paid: also the most this position can lose."""
        return self.avg_price * self.quantity

    @property
    def market_value(self) -> Decimal:
        price = self.mark_price if self.mark_price is not None else self.avg_price
        return price * self.quantity


class OrderAction(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderStatus(StrEnum):
    RESTING = "resting"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"


class Order(Frozen):
    order_id: str
    client_order_id: str | None = None
    market: str
    side: Side
    action: OrderAction = OrderAction.BUY
    price: Decimal
    quantity: int = Field(ge=0, description="contracts asked for")
    remaining: int = Field(ge=0, description="contracts still resting")
    status: OrderStatus = OrderStatus.RESTING
    created_at: datetime

    @property
    def filled(self) -> int:
        return self.quantity - self.remaining

    @property
    def reserved(self) -> Decimal:
        """Cash a resting buy holds back."""
        if self.action is OrderAction.BUY and self.status is OrderStatus.RESTING:
            return self.price * self.remaining
        return Decimal(0)


class OrderRequest(Frozen):
    """What an executor asks an exchange to do: a limit order."""

    market: str
    side: Side
    action: OrderAction = OrderAction.BUY
    price: Decimal
    quantity: int = Field(gt=0)
    client_order_id: str


class Fill(Frozen):
    fill_id: str
    order_id: str
    market: str
    side: Side
    action: OrderAction = OrderAction.BUY
    price: Decimal
    quantity: int
    fee: Decimal = Decimal(0)
    is_taker: bool = True
    created_at: datetime
