"""One simulated market's state and the simulator's time grid (5-minute steps from the epoch)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from director.exchanges.paper_events import Kind
from director.models import Market, MarketStatus, Side

STEP_SECONDS = 300
STEP = timedelta(seconds=STEP_SECONDS)
STEPS_PER_HOUR = 3600 // STEP_SECONDS
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Dollar values of whole cents, built once: quotes are ints internally.
CENTS: tuple[Decimal, ...] = tuple(Decimal(c).scaleb(-2) for c in range(101))


def step_of(ts: datetime) -> int:
    """The grid step at or before `ts` (an aware datetime)."""
    if ts.tzinfo is None:
        raise ValueError("naive datetime: the simulator only takes aware UTC times")
    return (ts - EPOCH) // STEP


def time_of(step: int) -> datetime:
    return EPOCH + step * STEP


@dataclass(slots=True)
class SimMarket:
    """One market's simulated state; every field up to `fair_at_close` is persisted. The
    account's transient price impact is not: a restart forgets it (it decays within the hour
    anyway)."""

    ticker: str
    seq: int
    event_ticker: str
    series: str
    title: str
    kind: Kind
    open_step: int
    close_step: int
    x: float  # fair log-odds (binary) or outcome weight (exclusive)
    vol: float  # per-step standard deviation of x
    jump_p: float  # per-step chance of a news jump
    bias: float  # the crowd's error, log-odds
    bias_sd: float  # its stationary standard deviation
    bias_phi: float  # its per-step persistence
    spread: int  # cents between bid and ask
    quote_noise: float  # cents, standard deviation
    yes_bid: int | None = None
    yes_ask: int | None = None
    last_price: int | None = None
    volume: int = 0
    status: MarketStatus = MarketStatus.OPEN
    result: Side | None = None
    fair_at_close: float | None = None
    impact: float = 0.0  # cents the account's own trades moved the YES mid; decays
    taken_ask: int = 0  # contracts taken at the current YES ask level since the last quote
    taken_bid: int = 0  # ... and at the current YES bid level
    fair_before: float | None = None  # the hidden probability one step ago

    @property
    def is_open(self) -> bool:
        return self.status is MarketStatus.OPEN

    def ask_cents(self, side: Side) -> int | None:
        if side is Side.YES:
            return self.yes_ask
        return None if self.yes_bid is None else 100 - self.yes_bid

    def bid_cents(self, side: Side) -> int | None:
        if side is Side.YES:
            return self.yes_bid
        return None if self.yes_ask is None else 100 - self.yes_ask

    def to_market(self, depth: int | None = None) -> Market:
        """The public view; with `depth`, the contracts left at the touch on either side."""
        return Market(
            ticker=self.ticker,
            title=self.title,
            event_ticker=self.event_ticker,
            status=self.status,
            yes_bid=None if self.yes_bid is None else CENTS[self.yes_bid],
            yes_ask=None if self.yes_ask is None else CENTS[self.yes_ask],
            last_price=None if self.last_price is None else CENTS[self.last_price],
            close_time=time_of(self.close_step),
            result=self.result,
            volume=self.volume,
            yes_bid_size=None if depth is None or self.yes_bid is None else depth - self.taken_bid,
            yes_ask_size=None if depth is None or self.yes_ask is None else depth - self.taken_ask,
        )
