"""The paper venue's market simulation: pure, deterministic, no I/O and no money.

Time is a grid of 5-minute steps counted from the Unix epoch (`step_of`, `time_of`). Each step
draws from its own `random.Random` seeded with (seed, step), so the path of every market is a
function of the seed and of the state at the previous step alone: advancing one step at a time,
in one jump, or across a restart from a saved state gives the same markets.

The model, per step (the `Scenario` scales it; see paper_scenarios.py):
- each event has a hidden probability, an exact martingale (paper_dynamics.py): a binary
  market's p = sigmoid(x) diffuses with per-market volatility and takes rare news that
  resolves part of its uncertainty; an exclusive event's outcomes share probability that moves
  between them the same way. At its close step an event settles with those probabilities (a
  binary market YES with probability p; exactly one outcome of an exclusive event), so a
  price equal to the hidden value is calibrated at every horizon;
- the crowd's price is the hidden log-odds shrunk 8% towards even (longshots overpriced, as
  on real prediction markets) plus a per-market bias that mean-reverts (an AR(1) process):
  persistent, real mispricing a good scanner can find;
- the quote is that price in cents plus noise and plus the account's own price impact, minus/
  plus a per-market spread, clamped to 1..99 cents with bid < ask; an exclusive event's quotes
  are then widened until buying every YES costs at least $1 and selling every YES brings at
  most $1 (no free money);
- depth is finite: `depth(market)` contracts at each price level. An order that takes
  liquidity walks the levels and moves the quote at once; the impact decays by half about
  every 25 minutes (paper_fills.py does the walking). The impact never feeds the random
  stream, so every account sees the same hidden probabilities and settlements whatever it
  trades; only its own quotes differ;
- new events open (closing 2 hours to 5 days out) until `n_markets` markets are open again.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from director.exchanges.paper_dynamics import (
    clamp,
    derive_seed,
    diffuse,
    log_weights,
    logit,
    mixed,
    news,
    news_exclusive,
    no_arbitrage,
    pick,
    shock,
    sigmoid,
    softmax,
    standard_normal,
    transfer,
    unit_draws,
)
from director.exchanges.paper_events import (
    _BINARY,
    _EXCLUSIVE,
    _EXCLUSIVE_SHARE,
    EventSpec,
    Kind,
    event_ticker,
)
from director.exchanges.paper_market import (
    CENTS,
    EPOCH,
    STEP,
    STEP_SECONDS,
    STEPS_PER_HOUR,
    SimMarket,
    step_of,
    time_of,
)
from director.exchanges.paper_scenarios import SCENARIOS, Scenario
from director.models import MarketStatus, Side

__all__ = [
    "CENTS",
    "EPOCH",
    "STEP",
    "STEPS_PER_HOUR",
    "STEP_SECONDS",
    "Kind",
    "SimMarket",
    "Simulator",
    "derive_seed",
    "standard_normal",
    "step_of",
    "time_of",
    "unit_draws",
]


# Model constants (log-odds units unless said otherwise).
_X_LIMIT = 9.0  # only guards the float: p moves multiplicatively and never reaches 0 or 1
_BIAS_LIMIT = 2.0
_LONGSHOT_SHRINK = 0.08  # the crowd's log-odds are the hidden ones × (1 − this)
_IMPACT_DECAY = 0.87  # per step: impact halves in ~25 minutes
_DEPTH_RANGE = (40.0, 400.0)  # contracts per price level, log-uniform per market
_DEPTH_CACHE = 50_000
# Series whose resting orders pay Kalshi's maker fee (sports and macro, as on Kalshi).
MAKER_FEE_SERIES = frozenset({"KXNBAGAME", "KXEPLGAME", "KXFEDDECISION", "KXCPIYOY"})
_MIN_LIFE_HOURS = 2.0
_MAX_LIFE_HOURS = 120.0
_TRADE_CHANCE = 0.3  # per step: the simulated crowd trades and moves last_price/volume


# --- the simulator ------------------------------------------------------------------------

_COMMON_NEWS_P = 1.0 / (24 * STEPS_PER_HOUR)  # about once a simulated day


@dataclass(frozen=True)
class _Common:
    z: float  # the common shock
    u: float  # the common news' direction draw
    news: bool


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
        scenario: Scenario = SCENARIOS["base"],
    ) -> None:
        if n_markets < 1:
            raise ValueError("n_markets must be at least 1")
        self.seed = seed
        self.scenario = scenario
        self._depths: dict[str, int] = {}
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
    def genesis(
        cls, *, seed: int, n_markets: int, step: int, scenario: Scenario = SCENARIOS["base"]
    ) -> Simulator:
        """A new universe of `n_markets` open markets at `step`."""
        sim = cls(seed=seed, n_markets=n_markets, step=step, next_seq=1, scenario=scenario)
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
            return sigmoid(market.x)
        siblings = self.events[market.event_ticker]
        return softmax([m.x for m in siblings])[siblings.index(market)]

    def depth(self, market: SimMarket) -> int:
        """Contracts offered at each price level of `market` (fixed by seed and ticker)."""
        cached = self._depths.get(market.ticker)
        if cached is not None:
            return cached
        (u,) = unit_draws(1, "depth", self.seed, market.ticker)
        low, high = _DEPTH_RANGE
        contracts = max(3, round(low * math.pow(high / low, u) * self.scenario.depth_scale))
        if len(self._depths) > _DEPTH_CACHE:
            self._depths.clear()
        self._depths[market.ticker] = contracts
        return contracts

    def maker_fee_applies(self, market: SimMarket) -> bool:
        return market.series in MAKER_FEE_SERIES

    def advance(self) -> StepResult:
        """One step forward: drift, settle what closes now, quote, refill the universe."""
        self.step += 1
        rng = random.Random(derive_seed("step", self.seed, self.step))
        result = StepResult(step=self.step)
        # The correlated scenario's common factor: a shock, and now and then news for all.
        common_news = self.scenario.common_share > 0 and rng.random() < _COMMON_NEWS_P
        common = _Common(rng.gauss(0.0, 1.0), rng.random(), common_news)
        for markets in self.events.values():
            for market in markets:
                market.fair_before = self.fair(market.ticker)
            if markets[0].kind is Kind.BINARY:
                self._drift_binary(markets[0], rng, common)
            else:
                self._drift_exclusive(markets, rng, common)
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

    def _drift_binary(self, market: SimMarket, rng: random.Random, common: _Common) -> None:
        sc = self.scenario
        before = sigmoid(market.x)
        z = mixed(shock(rng, sc), common.z, sc.common_share)
        p = diffuse(before, market.vol * sc.vol_scale, z)
        jump, u = rng.random() < market.jump_p * sc.jumps_scale, rng.random()
        if common.news:
            jump, u = True, common.u  # every market hears it; each moves with its own odds
        if jump:
            p = news(p, rng.uniform(*sc.jump_size), u)
        market.x = clamp(logit(p), -_X_LIMIT, _X_LIMIT)
        self._drift_bias(market, rng, market.x - logit(before))

    def _drift_exclusive(
        self, markets: list[SimMarket], rng: random.Random, common: _Common
    ) -> None:
        sc = self.scenario
        before = softmax([m.x for m in markets])
        ps = list(before)
        pairs = [(0, 1)] if len(ps) == 2 else [(i, (i + 1) % len(ps)) for i in range(len(ps))]
        for i, j in pairs:
            z = mixed(shock(rng, sc), common.z, sc.common_share)
            transfer(ps, i, j, markets[i].vol * sc.vol_scale, z)
        if rng.random() < markets[0].jump_p * sc.jumps_scale:
            ps = news_exclusive(ps, rng.uniform(*sc.jump_size), rng.random())
        weights = log_weights(ps)
        for market, weight, old in zip(markets, weights, before, strict=True):
            market.x = weight
            self._drift_bias(market, rng, weight - math.log(max(old, 1e-9)))

    def _drift_bias(self, market: SimMarket, rng: random.Random, moved: float) -> None:
        """The crowd's error mean-reverts; with a lagging crowd it first misses part of a move."""
        shock_sd = market.bias_sd * math.sqrt(1.0 - market.bias_phi**2)
        bias = market.bias * market.bias_phi + rng.gauss(0.0, shock_sd)
        bias -= self.scenario.crowd_lag * moved if abs(moved) > 3 * market.vol else 0.0
        market.bias = clamp(bias, -_BIAS_LIMIT, _BIAS_LIMIT)

    def _settle(self, markets: list[SimMarket], rng: random.Random) -> None:
        if markets[0].kind is Kind.BINARY:
            fairs = [sigmoid(markets[0].x)]
            winner = 0 if rng.random() < fairs[0] else -1
        else:
            fairs = softmax([m.x for m in markets])
            draw = rng.random()
            winner = pick(fairs, draw)
        for i, market in enumerate(markets):
            market.status = MarketStatus.SETTLED
            market.result = Side.YES if i == winner else Side.NO
            market.fair_at_close = fairs[i]
            market.yes_bid = market.yes_ask = None

    def _quote(self, markets: list[SimMarket], rng: random.Random) -> None:
        keep = 1.0 - _LONGSHOT_SHRINK
        if markets[0].kind is Kind.BINARY:
            crowd = [sigmoid(markets[0].x * keep + markets[0].bias)]
        else:
            crowd = softmax([m.x * keep + m.bias for m in markets])
        for market, p in zip(markets, crowd, strict=True):
            market.impact *= _IMPACT_DECAY
            market.taken_ask = market.taken_bid = 0
            mid = 100.0 * p + rng.gauss(0.0, market.quote_noise) + market.impact
            spread = market.spread + self.scenario.spread_add
            bid = min(max(round(mid - spread / 2), 1), 98)
            market.yes_bid, market.yes_ask = bid, min(bid + spread, 99)
        if len(markets) > 1:
            no_arbitrage(markets)
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
            x=clamp(weight, -_X_LIMIT, _X_LIMIT),
            vol=vol_per_hour / math.sqrt(STEPS_PER_HOUR),
            jump_p=jumps_per_day / (24 * STEPS_PER_HOUR),
            bias=clamp(rng.gauss(0.0, bias_sd), -_BIAS_LIMIT, _BIAS_LIMIT),
            bias_sd=bias_sd,
            bias_phi=0.5 ** (1.0 / (half_life_hours * STEPS_PER_HOUR)),
            spread=rng.choice((1, 2, 2, 3, 3, 4)),
            quote_noise=rng.uniform(0.2, 1.5),
        )
