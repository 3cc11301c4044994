"""The built-in scanner of the paper venue: a model that mostly follows the crowd.

A real model's estimate is anchored on the market's own price and adds a little of its own
information. This one peeks at the simulator's hidden probability (privileged; no real
scanner can) and uses it as sparingly, in log-odds:

    estimate = crowd + signal × (hidden − crowd) + bias(ticker) + fresh noise

- `crowd` is the quote's mid-price: the scanner starts where the market is;
- `signal` (0.4) is the share of the crowd's real mispricing it sees;
- `bias` is a persistent error per market (sd `bias_sd`, fixed by seed and ticker), so a false
  positive comes back scan after scan, as with a real model; `noise` is fresh per scan;
- confidence is only weakly tied to the true error: it mixes a little of −|bias| with a
  larger draw fixed per market, so a confident estimate is barely more often right.

Edge is the estimate minus the ask of the side bought, net of the taker fee per contract
(0.07 × p × (1 − p), unrounded: the fee of one contract rounds up to a cent, that of a large
order approaches this). Only positive edges above `min_edge` are reported. Most large claimed
edges are the scanner's own bias: thresholds have to earn their keep.

A scan is a period of `scan_seconds` (the cycle, by default) counted from the epoch: the first
look at a market in a period fixes its estimate and its expiry until the next period, so
/state and an approval's re-check see the scan the cycle saw, not a new random one. Edges are
re-read against the current ask (prices are facts; only the belief is frozen). Deterministic:
the same seed, market path and scan times give the same opportunities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from director.exchanges.paper import PaperExchange
from director.exchanges.paper_dynamics import logit, sigmoid
from director.exchanges.paper_sim import EPOCH, standard_normal, unit_draws
from director.fees import fee_per_contract
from director.models import ONE, Market, Opportunity, Side

SOURCE = "paper-scanner"
# Defaults for the default universe (40 markets, 15-minute cycles): about 9 opportunities a
# cycle, worth −0.7 ¢ a contract on average; about one in five cycles has one past the
# default rules' thresholds, worth about +1.7 ¢ (half of them win). Measured, not promised.
SIGNAL = 0.4
BIAS_SD = 0.3  # log-odds: ≈ 7 cents at 50%
NOISE = 0.12  # log-odds, fresh per scan
MIN_EDGE = Decimal("0.05")
SCAN_SECONDS = 900  # the default cycle
EDGE_STEP = Decimal("0.0001")
CONFIDENCE_STEP = Decimal("0.01")
_CONFIDENCE_TIE = 0.3  # correlation of the confidence score with −|bias|
_CONFIDENCE_CENTRE, _CONFIDENCE_SCALE = 0.62, 0.12
_MIN_EXPIRY_HOURS, _MAX_EXPIRY_HOURS = 1.0, 4.0
_ESTIMATE_BOUNDS = (0.01, 0.99)
_MEAN_ABS_NORMAL = math.sqrt(2.0 / math.pi)
_PROFILE_CACHE = 50_000


@dataclass(frozen=True)
class _Scan:
    index: int
    at: datetime
    estimate: float | None
    expiry_draw: float


def _unit_interval(value: object, name: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
        raise ValueError(f"{name} must be a number in 0..1, got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number in 0..1, got {value!r}")
    return float(value)


class PaperScanner:
    """`scan(now)` → opportunities on the paper venue's open markets."""

    name = SOURCE

    def __init__(
        self,
        exchange: PaperExchange,
        *,
        seed: int,
        noise: float = NOISE,
        min_edge: Decimal = MIN_EDGE,
        scan_seconds: int = SCAN_SECONDS,
        signal: float = SIGNAL,
        bias_sd: float = BIAS_SD,
    ) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        if not isinstance(min_edge, Decimal) or not min_edge.is_finite() or not 0 <= min_edge < 1:
            raise ValueError(f"min_edge must be a Decimal in [0, 1), got {min_edge!r}")
        if not isinstance(scan_seconds, int) or isinstance(scan_seconds, bool) or scan_seconds < 1:
            raise ValueError(f"scan_seconds must be a positive integer, got {scan_seconds!r}")
        self.exchange = exchange
        self.seed = seed
        self.noise = _unit_interval(noise, "noise (log-odds)")
        self.signal = _unit_interval(signal, "signal")
        self.bias_sd = _unit_interval(bias_sd, "bias_sd (log-odds)")
        self.min_edge = min_edge
        self.scan_period = timedelta(seconds=scan_seconds)
        # ticker → the scan that fixed its belief (period index, time, estimate, expiry draw).
        self._scans: dict[str, _Scan] = {}
        self._profiles: dict[str, tuple[float, Decimal]] = {}

    def bias(self, ticker: str) -> float:
        """This scanner's persistent error on `ticker` (log-odds), fixed by seed and ticker."""
        return self._profile(ticker)[0]

    def confidence(self, ticker: str) -> Decimal:
        return self._profile(ticker)[1]

    def _profile(self, ticker: str) -> tuple[float, Decimal]:
        """(bias, confidence) of `ticker`: pure functions of seed and ticker, kept."""
        held = self._profiles.get(ticker)
        if held is None:
            if len(self._profiles) > _PROFILE_CACHE:
                self._profiles.clear()
            held = self._profiles[ticker] = self._draw_profile(ticker)
        return held

    def _draw_profile(self, ticker: str) -> tuple[float, Decimal]:
        u1, u2 = unit_draws(2, "bias", self.seed, ticker)
        bias = self.bias_sd * standard_normal(u1, u2)
        u1, u2 = unit_draws(2, "confidence", self.seed, ticker)
        z = standard_normal(u1, u2)
        # −|bias| standardized: mean 0, sd ≈ 0.6 of a unit; mixed weakly with a fixed draw.
        sharp = 0.0 if self.bias_sd == 0 else -(abs(bias) / self.bias_sd)
        sharp = (sharp + _MEAN_ABS_NORMAL) / 0.6
        score = _CONFIDENCE_TIE * sharp + math.sqrt(1.0 - _CONFIDENCE_TIE**2) * z
        value = min(0.98, max(0.05, _CONFIDENCE_CENTRE + _CONFIDENCE_SCALE * score))
        return bias, Decimal(repr(value)).quantize(CONFIDENCE_STEP)

    def estimate(self, ticker: str, now: datetime) -> float | None:
        """The scanner's belief of the YES probability of `ticker` in the scan `now` falls in."""
        return self._scan(ticker, now).estimate

    async def scan(self, now: datetime) -> list[Opportunity]:
        if now.tzinfo is None:
            raise ValueError("scan needs an aware datetime")
        await self.exchange.advance_to(now)
        found = []
        for _, market in sorted(self.exchange.markets_snapshot().items()):
            opportunity = self._assess(market, now)
            if opportunity is not None:
                found.append(opportunity)
        return found

    def _assess(self, market: Market, now: datetime) -> Opportunity | None:
        if not market.is_open or market.close_time is None or market.close_time <= now:
            return None
        scan = self._scan(market.ticker, now, market)
        if scan.estimate is None:
            return None
        p_yes = Decimal(repr(scan.estimate)).quantize(EDGE_STEP)
        best: tuple[Decimal, Side] | None = None
        for side, belief in ((Side.YES, p_yes), (Side.NO, ONE - p_yes)):
            ask = market.ask(side)
            if ask is None:
                continue
            edge = (belief - ask - fee_per_contract(ask)).quantize(EDGE_STEP)
            if best is None or edge > best[0]:
                best = (edge, side)
        if best is None or best[0] <= self.min_edge:  # min_edge >= 0: only positive edges
            return None
        hours = _MIN_EXPIRY_HOURS + (_MAX_EXPIRY_HOURS - _MIN_EXPIRY_HOURS) * scan.expiry_draw
        expires = min(market.close_time, scan.at + timedelta(seconds=round(hours * 3600)))
        if expires <= now:
            return None
        return Opportunity(
            market=market.ticker,
            side=best[1],
            edge=best[0],
            confidence=self.confidence(market.ticker),
            expires_at=expires,
            source=SOURCE,
            title=market.title,
            observed_at=scan.at,
        )

    def _scan(self, ticker: str, now: datetime, market: Market | None = None) -> _Scan:
        """The scan of `ticker` for the period `now` falls in: made on the first look."""
        # Integer period index since the epoch: no float rounding in the draw's key.
        index = (now - EPOCH) // self.scan_period
        held = self._scans.get(ticker)
        if held is not None and held.index == index:
            return held
        u1, u2, u3 = unit_draws(3, "scan", self.seed, ticker, index)
        if market is None:
            market = self.exchange.markets_snapshot().get(ticker)
        estimate = self._estimate(ticker, market, standard_normal(u1, u2))
        scan = _Scan(index, now, estimate, u3)
        if len(self._scans) > _PROFILE_CACHE:  # markets come and go: forget the old ones
            self._scans.clear()
        self._scans[ticker] = scan
        return scan

    def _estimate(self, ticker: str, market: Market | None, fresh: float) -> float | None:
        hidden = self.exchange.fair_value(ticker)
        if hidden is None or market is None or market.yes_bid is None or market.yes_ask is None:
            return None
        crowd = logit(float(market.yes_bid + market.yes_ask) / 2.0)
        belief = crowd + self.signal * (logit(hidden) - crowd)
        belief += self.bias(ticker) + self.noise * fresh
        low, high = _ESTIMATE_BOUNDS
        return min(high, max(low, sigmoid(belief)))
