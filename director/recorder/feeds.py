"""Where a recorder reads markets from: Kalshi's public market data, or the paper venue.

Both answer the same four questions: every open market with its top of book (`listing`), one
market's book (`depth`), the markets held (`held`), and what became of markets that left the
listing (`lookup`). Kalshi's listing comes from `GET /events` with nested markets (1 request per
200 events, and it carries each event's fee multiplier); depth is one `GET .../orderbook` per
market, so it is read only for the markets that matter. Every request goes through the Kalshi
client's token buckets.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import aclosing
from decimal import Decimal
from typing import TYPE_CHECKING, Literal, Protocol

from director.exchanges.base import ExchangeError
from director.exchanges.paper_sim import MAKER_FEE_SERIES
from director.fees import STANDARD, FeeSchedule, FeeType
from director.models import Market, MarketStatus
from director.recorder.format import Level, MarketLine
from director.ticks import stated

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from director.exchanges.kalshi import KalshiExchange, KalshiMarket
    from director.exchanges.paper import PaperExchange

# Where the paper venue reports no size at its quote (it used to fill any size), a recording
# of it says this many contracts stand at the touch, so a replay of paper data stays
# conservative instead of unlimited. A recording of Kalshi has the sizes Kalshi reports.
PAPER_TOUCH_CONTRACTS = Decimal(250)

Book = tuple[tuple[Level, ...], tuple[Level, ...]]  # (YES bids, NO bids), best first


class MarketFeed(Protocol):
    exchange: Literal["paper", "kalshi"]
    environment: str

    async def listing(self) -> list[MarketLine]:
        """Every open binary market, top of book with the sizes at the touch."""
        ...

    async def depth(self, ticker: str, levels: int) -> Book | None:
        """The market's resting bids on both sides, or None when the venue has no book."""
        ...

    async def held(self) -> set[str]: ...

    async def lookup(self, tickers: Sequence[str]) -> dict[str, Market]: ...


def _price(value: Decimal | None) -> Decimal | None:
    """A quote strictly inside (0, 1), or None (an empty side)."""
    return value if value is not None and 0 < value < 1 else None


class KalshiFeed:
    exchange: Literal["paper", "kalshi"] = "kalshi"

    def __init__(self, kalshi: KalshiExchange) -> None:
        self.kalshi = kalshi
        self.environment = kalshi.environment

    async def listing(self) -> list[MarketLine]:
        data = self.kalshi.market_data
        lines: list[MarketLine] = []
        async with aclosing(data.iter_event_pages(status="open")) as pages:
            async for page in pages:
                for event in page.items:
                    data.fees.note_event(
                        event.event_ticker,
                        event.series_ticker,
                        event.fee_type,
                        event.fee_multiplier,
                    )
                    for market in event.markets:
                        if market.is_open and market.is_binary:
                            line = await self._line(market)
                            lines += [] if line is None else [line]
        return lines

    async def _line(self, market: KalshiMarket) -> MarketLine | None:
        """The market with its fee schedule (the series list is one request an hour); one
        whose fees can't be read is left out, never recorded with a guessed fee."""
        try:
            fees = await self.kalshi.market_data.fees.schedule_for(market)
        except ExchangeError as exc:
            log.warning("recorder: %s left out, fees unreadable: %s", market.ticker, exc)
            return None
        return _kalshi_line(market, fees)

    async def depth(self, ticker: str, levels: int) -> Book | None:
        book = await self.kalshi.market_data.get_orderbook(ticker, depth=levels)
        return (
            tuple((level.price, level.size) for level in book.yes_bids[:levels]),
            tuple((level.price, level.size) for level in book.no_bids[:levels]),
        )

    async def held(self) -> set[str]:
        return {p.market for p in await self.kalshi.get_positions()}

    async def lookup(self, tickers: Sequence[str]) -> dict[str, Market]:
        if not tickers:
            return {}
        return {m.ticker: m for m in await self.kalshi.market_data.get_markets(list(tickers))}


def _kalshi_line(market: KalshiMarket, fees: FeeSchedule) -> MarketLine:
    bid, ask = _price(market.yes_bid), _price(market.yes_ask)
    return MarketLine(
        ticker=market.ticker,
        event=market.event_ticker,
        title=market.display_title,
        bid=bid,
        ask=ask,
        bid_size=market.yes_bid_size if bid is not None else Decimal(0),
        ask_size=market.yes_ask_size if ask is not None else Decimal(0),
        last=_price(market.last_price),
        volume=max(0, market.volume),
        close=market.close_time,
        fees=fees,
        ticks=stated(market.price_ranges),
    )


class PaperFeed:
    exchange: Literal["paper", "kalshi"] = "paper"
    environment = "paper"

    def __init__(self, paper: PaperExchange) -> None:
        self.paper = paper

    async def listing(self) -> list[MarketLine]:
        return [market_line(m) for m in await self.paper.get_markets()]

    async def depth(self, ticker: str, levels: int) -> Book | None:
        return None  # the paper venue has a quote, not a book

    async def held(self) -> set[str]:
        return {p.market for p in await self.paper.get_positions()}

    async def lookup(self, tickers: Sequence[str]) -> dict[str, Market]:
        if not tickers:
            return {}
        return {m.ticker: m for m in await self.paper.get_markets(list(tickers))}


def _size(size: int | None, price: Decimal | None) -> Decimal:
    if price is None:
        return Decimal(0)
    return PAPER_TOUCH_CONTRACTS if size is None else Decimal(size)


def paper_fees(market: Market) -> FeeSchedule:
    """The paper venue's schedule: makers pay on its maker-fee series (paper_sim.py)."""
    if market.fees is not None:
        return market.fees
    if market.event_ticker.split("-")[0] in MAKER_FEE_SERIES:
        return FeeSchedule(fee_type=FeeType.QUADRATIC_WITH_MAKER_FEES)
    return STANDARD


def market_line(market: Market) -> MarketLine:
    """A paper Market as a recorded line: the sizes at the touch it reports, else
    PAPER_TOUCH_CONTRACTS, and its tick grid."""
    bid, ask = _price(market.yes_bid), _price(market.yes_ask)
    return MarketLine(
        ticker=market.ticker,
        event=market.event_ticker,
        title=market.title,
        status=MarketStatus.OPEN if market.is_open else MarketStatus.CLOSED,
        bid=bid,
        ask=ask,
        bid_size=_size(market.yes_bid_size, bid),
        ask_size=_size(market.yes_ask_size, ask),
        last=_price(market.last_price),
        volume=max(0, market.volume),
        close=market.close_time,
        fees=paper_fees(market),
        ticks=stated(market.price_ranges),
    )
