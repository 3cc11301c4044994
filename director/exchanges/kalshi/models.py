"""Kalshi's market data as typed values: markets, events (with nested markets), order books.

Field names follow Kalshi's official SDK models (kalshi-python-async): prices are `*_dollars`
strings, counts `*_fp` strings, and the deprecated integer-cent fields are never read. A bad
market inside a page is skipped and counted; a page that is not a page fails the read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from director.baskets import Strike
from director.exchanges.kalshi.errors import KalshiParseError
from director.exchanges.kalshi.parsing import (
    MAX_TICKER,
    ZERO,
    count,
    decimal_text,
    flag,
    identifier,
    mapping,
    optional_number,
    optional_price,
    optional_timestamp,
    sequence,
    text,
    timestamp,
    whole,
)
from director.exchanges.kalshi.responses import EventsPage, MarketsPage, validate
from director.fees import FeeSchedule
from director.models import ONE, Market, MarketStatus, Side
from director.ticks import PriceRange

T = TypeVar("T")

# Kalshi's lifecycle states; only "active" (older responses: "open") accepts orders.
OPEN_STATES = frozenset({"active", "open"})
SETTLED_STATES = frozenset({"finalized", "settled"})


# --- markets and events -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KalshiMarket:
    """The fields of Kalshi's Market the director uses. Quotes are for YES; an empty side
    (Kalshi sends bid 0 / ask 1 with size 0) is None."""

    ticker: str
    event_ticker: str
    title: str
    yes_sub_title: str
    market_type: str
    status: str
    yes_bid: Decimal | None
    yes_ask: Decimal | None
    yes_bid_size: Decimal
    yes_ask_size: Decimal
    last_price: Decimal | None
    volume: int
    volume_24h: int
    open_interest: int
    close_time: datetime
    result: Side | None
    # The leg's YES region on the expiration value (baskets: proves an event exhaustive).
    strike: Strike | None = None
    # Issue 13: the market's own tick grid (empty: whole cents) and the end of its fee waiver.
    price_ranges: tuple[PriceRange, ...] = ()
    fee_waiver_until: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES

    @property
    def is_binary(self) -> bool:
        return self.market_type == "binary"

    @property
    def display_title(self) -> str:
        if self.yes_sub_title and self.yes_sub_title not in self.title:
            return f"{self.title} — {self.yes_sub_title}" if self.title else self.yes_sub_title
        return self.title or self.ticker

    def ask(self, side: Side) -> Decimal | None:
        if side is Side.YES:
            return self.yes_ask
        return None if self.yes_bid is None else ONE - self.yes_bid

    def ask_size(self, side: Side) -> Decimal:
        return self.yes_ask_size if side is Side.YES else self.yes_bid_size

    def to_market(self, fees: FeeSchedule | None = None) -> Market:
        """The port's Market; `fees` are the series' (with the event's overrides), which the
        market's own record does not carry."""
        if self.is_open:
            status = MarketStatus.OPEN
        elif self.status in SETTLED_STATES:
            status = MarketStatus.SETTLED
        else:
            status = MarketStatus.CLOSED
        return Market(
            ticker=self.ticker,
            title=self.display_title,
            event_ticker=self.event_ticker,
            status=status,
            yes_bid=self.yes_bid,
            yes_ask=self.yes_ask,
            last_price=self.last_price,
            close_time=self.close_time,
            result=self.result,
            volume=self.volume,
            price_ranges=self.price_ranges,
            fees=fees,
        )


def _quote(
    obj: Mapping[str, Any], price_field: str, size_field: str
) -> tuple[Decimal | None, Decimal]:
    """A best price and its size; a level with a reported size of zero is no level."""
    level = optional_price(obj, price_field)
    if obj.get(size_field) is None:
        return level, ZERO
    size = count(obj, size_field)
    return (level, size) if size > 0 else (None, ZERO)


def _volume(obj: Mapping[str, Any], field: str) -> int:
    return whole(count(obj, field), up=False) if obj.get(field) is not None else 0


def parse_strike(obj: Mapping[str, Any]) -> Strike | None:
    """`strike_type` with `floor_strike` / `cap_strike`; None when the market states none."""
    kind = text(obj, "strike_type", required=False, limit=32)
    if not kind:
        return None
    return Strike(kind, optional_number(obj, "floor_strike"), optional_number(obj, "cap_strike"))


def parse_price_ranges(obj: Mapping[str, Any]) -> tuple[PriceRange, ...]:
    """`price_ranges` ({start, end, step} dollar strings); absent means the cent grid, which
    is on every grid Kalshi documents, so an order priced by it is never off-grid."""
    ranges: list[PriceRange] = []
    for item in sequence(obj.get("price_ranges"), "price_ranges", allow_null=True):
        entry = mapping(item, "price_ranges")
        try:
            ranges.append(
                PriceRange(
                    start=decimal_text(entry.get("start"), "price_ranges.start"),
                    end=decimal_text(entry.get("end"), "price_ranges.end"),
                    step=decimal_text(entry.get("step"), "price_ranges.step"),
                )
            )
        except ValueError as exc:
            raise KalshiParseError(f"price_ranges: {str(exc).splitlines()[0]}") from None
    return tuple(ranges)


def parse_market(raw: Any) -> KalshiMarket:
    obj = mapping(raw, "market")
    ticker = identifier(obj, "ticker")
    try:
        bid, bid_size = _quote(obj, "yes_bid_dollars", "yes_bid_size_fp")
        ask, ask_size = _quote(obj, "yes_ask_dollars", "yes_ask_size_fp")
        # Kalshi encodes "no bid" as 0 and "no ask" as 1.
        if bid is not None and bid <= 0:
            bid, bid_size = None, ZERO
        if ask is not None and ask >= 1:
            ask, ask_size = None, ZERO
        if bid is not None and ask is not None and bid >= ask:
            raise KalshiParseError(f"crossed quote: bid {bid} >= ask {ask}")
        last = optional_price(obj, "last_price_dollars")
        result_text = text(obj, "result", required=False, limit=16)
        return KalshiMarket(
            ticker=ticker,
            event_ticker=identifier(obj, "event_ticker"),
            title=text(obj, "title", required=False),
            yes_sub_title=text(obj, "yes_sub_title", required=False),
            market_type=text(obj, "market_type", required=False, limit=32) or "binary",
            status=text(obj, "status", limit=32).lower(),
            yes_bid=bid,
            yes_ask=ask,
            yes_bid_size=bid_size,
            yes_ask_size=ask_size,
            last_price=last if last is not None and ZERO < last < ONE else None,
            volume=_volume(obj, "volume_fp"),
            volume_24h=_volume(obj, "volume_24h_fp"),
            open_interest=_volume(obj, "open_interest_fp"),
            close_time=timestamp(obj, "close_time"),
            result=Side(result_text) if result_text in ("yes", "no") else None,
            strike=parse_strike(obj),
            price_ranges=parse_price_ranges(obj),
            fee_waiver_until=optional_timestamp(obj, "fee_waiver_expiration_time"),
        )
    except KalshiParseError as exc:
        raise KalshiParseError(f"market {ticker}: {exc}") from None


@dataclass(frozen=True, slots=True)
class KalshiEvent:
    event_ticker: str
    series_ticker: str
    title: str
    sub_title: str
    mutually_exclusive: bool
    fee_type: str
    fee_multiplier: Decimal | None
    markets: tuple[KalshiMarket, ...]
    bad_markets: int = 0
    first_error: str = ""


def parse_event(raw: Any) -> KalshiEvent:
    """An event and its nested markets; a bad nested market is skipped and counted."""
    obj = mapping(raw, "event")
    ticker = identifier(obj, "event_ticker")
    try:
        markets: list[KalshiMarket] = []
        bad = 0
        first_error = ""
        for item in sequence(obj.get("markets"), "markets", allow_null=True):
            try:
                markets.append(parse_market(item))
            except KalshiParseError as exc:
                bad += 1
                first_error = first_error or str(exc)
        multiplier = optional_number(obj, "fee_multiplier_override")
        if multiplier is not None and not ZERO <= multiplier <= 10:
            raise KalshiParseError(f"fee_multiplier_override: {multiplier} out of range")
        return KalshiEvent(
            event_ticker=ticker,
            series_ticker=text(obj, "series_ticker", required=False, limit=MAX_TICKER),
            title=text(obj, "title", required=False),
            sub_title=text(obj, "sub_title", required=False),
            mutually_exclusive=flag(obj, "mutually_exclusive"),
            fee_type=text(obj, "fee_type_override", required=False, limit=64),
            fee_multiplier=multiplier,
            markets=tuple(markets),
            bad_markets=bad,
            first_error=first_error,
        )
    except KalshiParseError as exc:
        raise KalshiParseError(f"event {ticker}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a cursor-paginated list; `cursor` is "" on the last page."""

    items: tuple[T, ...]
    cursor: str
    errors: int = 0
    first_error: str = ""


def _cursor(value: str | None) -> str:
    if value is not None and len(value) > 4096:
        raise KalshiParseError("cursor: longer than 4096 characters")
    return value or ""


def parse_markets_page(raw: Any) -> Page[KalshiMarket]:
    return market_page(validate(MarketsPage, raw, "GET /markets"))


def market_page(body: MarketsPage) -> Page[KalshiMarket]:
    """A validated page's markets; a malformed one is skipped and counted."""
    items: list[KalshiMarket] = []
    errors, first_error = 0, ""
    for item in body.records():
        try:
            items.append(parse_market(item))
        except KalshiParseError as exc:
            errors += 1
            first_error = first_error or str(exc)
    return Page(tuple(items), _cursor(body.cursor), errors, first_error)


def parse_events_page(raw: Any) -> Page[KalshiEvent]:
    body = validate(EventsPage, raw, "GET /events")
    items: list[KalshiEvent] = []
    errors, first_error = 0, ""
    for item in body.records():
        try:
            event = parse_event(item)
        except KalshiParseError as exc:
            errors += 1
            first_error = first_error or str(exc)
            continue
        items.append(event)
        if event.bad_markets:
            errors += event.bad_markets
            first_error = first_error or event.first_error
    return Page(tuple(items), _cursor(body.cursor), errors, first_error)


# --- the order book -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Level:
    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class Orderbook:
    """Resting bids on both sides of one market, best first. A NO bid at q is a YES ask at
    1 − q, which is why Kalshi sends no asks."""

    ticker: str
    yes_bids: tuple[Level, ...]
    no_bids: tuple[Level, ...]


def _levels(raw: Any, field: str) -> tuple[Level, ...]:
    levels: list[Level] = []
    for entry in sequence(raw, field, allow_null=True):
        pair = sequence(entry, field)
        if len(pair) != 2:
            raise KalshiParseError(f"{field}: expected [price, count] pairs")
        level_price = decimal_text(pair[0], field)
        size = decimal_text(pair[1], field)
        if not ZERO < level_price < ONE or size < 0:
            raise KalshiParseError(f"{field}: bad level [{level_price}, {size}]")
        if size > 0:
            levels.append(Level(level_price, size))
    # Kalshi lists levels in ascending price; sort rather than rely on it.
    levels.sort(key=lambda level: level.price, reverse=True)
    return tuple(levels)


def parse_orderbook(ticker: str, raw: Any) -> Orderbook:
    body = mapping(raw, "orderbook response")
    book = mapping(body.get("orderbook_fp"), "orderbook_fp")
    yes = _levels(book.get("yes_dollars"), "yes_dollars")
    no = _levels(book.get("no_dollars"), "no_dollars")
    if yes and no and yes[0].price + no[0].price >= ONE:
        raise KalshiParseError(f"orderbook {ticker}: crossed book")
    return Orderbook(ticker=ticker, yes_bids=yes, no_bids=no)
