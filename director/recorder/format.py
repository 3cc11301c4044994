"""The recording format: a manifest, then one gzip JSON Lines file per UTC day, a pydantic
model for every line.

A recording directory holds `manifest.json` (exchange, environment, interval, schema version,
what was recorded) and `YYYY-MM-DD.jsonl.gz` files. Each poll is one gzip member appended to
the day's file, its lines in this order:

    {"kind": "poll", "seq": 7, "at": "...", "full": false}
    {"kind": "info", ...}            a market's ticker, event, title, close, fees, tick grid
    {"kind": "market", ...}          a market's quote: status, touch and sizes, volume, books
    {"kind": "gone", "tickers": []}  markets no longer recorded (left the filter), still open
    {"kind": "settlement", ...}      results seen this poll
    {"kind": "opportunity", ...}     every opportunity a source reported this poll
    {"kind": "end", "seq": 7, "lines": 412, ...}   the commit marker

An info or market line is written when it differs from the last one written for that market
in the same file (`full` polls write every market: the first poll of each file and the first
after a restart), so a quiet market costs nothing between polls, a moving one does not repeat
its title, and each file still reads on its own. A recorded market that stops trading gets a
quote with status `closed` and stays until its `settlement` line; one that is still open but
no longer recorded is `gone`.
Prices are Decimal dollars and sizes Decimal contracts, both as strings. A market's tick grid
(director/ticks.py) is in its info line as `"ticks": [[start, end, step], ...]`, left out for
whole cents; schema 1 recordings predate it and replay every market on whole cents. A poll
without its `end` line was interrupted: the writer cuts it off on restart, and the reader
ignores it at the tail of the last file (and refuses it anywhere else).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    field_validator,
)

from director.fees import STANDARD, FeeSchedule
from director.models import ONE, Market, MarketStatus, Opportunity, Side
from director.ticks import PriceRange, stated

# 2: info lines carry each market's tick grid. 1 (no grids) is still read, on whole cents.
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
FIRST_WITH_GRIDS = 2
MANIFEST = "manifest.json"
DAY_SUFFIX = ".jsonl.gz"
MAX_TICKER = 200
MAX_LEVELS = 100


def _plain(value: Decimal) -> str:
    """Fixed-point text without exponent or trailing zeros ("100", "0.41")."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _finite(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a finite number")
    return value


# A price strictly inside (0, 1) dollars; a size of contracts, >= 0.
Price = Annotated[Decimal, Field(gt=0, lt=1), PlainSerializer(_plain, return_type=str)]
Size = Annotated[Decimal, Field(ge=0, le=10**12), PlainSerializer(_plain, return_type=str)]
Ticker = Annotated[str, Field(min_length=1, max_length=MAX_TICKER)]
Level = tuple[Price, Size]
_RANGE_KEYS = ("start", "end", "step")


def _ranges_in(value: Any) -> Any:
    """Ranges as written, `[start, end, step]` triples, for the PriceRange model."""
    if not isinstance(value, list | tuple):
        return value
    return [
        dict(zip(_RANGE_KEYS, item, strict=True)) if isinstance(item, list | tuple) else item
        for item in value
    ]


def _ranges_out(ranges: tuple[PriceRange, ...]) -> list[list[str]]:
    return [[_plain(r.start), _plain(r.end), _plain(r.step)] for r in ranges]


# A market's tick grid: () is whole cents (an explicit cent grid is stored as ()).
Ticks = Annotated[
    tuple[PriceRange, ...],
    BeforeValidator(_ranges_in),
    Field(max_length=20),
    AfterValidator(stated),
    PlainSerializer(_ranges_out, return_type=list[list[str]]),
]


class _Line(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Manifest(_Line):
    """What a recording is; a restarted recorder must match it or refuse the directory."""

    schema_version: int
    exchange: Literal["paper", "kalshi"]
    environment: str = Field(min_length=1, max_length=40)
    interval_seconds: int = Field(ge=1, le=86_400)
    created_at: AwareDatetime
    universe: str = Field(max_length=2000)
    depth_levels: int = Field(ge=1, le=MAX_LEVELS)

    def same_recording(self, other: Manifest) -> str | None:
        """Why `other` can't continue this recording, or None when it can."""
        for name in ("schema_version", "exchange", "environment", "interval_seconds"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                return f"{name} is {mine!r} in the recording, {theirs!r} now"
        return None


class PollLine(_Line):
    kind: Literal["poll"] = "poll"
    seq: int = Field(ge=1)
    at: AwareDatetime
    full: bool


_INFO_FIELDS = ("ticker", "event", "title", "close", "fees", "ticks")
_QUOTE_FIELDS = (
    "ticker",
    "status",
    "bid",
    "ask",
    "bid_size",
    "ask_size",
    "last",
    "volume",
    "yes_bids",
    "no_bids",
)


class InfoLine(_Line):
    """What rarely changes about a market: written when it does, and in every `full` poll."""

    kind: Literal["info"] = "info"
    ticker: Ticker
    event: str = Field("", max_length=MAX_TICKER)
    title: str = Field("", max_length=1000)
    close: AwareDatetime | None = None
    # The market's fee schedule (series type and multiplier after the event's overrides, and
    # any waiver): director/fees.py prices every replayed fill with it.
    fees: FeeSchedule = STANDARD
    # The market's price grid (Kalshi's `price_ranges`); left out when it is whole cents.
    ticks: Ticks = ()


class QuoteLine(_Line):
    """A market's top of book (and depth where it was read) at one poll."""

    kind: Literal["market"] = "market"
    ticker: Ticker
    status: MarketStatus = MarketStatus.OPEN
    bid: Price | None = None  # best YES bid
    ask: Price | None = None  # best YES ask
    bid_size: Size = Decimal(0)
    ask_size: Size = Decimal(0)
    last: Price | None = None
    volume: int = Field(0, ge=0)
    # Full books where they were read (opportunities and held markets): resting bids on each
    # side, best first. Absent: the touch above, with its size, is all the depth known.
    yes_bids: tuple[Level, ...] | None = Field(None, max_length=MAX_LEVELS)
    no_bids: tuple[Level, ...] | None = Field(None, max_length=MAX_LEVELS)

    @field_validator("bid", "ask", "last", "bid_size", "ask_size")
    @classmethod
    def _finite_numbers(cls, value: Decimal | None) -> Decimal | None:
        return None if value is None else _finite(value)


@dataclass(frozen=True, slots=True)
class MarketLine:
    """One market at one poll, as the recorder and the replay see it: its info and its quote
    together (the file keeps them as two lines, so a quote change does not repeat the title).

    A plain dataclass, not a model: a replay builds one per market line read, from lines that
    were validated when read; the writer validates both halves before writing (`split`)."""

    ticker: str
    event: str = ""
    title: str = ""
    status: MarketStatus = MarketStatus.OPEN
    bid: Decimal | None = None  # best YES bid
    ask: Decimal | None = None  # best YES ask
    bid_size: Decimal = Decimal(0)
    ask_size: Decimal = Decimal(0)
    last: Decimal | None = None
    volume: int = 0
    close: datetime | None = None
    fees: FeeSchedule = STANDARD
    ticks: tuple[PriceRange, ...] = ()  # the tick grid; () is whole cents
    yes_bids: tuple[tuple[Decimal, Decimal], ...] | None = None
    no_bids: tuple[tuple[Decimal, Decimal], ...] | None = None

    def split(self) -> tuple[InfoLine, QuoteLine]:
        """Its two lines, validated (ValidationError says what is wrong)."""
        return (
            InfoLine.model_validate({f: getattr(self, f) for f in _INFO_FIELDS}),
            QuoteLine.model_validate({f: getattr(self, f) for f in _QUOTE_FIELDS}),
        )

    @classmethod
    def join(cls, info: InfoLine, quote: QuoteLine) -> MarketLine:
        return cls(
            ticker=quote.ticker,
            event=info.event,
            title=info.title,
            status=quote.status,
            bid=quote.bid,
            ask=quote.ask,
            bid_size=quote.bid_size,
            ask_size=quote.ask_size,
            last=quote.last,
            volume=quote.volume,
            close=info.close,
            fees=info.fees,
            ticks=info.ticks,
            yes_bids=quote.yes_bids,
            no_bids=quote.no_bids,
        )

    def replaced(self, **changes: Any) -> MarketLine:
        return replace(self, **changes)

    def to_market(self) -> Market:
        return Market(
            ticker=self.ticker,
            title=self.title,
            event_ticker=self.event,
            status=self.status,
            yes_bid=self.bid,
            yes_ask=self.ask,
            last_price=self.last,
            close_time=self.close,
            volume=self.volume,
            yes_bid_size=None if self.bid is None else int(self.bid_size),
            yes_ask_size=None if self.ask is None else int(self.ask_size),
            fees=self.fees,
            price_ranges=self.ticks,
        )

    def asks(self, side: Side) -> list[tuple[Decimal, Decimal]]:
        """Levels to buy `side` from, cheapest first: a bid on the other side at q is an ask
        at 1 − q."""
        return [(ONE - price, size) for price, size in self.bids(side.other)]

    def bids(self, side: Side) -> list[tuple[Decimal, Decimal]]:
        """Levels to sell `side` into, best (highest) first."""
        book = self.yes_bids if side is Side.YES else self.no_bids
        if book is not None:
            return sorted(book, key=lambda level: -level[0])
        if side is Side.YES:
            touch = None if self.bid is None else (self.bid, self.bid_size)
        else:
            touch = None if self.ask is None else (ONE - self.ask, self.ask_size)
        return [] if touch is None or touch[1] <= 0 else [touch]


class GoneLine(_Line):
    kind: Literal["gone"] = "gone"
    tickers: tuple[Ticker, ...]


class SettlementLine(_Line):
    kind: Literal["settlement"] = "settlement"
    ticker: Ticker
    result: Side
    seen_at: AwareDatetime


class OpportunityLine(_Line):
    kind: Literal["opportunity"] = "opportunity"
    market: Ticker
    side: Side
    edge: Decimal = Field(ge=-1, le=1)
    confidence: Decimal = Field(ge=0, le=1)
    expires_at: AwareDatetime
    source: str = Field(max_length=200)
    title: str = Field("", max_length=1000)
    observed_at: AwareDatetime | None = None

    @classmethod
    def of(cls, opportunity: Opportunity) -> OpportunityLine:
        return cls(
            market=opportunity.market,
            side=opportunity.side,
            edge=opportunity.edge,
            confidence=opportunity.confidence,
            expires_at=opportunity.expires_at,
            source=opportunity.source,
            title=opportunity.title,
            observed_at=opportunity.observed_at,
        )

    def to_opportunity(self) -> Opportunity:
        return Opportunity(
            market=self.market,
            side=self.side,
            edge=self.edge,
            confidence=self.confidence,
            expires_at=self.expires_at,
            source=self.source,
            title=self.title,
            observed_at=self.observed_at,
        )


class EndLine(_Line):
    """A poll's commit marker: `lines` counts the lines before it, the poll line included."""

    kind: Literal["end"] = "end"
    seq: int = Field(ge=1)
    lines: int = Field(ge=1)
    # Source name -> error, for the sources that failed this poll (kept, not replayed).
    errors: dict[str, str] = Field(default_factory=dict)


RecordLine = Annotated[
    PollLine | InfoLine | QuoteLine | GoneLine | SettlementLine | OpportunityLine | EndLine,
    Field(discriminator="kind"),
]
# Older pydantic/mypy pairs cannot see an Annotated union as a type for TypeAdapter.
LINE_ADAPTER: TypeAdapter[Any] = TypeAdapter(RecordLine)  # type: ignore[arg-type, unused-ignore]


def encode(line: _Line) -> bytes:
    """One line, newline included. Defaults are left out to keep lines short, but `kind` is
    put back first, where a reader looks for it."""
    body = line.model_dump_json(exclude_defaults=True)
    kind = str(type(line).model_fields["kind"].default)  # every line model has one
    rest = "}" if body == "{}" else "," + body[1:]
    return ('{"kind":"' + kind + '"' + rest + "\n").encode()


def day_file(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d") + DAY_SUFFIX
