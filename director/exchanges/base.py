"""The Exchange port: what every venue (the paper simulator, Kalshi) offers the director."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from director.baskets import BasketIntent, BasketResult
from director.models import Fill, Market, Order, OrderRequest, Position


class ExchangeError(Exception):
    """The venue refused or failed a request; the message is safe to show the operator."""


class InsufficientFunds(ExchangeError):
    pass


class OrderNotFound(ExchangeError):
    pass


class MarketClosed(ExchangeError):
    pass


@runtime_checkable
class Exchange(Protocol):
    """A prediction-market venue. Prices are Decimal dollars; quantities whole contracts."""

    name: str

    async def get_balance(self) -> Decimal:
        """Cash available to trade (resting buy orders already held back)."""
        ...

    async def get_positions(self) -> list[Position]:
        """Open positions, marked to the current quote where one exists."""
        ...

    async def get_resting_orders(self) -> list[Order]: ...

    async def get_fills(self, since: datetime | None = None) -> list[Fill]: ...

    async def get_markets(self, tickers: Sequence[str] | None = None) -> list[Market]:
        """Markets by ticker (unknown tickers are left out); None means every open market."""
        ...

    async def place_order(self, request: OrderRequest) -> Order:
        """Place a limit order. Idempotent on request.client_order_id: placing the same id
        twice returns the first order and never creates a second."""
        ...

    async def cancel_order(self, order_id: str) -> Order: ...

    async def close(self) -> None: ...


@runtime_checkable
class BasketVenue(Protocol):
    """A venue that can trade a basket over one event as one unit (Kalshi's batched create
    inside an order group). One without it refuses place_basket."""

    async def place_basket(self, basket: BasketIntent, client_order_id: str) -> BasketResult:
        """Re-price from fresh books, then send every leg at once, immediate-or-cancel; take
        back any uneven excess. Idempotent on `client_order_id` (each leg's id derives from
        it). Failures are reported in the result, never raised after anything was sent."""
        ...
