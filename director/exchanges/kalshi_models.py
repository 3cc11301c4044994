"""Parsing Kalshi Trade API v2 responses into typed values.

Field names follow Kalshi's official SDK models (kalshi-python-async 3.34): prices are
`*_dollars` fixed-point strings and counts are `*_fp` fixed-point strings, both parsed with
Decimal; the deprecated integer-cent fields are never read. Every value is checked (type,
range, presence) and a bad one raises `KalshiParseError` naming the field, so one malformed
record is skipped and counted instead of poisoning a whole response.

Kalshi supports fractional contracts (0.01 granularity) but the director trades whole ones, so
counts are rounded toward the safe side: holdings down (never sell what is not held),
order sizes up (never under-count cash held back by a resting order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

from director.exchanges.base import ExchangeError
from director.models import (
    ONE,
    Fill,
    Market,
    MarketStatus,
    Order,
    OrderAction,
    OrderStatus,
    Side,
)

T = TypeVar("T")
ZERO = Decimal(0)
HUNDRED = Decimal(100)
MAX_NUMBER_TEXT = 40
MAX_TICKER = 200
MAX_TEXT = 2000

# Kalshi's lifecycle states; only "active" (older responses: "open") accepts orders.
OPEN_STATES = frozenset({"active", "open"})
SETTLED_STATES = frozenset({"finalized", "settled"})

ORDER_STATUS = {
    "resting": OrderStatus.RESTING,
    "canceled": OrderStatus.CANCELED,
    "executed": OrderStatus.FILLED,
}

Intent = tuple[Side, OrderAction]


class KalshiParseError(ExchangeError):
    """A response did not have the shape Kalshi documents."""


# --- primitive fields ---------------------------------------------------------------------


def mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise KalshiParseError(f"{what}: expected an object, got {type(value).__name__}")
    return value


def sequence(value: Any, what: str, *, allow_null: bool = False) -> Sequence[Any]:
    if value is None and allow_null:
        return ()
    if not isinstance(value, list):
        raise KalshiParseError(f"{what}: expected a list, got {type(value).__name__}")
    return value


def text(
    obj: Mapping[str, Any], field: str, *, required: bool = True, limit: int = MAX_TEXT
) -> str:
    value = obj.get(field)
    if value is None:
        if required:
            raise KalshiParseError(f"{field}: missing")
        return ""
    if not isinstance(value, str):
        raise KalshiParseError(f"{field}: expected a string, got {type(value).__name__}")
    if len(value) > limit:
        raise KalshiParseError(f"{field}: longer than {limit} characters")
    return value


def identifier(obj: Mapping[str, Any], field: str) -> str:
    """A ticker or id: non-empty, printable, no whitespace."""
    value = text(obj, field, limit=MAX_TICKER)
    if not value or any(ch.isspace() or not ch.isprintable() for ch in value):
        raise KalshiParseError(f"{field}: not a valid identifier {value[:40]!r}")
    return value


def decimal_text(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise KalshiParseError(f"{field}: expected a fixed-point string, got {value!r:.40}")
    raw = str(value).strip()
    if not raw or len(raw) > MAX_NUMBER_TEXT:
        raise KalshiParseError(f"{field}: not a number {raw[:40]!r}")
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise KalshiParseError(f"{field}: not a number {raw[:40]!r}") from None
    if not number.is_finite():
        raise KalshiParseError(f"{field}: not a finite number {raw!r}")
    return number


def dollars(obj: Mapping[str, Any], field: str) -> Decimal:
    """A `*_dollars` amount (may be negative: P&L)."""
    if obj.get(field) is None:
        raise KalshiParseError(f"{field}: missing")
    return decimal_text(obj[field], field)


def optional_dollars(obj: Mapping[str, Any], field: str) -> Decimal | None:
    return None if obj.get(field) is None else decimal_text(obj[field], field)


def optional_price(obj: Mapping[str, Any], field: str) -> Decimal | None:
    """A price per contract in dollars, within [0, 1]; None when absent."""
    if obj.get(field) is None:
        return None
    value = decimal_text(obj[field], field)
    if not ZERO <= value <= ONE:
        raise KalshiParseError(f"{field}: price {value} outside 0..1")
    return value


def price(obj: Mapping[str, Any], field: str) -> Decimal:
    value = optional_price(obj, field)
    if value is None:
        raise KalshiParseError(f"{field}: missing")
    return value


def count(obj: Mapping[str, Any], field: str, *, signed: bool = False) -> Decimal:
    """A `*_fp` contract count."""
    if obj.get(field) is None:
        raise KalshiParseError(f"{field}: missing")
    value = decimal_text(obj[field], field)
    if value < 0 and not signed:
        raise KalshiParseError(f"{field}: negative count {value}")
    return value


def whole(value: Decimal, *, up: bool) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR))


def optional_timestamp(obj: Mapping[str, Any], field: str) -> datetime | None:
    value = obj.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise KalshiParseError(f"{field}: expected an RFC 3339 timestamp")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise KalshiParseError(f"{field}: not an RFC 3339 timestamp {value[:40]!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def timestamp(obj: Mapping[str, Any], field: str) -> datetime:
    value = optional_timestamp(obj, field)
    if value is None:
        raise KalshiParseError(f"{field}: missing")
    return value


def epoch_ms(obj: Mapping[str, Any], field: str) -> datetime | None:
    value = obj.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 10**14:
        raise KalshiParseError(f"{field}: not an epoch-milliseconds integer")
    return datetime.fromtimestamp(value / 1000, UTC)


def flag(obj: Mapping[str, Any], field: str, *, default: bool = False) -> bool:
    value = obj.get(field)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise KalshiParseError(f"{field}: expected true or false")
    return value


def optional_number(obj: Mapping[str, Any], field: str) -> Decimal | None:
    """A JSON number (Kalshi sends a few multipliers as floats): converted via its text."""
    value = obj.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise KalshiParseError(f"{field}: expected a number")
    return decimal_text(str(value), field)


def error_info(body: Any) -> tuple[str, str]:
    """(code, message) from an error body: the SDK's flat ErrorResponse or {"error": {...}}."""
    if not isinstance(body, Mapping):
        return "", ""
    inner = body.get("error")
    source = inner if isinstance(inner, Mapping) else body
    code = source.get("code")
    message = source.get("message") or source.get("details")
    return (
        code if isinstance(code, str) else "",
        message if isinstance(message, str) else "",
    )


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

    def to_market(self) -> Market:
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


def parse_cursor(body: Mapping[str, Any]) -> str:
    cursor = body.get("cursor")
    if cursor is None:
        return ""
    if not isinstance(cursor, str) or len(cursor) > 4096:
        raise KalshiParseError("cursor: expected a string")
    return cursor


def parse_markets_page(raw: Any) -> Page[KalshiMarket]:
    body = mapping(raw, "markets response")
    items: list[KalshiMarket] = []
    errors, first_error = 0, ""
    for item in sequence(body.get("markets"), "markets", allow_null=True):
        try:
            items.append(parse_market(item))
        except KalshiParseError as exc:
            errors += 1
            first_error = first_error or str(exc)
    return Page(tuple(items), parse_cursor(body), errors, first_error)


def parse_events_page(raw: Any) -> Page[KalshiEvent]:
    body = mapping(raw, "events response")
    items: list[KalshiEvent] = []
    errors, first_error = 0, ""
    for item in sequence(body.get("events"), "events", allow_null=True):
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
    return Page(tuple(items), parse_cursor(body), errors, first_error)


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

    def best_bid(self, side: Side) -> Level | None:
        levels = self.yes_bids if side is Side.YES else self.no_bids
        return levels[0] if levels else None

    def best_ask(self, side: Side) -> Level | None:
        """Cheapest price to buy `side` now, and how many contracts it offers."""
        opposite = self.best_bid(side.other)
        return None if opposite is None else Level(ONE - opposite.price, opposite.size)


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


# --- portfolio ----------------------------------------------------------------------------


def parse_balance(raw: Any) -> Decimal:
    body = mapping(raw, "balance response")
    value = dollars(body, "balance_dollars")
    if value < 0:
        raise KalshiParseError(f"balance_dollars: negative balance {value}")
    return value


@dataclass(frozen=True, slots=True)
class KalshiPosition:
    """Net holding in one market: positive is YES contracts, negative NO."""

    ticker: str
    position: Decimal
    exposure: Decimal
    realized_pnl: Decimal
    fees_paid: Decimal

    @property
    def side(self) -> Side:
        return Side.YES if self.position > 0 else Side.NO

    @property
    def quantity(self) -> int:
        return whole(abs(self.position), up=False)


def parse_position(raw: Any) -> KalshiPosition:
    obj = mapping(raw, "market position")
    ticker = identifier(obj, "ticker")
    try:
        exposure = dollars(obj, "market_exposure_dollars")
        if exposure < 0:
            raise KalshiParseError(f"market_exposure_dollars: negative {exposure}")
        return KalshiPosition(
            ticker=ticker,
            position=count(obj, "position_fp", signed=True),
            exposure=exposure,
            realized_pnl=optional_dollars(obj, "realized_pnl_dollars") or ZERO,
            fees_paid=optional_dollars(obj, "fees_paid_dollars") or ZERO,
        )
    except KalshiParseError as exc:
        raise KalshiParseError(f"position {ticker}: {exc}") from None


def default_intent(obj: Mapping[str, Any]) -> Intent:
    """What an order or fill means when we did not place it in this process: a bid on the
    YES book buys YES, an ask buys NO (selling YES is the same trade on Kalshi)."""
    book = obj.get("book_side")
    if book is None:
        outcome = obj.get("outcome_side")
        if outcome not in ("yes", "no"):
            raise KalshiParseError("book_side: missing")
        book = "bid" if outcome == "yes" else "ask"
    if book == "bid":
        return Side.YES, OrderAction.BUY
    if book == "ask":
        return Side.NO, OrderAction.BUY
    raise KalshiParseError(f"book_side: unknown value {str(book)[:20]!r}")


def side_price(obj: Mapping[str, Any], side: Side) -> Decimal:
    return price(obj, "yes_price_dollars" if side is Side.YES else "no_price_dollars")


def parse_order(raw: Any, intent: Intent | None = None) -> Order:
    obj = mapping(raw, "order")
    order_id = identifier(obj, "order_id")
    try:
        side, action = intent or default_intent(obj)
        status_text = text(obj, "status", limit=32)
        status = ORDER_STATUS.get(status_text)
        if status is None:
            raise KalshiParseError(f"status: unknown value {status_text[:20]!r}")
        initial = count(obj, "initial_count_fp")
        remaining = count(obj, "remaining_count_fp")
        filled = count(obj, "fill_count_fp") if obj.get("fill_count_fp") is not None else None
        if remaining > initial:
            raise KalshiParseError("remaining_count_fp exceeds initial_count_fp")
        quantity = whole(initial, up=True)
        if status is OrderStatus.RESTING:
            left = whole(remaining, up=True)
        else:
            # Nothing rests once an order is done; keep `quantity − remaining` equal to what
            # filled so a canceled, partly filled order reports its fills correctly.
            done = filled if filled is not None else initial - remaining
            left = max(0, quantity - whole(done, up=False))
        created = optional_timestamp(obj, "created_time")
        client_id = obj.get("client_order_id")
        return Order(
            order_id=order_id,
            client_order_id=client_id if isinstance(client_id, str) and client_id else None,
            market=identifier(obj, "ticker"),
            side=side,
            action=action,
            price=side_price(obj, side),
            quantity=quantity,
            remaining=left,
            status=status,
            created_at=created or datetime.fromtimestamp(0, UTC),
        )
    except KalshiParseError as exc:
        raise KalshiParseError(f"order {order_id}: {exc}") from None


def parse_fill(raw: Any, intent: Intent | None = None) -> Fill:
    obj = mapping(raw, "fill")
    fill_id = identifier(obj, "fill_id")
    try:
        side, action = intent or default_intent(obj)
        created = optional_timestamp(obj, "created_time")
        if created is None and isinstance(obj.get("ts"), int):
            created = datetime.fromtimestamp(obj["ts"], UTC)
        if created is None:
            raise KalshiParseError("created_time: missing")
        fee = optional_dollars(obj, "fee_cost") or ZERO
        return Fill(
            fill_id=fill_id,
            order_id=identifier(obj, "order_id"),
            market=identifier(obj, "ticker"),
            side=side,
            action=action,
            price=side_price(obj, side),
            quantity=whole(count(obj, "count_fp"), up=False),
            fee=fee,
            is_taker=flag(obj, "is_taker", default=True),
            created_at=created,
        )
    except KalshiParseError as exc:
        raise KalshiParseError(f"fill {fill_id}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Settlement:
    ticker: str
    event_ticker: str
    result: str  # "yes", "no" or "scalar"
    yes_count: Decimal
    no_count: Decimal
    yes_total_cost: Decimal
    no_total_cost: Decimal
    revenue: Decimal  # dollars paid out
    fee_cost: Decimal
    settled_at: datetime

    @property
    def pnl(self) -> Decimal:
        return self.revenue - self.yes_total_cost - self.no_total_cost - self.fee_cost


def parse_settlement(raw: Any) -> Settlement:
    obj = mapping(raw, "settlement")
    ticker = identifier(obj, "ticker")
    try:
        result = text(obj, "market_result", limit=16)
        if result not in ("yes", "no", "scalar"):
            raise KalshiParseError(f"market_result: unknown value {result!r}")
        revenue = obj.get("revenue")
        # The only integer-cent field read anywhere: Settlement has no dollar twin for it.
        if isinstance(revenue, bool) or not isinstance(revenue, int) or revenue < 0:
            raise KalshiParseError("revenue: expected non-negative integer cents")
        settled = timestamp(obj, "settled_time")
        return Settlement(
            ticker=ticker,
            event_ticker=text(obj, "event_ticker", required=False, limit=MAX_TICKER),
            result=result,
            yes_count=count(obj, "yes_count_fp"),
            no_count=count(obj, "no_count_fp"),
            yes_total_cost=dollars(obj, "yes_total_cost_dollars"),
            no_total_cost=dollars(obj, "no_total_cost_dollars"),
            revenue=Decimal(revenue) / HUNDRED,
            fee_cost=optional_dollars(obj, "fee_cost") or ZERO,
            settled_at=settled,
        )
    except KalshiParseError as exc:
        raise KalshiParseError(f"settlement {ticker}: {exc}") from None


# --- order endpoints (V2) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreatedOrder:
    order_id: str
    client_order_id: str
    fill_count: Decimal
    remaining_count: Decimal
    average_fill_price: Decimal | None
    processed_at: datetime | None


def parse_created(raw: Any) -> CreatedOrder:
    body = mapping(raw, "create order response")
    client_id = body.get("client_order_id")
    return CreatedOrder(
        order_id=identifier(body, "order_id"),
        client_order_id=client_id if isinstance(client_id, str) else "",
        fill_count=count(body, "fill_count"),
        remaining_count=count(body, "remaining_count"),
        average_fill_price=optional_price(body, "average_fill_price"),
        processed_at=epoch_ms(body, "ts_ms"),
    )


@dataclass(frozen=True, slots=True)
class CanceledOrder:
    order_id: str
    reduced_by: Decimal


def parse_canceled(raw: Any) -> CanceledOrder:
    body = mapping(raw, "cancel order response")
    return CanceledOrder(
        order_id=identifier(body, "order_id"), reduced_by=count(body, "reduced_by")
    )
