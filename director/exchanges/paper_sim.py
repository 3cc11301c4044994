"""The paper venue's market simulation: pure, deterministic, no I/O and no money.

Time is a grid of 5-minute steps counted from the Unix epoch (`step_of`, `time_of`). Each step
draws from its own `random.Random` seeded with (seed, step), so the path of every market is a
function of the seed and of the state at the previous step alone: advancing one step at a time,
in one jump, or across a restart from a saved state gives the same markets. The account never
moves a market (no price impact), so two runs with the same seed see the same quotes whatever
they trade.

The model, per step:
- each event has a hidden fair value: a binary event's fair YES probability is sigmoid(x) with x
  a random walk in log-odds (per-market volatility, plus rare jumps = news); a mutually exclusive
  event's outcomes have weights x_i doing the same walk, and outcome i's fair value is
  softmax(x)_i, so the outcomes' fair values sum to 1;
- the crowd's price is the fair log-odds plus a per-market bias that mean-reverts (an AR(1)
  process): persistent, real mispricing that a good scanner can find;
- the quote is that price in cents plus noise, minus/plus a per-market spread, clamped to
  1..99 cents with bid < ask; an exclusive event's quotes are then widened until buying every
  YES costs at least $1 and selling every YES brings at most $1 (no free money);
- at its close step an event settles: a binary market is YES with probability = fair at close;
  exactly one outcome of an exclusive event wins, drawn with the fair values as probabilities;
- new events open (closing 2 hours to 5 days out) until `n_markets` markets are open again.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from director.models import Market, MarketStatus, Side

STEP_SECONDS = 300
STEP = timedelta(seconds=STEP_SECONDS)
STEPS_PER_HOUR = 3600 // STEP_SECONDS
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Model constants (log-odds units unless said otherwise).
_X_LIMIT = 4.6  # a binary market's fair stays within ~1%..99%
_W_LIMIT = 6.0  # an exclusive outcome's weight
_BIAS_LIMIT = 2.0
_JUMP_SD = 0.9
_MIN_LIFE_HOURS = 2.0
_MAX_LIFE_HOURS = 120.0
_TRADE_CHANCE = 0.3  # per step: the simulated crowd trades and moves last_price/volume

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")

# Dollar values of whole cents, built once: quotes are ints internally.
CENTS: tuple[Decimal, ...] = tuple(Decimal(c).scaleb(-2) for c in range(101))


class Kind(StrEnum):
    BINARY = "binary"
    EXCLUSIVE = "exclusive"


def step_of(ts: datetime) -> int:
    """The grid step at or before `ts` (an aware datetime)."""
    if ts.tzinfo is None:
        raise ValueError("naive datetime: the simulator only takes aware UTC times")
    return (ts - EPOCH) // STEP


def time_of(step: int) -> datetime:
    return EPOCH + step * STEP


def derive_seed(*parts: int | str) -> int:
    """A 64-bit seed from any parts, stable across runs and platforms (unlike hash())."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def unit_draws(count: int, *parts: int | str) -> tuple[float, ...]:
    """`count` (at most 8) independent uniform numbers in [0, 1) fixed by their parts: for
    noise that must not depend on anything else drawn (no shared RNG stream)."""
    text = "\x1f".join(str(p) for p in parts).encode()
    digest = hashlib.blake2b(text, digest_size=8 * count).digest()
    return tuple(int.from_bytes(digest[i : i + 8], "big") / 2.0**64 for i in range(0, 8 * count, 8))


def standard_normal(u1: float, u2: float) -> float:
    """Box-Muller: a standard normal from two uniforms in [0, 1)."""
    return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _clamp(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value


@dataclass(slots=True)
class SimMarket:
    """One market's full simulated state; every field is persisted."""

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

    def to_market(self) -> Market:
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
        )


# --- what events look like ----------------------------------------------------------------


@dataclass(frozen=True)
class EventSpec:
    series: str
    kind: Kind
    outcomes: list[tuple[str, str]]  # (ticker suffix, market title)
    weights: list[float]  # initial x of each outcome


def _day(close: datetime) -> str:
    return f"{_MONTHS[close.month - 1].title()} {close.day}"


def _at(close: datetime) -> str:
    return f"{close:%H}:00 UTC on {_day(close)}"


def _btc(rng: random.Random, close: datetime) -> EventSpec:
    strike = 1000 * rng.randrange(80, 131)
    title = f"Will Bitcoin be above ${strike:,} at {_at(close)}?"
    return EventSpec("KXBTCD", Kind.BINARY, [(f"T{strike}", title)], [rng.gauss(0, 1.0)])


def _spx(rng: random.Random, close: datetime) -> EventSpec:
    strike = 25 * rng.randrange(220, 280)
    title = f"Will the S&P 500 be above {strike:,} at {_at(close)}?"
    return EventSpec("KXINXU", Kind.BINARY, [(f"T{strike}", title)], [rng.gauss(0, 1.0)])


def _rain(rng: random.Random, close: datetime) -> EventSpec:
    city, code = rng.choice((("New York City", "NYC"), ("Chicago", "CHI"), ("Seattle", "SEA")))
    title = f"Will it rain in {city} by {_at(close)}?"
    return EventSpec(f"KXRAIN{code}", Kind.BINARY, [("T0", title)], [rng.gauss(-0.5, 1.2)])


def _gas(rng: random.Random, close: datetime) -> EventSpec:
    cents = rng.randrange(290, 360, 5)
    title = f"Will the US average gas price be above ${cents / 100:.2f} on {_day(close)}?"
    return EventSpec("KXAAAGASD", Kind.BINARY, [(f"T{cents / 100:.2f}", title)], [rng.gauss(0, 1)])


def _tsa(rng: random.Random, close: datetime) -> EventSpec:
    tenths = rng.randrange(22, 30)
    title = f"Will TSA screen more than {tenths / 10:.1f}M travelers on {_day(close)}?"
    return EventSpec("KXTSAW", Kind.BINARY, [(f"T{tenths / 10:.1f}", title)], [rng.gauss(0, 1)])


def _eurusd(rng: random.Random, close: datetime) -> EventSpec:
    strike = rng.randrange(1050, 1200, 5) / 1000
    title = f"Will EUR/USD be above {strike:.3f} at {_at(close)}?"
    return EventSpec("KXEURUSDH", Kind.BINARY, [(f"T{strike:.3f}", title)], [rng.gauss(0, 1)])


def _peaked(rng: random.Random, count: int) -> list[float]:
    """Weights of ordered brackets: most of the mass around a random centre, some noise."""
    centre = rng.uniform(0.5, count - 1.5)
    width = rng.uniform(0.8, 2.0)
    return [-((i - centre) ** 2) / (2 * width * width) + rng.gauss(0, 0.3) for i in range(count)]


def _high_temp(rng: random.Random, close: datetime) -> EventSpec:
    city, code = rng.choice((("New York City", "NY"), ("Chicago", "CHI"), ("Austin", "AUS")))
    count = rng.randint(4, 6)
    low = rng.randrange(58, 92)
    day = _day(close)
    outcomes = [(f"T{low}", f"Will the high temp in {city} be below {low}° on {day}?")]
    for i in range(count - 2):
        a = low + 2 * i
        outcomes.append((f"B{a + 0.5}", f"Will the high temp in {city} be {a}-{a + 1}° on {day}?"))
    top = low + 2 * (count - 2) - 1
    outcomes.append((f"T{top}", f"Will the high temp in {city} be above {top}° on {day}?"))
    return EventSpec(f"KXHIGH{code}", Kind.EXCLUSIVE, outcomes, _peaked(rng, count))


def _fed(rng: random.Random, close: datetime) -> EventSpec:
    month = _MONTHS[close.month - 1].title()
    outcomes = [
        ("H0", f"Will the Fed hold rates at its {month} meeting?"),
        ("C25", f"Will the Fed cut rates by 25bps at its {month} meeting?"),
        ("C26", f"Will the Fed cut rates by more than 25bps at its {month} meeting?"),
        ("H25", f"Will the Fed hike rates by 25bps at its {month} meeting?"),
    ]
    weights = [rng.gauss(1.0, 0.8), rng.gauss(0.3, 0.8), rng.gauss(-1.5, 0.6), rng.gauss(-2, 0.5)]
    return EventSpec("KXFEDDECISION", Kind.EXCLUSIVE, outcomes, weights)


_NBA = (
    ("LAL", "Los Angeles L"),
    ("BOS", "Boston"),
    ("GSW", "Golden State"),
    ("NYK", "New York K"),
    ("DEN", "Denver"),
    ("MIA", "Miami"),
    ("OKC", "Oklahoma City"),
    ("PHI", "Philadelphia"),
)
_EPL = (
    ("ARS", "Arsenal"),
    ("LIV", "Liverpool"),
    ("MCI", "Manchester City"),
    ("CHE", "Chelsea"),
    ("TOT", "Tottenham"),
    ("NEW", "Newcastle"),
)


def _nba(rng: random.Random, close: datetime) -> EventSpec:
    (a, a_name), (b, b_name) = rng.sample(_NBA, 2)
    outcomes = [
        (a, f"Will {a_name} beat {b_name} on {_day(close)}?"),
        (b, f"Will {b_name} beat {a_name} on {_day(close)}?"),
    ]
    return EventSpec("KXNBAGAME", Kind.EXCLUSIVE, outcomes, [rng.gauss(0, 0.6), 0.0])


def _epl(rng: random.Random, close: datetime) -> EventSpec:
    (h, h_name), (a, a_name) = rng.sample(_EPL, 2)
    outcomes = [
        (h, f"Will {h_name} beat {a_name} on {_day(close)}?"),
        ("TIE", f"Will {h_name} vs {a_name} end in a draw on {_day(close)}?"),
        (a, f"Will {a_name} beat {h_name} on {_day(close)}?"),
    ]
    weights = [rng.gauss(0.3, 0.5), rng.gauss(-0.3, 0.3), rng.gauss(0, 0.5)]
    return EventSpec("KXEPLGAME", Kind.EXCLUSIVE, outcomes, weights)


def _cpi(rng: random.Random, close: datetime) -> EventSpec:
    count = rng.randint(4, 5)
    low = rng.randrange(22, 30) / 10
    month = _MONTHS[close.month - 1].title()
    outcomes = [(f"T{low:.1f}", f"Will CPI inflation for {month} be below {low:.1f}%?")]
    for i in range(count - 2):
        a = low + i / 10
        outcomes.append((f"B{a:.1f}", f"Will CPI inflation for {month} be {a:.1f}%?"))
    top = low + (count - 2) / 10 - 0.1
    outcomes.append((f"T{top:.1f}", f"Will CPI inflation for {month} be above {top:.1f}%?"))
    return EventSpec("KXCPIYOY", Kind.EXCLUSIVE, outcomes, _peaked(rng, count))


Template = Callable[[random.Random, datetime], EventSpec]
_BINARY: tuple[Template, ...] = (_btc, _spx, _rain, _gas, _tsa, _eurusd)
_EXCLUSIVE: tuple[Template, ...] = (_high_temp, _fed, _nba, _epl, _cpi)
_EXCLUSIVE_SHARE = 0.4


def event_ticker(series: str, close: datetime) -> str:
    """Kalshi style: series, then the close as yyMONddHH (e.g. KXBTCD-25JUL1417)."""
    return f"{series}-{close:%y}{_MONTHS[close.month - 1]}{close:%d%H}"


# --- the simulator ------------------------------------------------------------------------


@dataclass
class StepResult:
    step: int
    settled: list[SimMarket] = field(default_factory=list)
    opened: list[SimMarket] = field(default_factory=list)


class Simulator:
    """Every market the venue still keeps in memory, and the rules that move them."""

    def __init__(
        self,
        *,
        seed: int,
        n_markets: int,
        step: int,
        next_seq: int,
        markets: Iterable[SimMarket] = (),
    ) -> None:
        if n_markets < 1:
            raise ValueError("n_markets must be at least 1")
        self.seed = seed
        self.n_markets = n_markets
        self.step = step
        self.next_seq = next_seq
        self.markets: dict[str, SimMarket] = {}
        # Open events in creation order; each list is that event's markets in seq order.
        self.events: dict[str, list[SimMarket]] = {}
        # Markets changed since the last save, and which of them the save must insert.
        self.dirty: set[str] = set()
        self.unsaved: set[str] = set()
        for market in sorted(markets, key=lambda m: m.seq):
            self.markets[market.ticker] = market
            if market.is_open:
                self.events.setdefault(market.event_ticker, []).append(market)

    @classmethod
    def genesis(cls, *, seed: int, n_markets: int, step: int) -> Simulator:
        """A new universe of `n_markets` open markets at `step`."""
        sim = cls(seed=seed, n_markets=n_markets, step=step, next_seq=1)
        sim._refill(random.Random(derive_seed("genesis", seed, step)))
        return sim

    @property
    def now(self) -> datetime:
        return time_of(self.step)

    def open_markets(self) -> Iterator[SimMarket]:
        for markets in self.events.values():
            yield from markets

    @property
    def open_count(self) -> int:
        return sum(len(markets) for markets in self.events.values())

    def fair(self, ticker: str) -> float | None:
        """The hidden fair YES probability; 1.0 or 0.0 once settled; None if unknown."""
        market = self.markets.get(ticker)
        if market is None:
            return None
        if market.result is not None:
            return 1.0 if market.result is Side.YES else 0.0
        if market.kind is Kind.BINARY:
            return _sigmoid(market.x)
        siblings = self.events[market.event_ticker]
        return _softmax([m.x for m in siblings])[siblings.index(market)]

    def advance(self) -> StepResult:
        """One step forward: drift, settle what closes now, quote, refill the universe."""
        self.step += 1
        rng = random.Random(derive_seed("step", self.seed, self.step))
        result = StepResult(step=self.step)
        for market in self.open_markets():
            self._drift(market, rng)
        for event, markets in list(self.events.items()):
            if markets[0].close_step <= self.step:
                self._settle(markets, rng)
                del self.events[event]
                result.settled.extend(markets)
        for markets in self.events.values():
            self._quote(markets, rng)
        result.opened = self._refill(rng)
        self.dirty.update(m.ticker for m in result.settled)
        self.dirty.update(m.ticker for m in self.open_markets())
        return result

    def saved(self) -> None:
        self.dirty.clear()
        self.unsaved.clear()

    def evict(self, before_step: int) -> list[str]:
        """Forget settled markets that closed before `before_step` (they stay in the DB)."""
        gone = [
            t
            for t, m in self.markets.items()
            if not m.is_open and m.close_step < before_step and t not in self.dirty
        ]
        for ticker in gone:
            del self.markets[ticker]
        return gone

    # --- the dynamics --------------------------------------------------------------------

    def _drift(self, market: SimMarket, rng: random.Random) -> None:
        limit = _X_LIMIT if market.kind is Kind.BINARY else _W_LIMIT
        x = market.x + rng.gauss(0.0, market.vol)
        if rng.random() < market.jump_p:
            x += rng.gauss(0.0, _JUMP_SD)
        market.x = _clamp(x, -limit, limit)
        shock = market.bias_sd * math.sqrt(1.0 - market.bias_phi**2)
        bias = market.bias * market.bias_phi + rng.gauss(0.0, shock)
        market.bias = _clamp(bias, -_BIAS_LIMIT, _BIAS_LIMIT)

    def _settle(self, markets: list[SimMarket], rng: random.Random) -> None:
        if markets[0].kind is Kind.BINARY:
            fairs = [_sigmoid(markets[0].x)]
            winner = 0 if rng.random() < fairs[0] else -1
        else:
            fairs = _softmax([m.x for m in markets])
            draw = rng.random()
            winner = len(fairs) - 1  # guards against float sums a hair below 1
            for i, cumulative in enumerate(_cumulative(fairs)):
                if draw < cumulative:
                    winner = i
                    break
        for i, market in enumerate(markets):
            market.status = MarketStatus.SETTLED
            market.result = Side.YES if i == winner else Side.NO
            market.fair_at_close = fairs[i]
            market.yes_bid = market.yes_ask = None

    def _quote(self, markets: list[SimMarket], rng: random.Random) -> None:
        if markets[0].kind is Kind.BINARY:
            crowd = [_sigmoid(markets[0].x + markets[0].bias)]
        else:
            crowd = _softmax([m.x + m.bias for m in markets])
        for market, p in zip(markets, crowd, strict=True):
            mid = 100.0 * p + rng.gauss(0.0, market.quote_noise)
            bid = min(max(round(mid - market.spread / 2), 1), 98)
            market.yes_bid, market.yes_ask = bid, min(bid + market.spread, 99)
        if len(markets) > 1:
            _no_arbitrage(markets)
        for market in markets:
            if rng.random() < _TRADE_CHANCE:
                market.volume += rng.randint(1, 50)
                market.last_price = market.yes_bid if rng.random() < 0.5 else market.yes_ask

    def _refill(self, rng: random.Random) -> list[SimMarket]:
        opened: list[SimMarket] = []
        while (missing := self.n_markets - self.open_count) > 0:
            exclusive = missing >= 2 and rng.random() < _EXCLUSIVE_SHARE
            template = rng.choice(_EXCLUSIVE if exclusive else _BINARY)
            close_step = self._close_step(rng)
            spec = template(rng, time_of(close_step))
            if len(spec.outcomes) > missing:
                continue  # too many outcomes for the room left: draw again
            ticker = event_ticker(spec.series, time_of(close_step))
            while ticker in self.events:
                close_step += STEPS_PER_HOUR
                ticker = event_ticker(spec.series, time_of(close_step))
            markets = [
                self._new_market(rng, spec, ticker, suffix, title, weight, close_step)
                for (suffix, title), weight in zip(spec.outcomes, spec.weights, strict=True)
            ]
            self.events[ticker] = markets
            self._quote(markets, rng)
            for market in markets:
                self.markets[market.ticker] = market
                self.dirty.add(market.ticker)
                self.unsaved.add(market.ticker)
            opened.extend(markets)
        return opened

    def _close_step(self, rng: random.Random) -> int:
        hours = math.exp(rng.uniform(math.log(_MIN_LIFE_HOURS), math.log(_MAX_LIFE_HOURS)))
        step = self.step + math.ceil(hours * STEPS_PER_HOUR)
        return -(-step // STEPS_PER_HOUR) * STEPS_PER_HOUR  # on the hour, like Kalshi's

    def _new_market(
        self,
        rng: random.Random,
        spec: EventSpec,
        event: str,
        suffix: str,
        title: str,
        weight: float,
        close_step: int,
    ) -> SimMarket:
        vol_per_hour = rng.uniform(0.05, 0.25)
        jumps_per_day = rng.uniform(0.1, 1.0)
        bias_sd = rng.uniform(0.03, 0.3)
        half_life_hours = rng.uniform(1.0, 12.0)
        limit = _X_LIMIT if spec.kind is Kind.BINARY else _W_LIMIT
        seq = self.next_seq
        self.next_seq += 1
        return SimMarket(
            ticker=f"{event}-{suffix}",
            seq=seq,
            event_ticker=event,
            series=spec.series,
            title=title,
            kind=spec.kind,
            open_step=self.step,
            close_step=close_step,
            x=_clamp(weight, -limit, limit),
            vol=vol_per_hour / math.sqrt(STEPS_PER_HOUR),
            jump_p=jumps_per_day / (24 * STEPS_PER_HOUR),
            bias=_clamp(rng.gauss(0.0, bias_sd), -_BIAS_LIMIT, _BIAS_LIMIT),
            bias_sd=bias_sd,
            bias_phi=0.5 ** (1.0 / (half_life_hours * STEPS_PER_HOUR)),
            spread=rng.choice((1, 2, 2, 3, 3, 4)),
            quote_noise=rng.uniform(0.2, 1.5),
        )


def _no_arbitrage(markets: list[SimMarket]) -> None:
    """Quotes of mutually exclusive outcomes, as arbitrageurs leave them: buying every YES
    costs at least $1 and selling every YES brings at most $1 (so buying every NO costs at
    least what it pays). Widens quotes a cent at a time, dearest outcomes first."""
    by_price = sorted(markets, key=lambda m: -(m.yes_bid or 0))  # stable: ties keep seq order
    asks = [m.yes_ask or 0 for m in by_price]
    bids = [m.yes_bid or 0 for m in by_price]
    for i in itertools.cycle(range(len(asks))):  # ends: 99 × (2 or more outcomes) > 100
        if sum(asks) >= 100:
            break
        asks[i] = min(asks[i] + 1, 99)
    for i in itertools.cycle(range(len(bids))):
        if sum(bids) <= 100:
            break
        bids[i] = max(bids[i] - 1, 1)
    for market, bid, ask in zip(by_price, bids, asks, strict=True):
        market.yes_bid, market.yes_ask = bid, ask


def _softmax(xs: list[float]) -> list[float]:
    top = max(xs)
    exps = [math.exp(x - top) for x in xs]
    total = sum(exps)
    return [e / total for e in exps]


def _cumulative(values: list[float]) -> Iterator[float]:
    total = 0.0
    for value in values:
        total += value
        yield total
