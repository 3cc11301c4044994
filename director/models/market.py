"""One binary market as the exchange quotes it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import Field

from director.fees import FeeSchedule
from director.models.base import ONE, Frozen, Side
from director.ticks import PriceRange


class MarketStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    SETTLED = "settled"


class Market(Frozen):
    """One binary market; quotes are for the YES side, the NO side is their mirror."""

    ticker: str
    title: str = ""
    event_ticker: str = ""
    status: MarketStatus = MarketStatus.OPEN
    yes_bid: Decimal | None = None
    yes_ask: Decimal | None = None
    last_price: Decimal | None = None
    close_time: datetime | None = None
    result: Side | None = None
    volume: int = 0
    # Contracts at the best YES bid / ask, where the venue reports them (the NO side mirrors).
    yes_bid_size: int | None = Field(default=None, ge=0)
    yes_ask_size: int | None = Field(default=None, ge=0)
    # Issue 13. The market's price grid (empty: whole cents, director/ticks.py) and its fees
    # (None: Kalshi's standard taker schedule, director/fees.py).
    price_ranges: tuple[PriceRange, ...] = ()
    fees: FeeSchedule | None = None

    @property
    def is_open(self) -> bool:
        return self.status is MarketStatus.OPEN

    def ask(self, side: Side) -> Decimal | None:
        """Best price to buy `side` now."""
        if side is Side.YES:
            return self.yes_ask
        return None if self.yes_bid is None else ONE - self.yes_bid

    def ask_size(self, side: Side) -> int | None:
        """Contracts offered at ask(side): buying NO lifts the YES bid."""
        return self.yes_ask_size if side is Side.YES else self.yes_bid_size

    def bid(self, side: Side) -> Decimal | None:
        """Best price to sell `side` now."""
        if side is Side.YES:
            return self.yes_bid
        return None if self.yes_ask is None else ONE - self.yes_ask

    def mark(self, side: Side) -> Decimal | None:
        """Mid price of `side` (settlement value once settled)."""
        if self.result is not None:
            return ONE if self.result is side else Decimal(0)
        bid, ask = self.bid(side), self.ask(side)
        if bid is not None and ask is not None:
            return ((bid + ask) / 2).quantize(Decimal("0.0001"))
        if self.last_price is not None:
            return self.last_price if side is Side.YES else ONE - self.last_price
        return bid if bid is not None else ask
