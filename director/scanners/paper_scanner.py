"""The built-in scanner of the paper venue: a noisy model of each market's fair value.

It peeks at the simulator's hidden fair value (privileged; no real scanner can) and blurs it
the way a real model would be wrong:

- the error is in log-odds, so a 3% market is misjudged by a point or two, not by ten;
- every market gets a fixed quality: the standard deviation of this scanner's error on it,
  `noise` × a factor from 0.25 to 2.5 fixed by (seed, ticker); confidence is read from it as
  1 − 0.75 × that deviation, so a poorly modelled market reports low confidence;
- the error is a persistent part (the model's bias on that market, fixed by seed and ticker)
  plus a fresh part per scan (fixed by seed, ticker and the scan's time), so a false positive
  tends to come back next cycle, as it would with a real model.

Edge is the estimate minus the ask of the side bought, net of the taker fee per contract
(0.07 × p × (1 − p), unrounded: the fee of one contract rounds up to a cent, that of a large
order approaches this). Only positive edges above `min_edge` are reported. Because the
estimate is noisy some reported edges are not real: the brain's thresholds decide which to act
on. Deterministic: the same seed, market state and `now` give the same opportunities.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal

from director.exchanges.paper import PaperExchange
from director.exchanges.paper_sim import EPOCH, standard_normal, unit_draws
from director.fees import fee_per_contract
from director.models import ONE, Market, Opportunity, Side

SOURCE = "paper-scanner"
# Defaults tuned on the default universe (40 markets, 15-minute cycles): about 8 opportunities
# a cycle, 1-2 of them past the default rules' thresholds (confidence > 0.7, edge > 0.10), and
# those have a positive true edge on average while the low-confidence ones do not.
NOISE = 0.2  # log-odds; × 0.25 ≈ 5 cents of error at 50% on a market of factor 1
MIN_EDGE = Decimal("0.05")
EDGE_STEP = Decimal("0.0001")
CONFIDENCE_STEP = Decimal("0.01")
_QUALITY_LOW, _QUALITY_HIGH = 0.25, 2.5  # error sd = noise × a factor in this range
_CONFIDENCE_PER_SD = 0.75
_PERSISTENT_SHARE = 0.6  # of the error's sd: the persistent part; the rest is per scan
_MIN_EXPIRY_HOURS, _MAX_EXPIRY_HOURS = 1.0, 4.0
_ESTIMATE_BOUNDS = (0.01, 0.99)
_SECOND = timedelta(seconds=1)


def _logit(p: float) -> float:
    p = min(1.0 - 1e-9, max(1e-9, p))
    return math.log(p / (1.0 - p))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


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
    ) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        if not isinstance(noise, int | float) or not 0.0 <= noise <= 1.0 or math.isnan(noise):
            raise ValueError(f"noise must be a number in 0..1 (log-odds), got {noise!r}")
        if not isinstance(min_edge, Decimal) or not min_edge.is_finite() or not 0 <= min_edge < 1:
            raise ValueError(f"min_edge must be a Decimal in [0, 1), got {min_edge!r}")
        self.exchange = exchange
        self.seed = seed
        self.noise = float(noise)
        self.min_edge = min_edge

    def error_sd(self, ticker: str) -> float:
        """This scanner's error on `ticker` (log-odds), fixed by seed and ticker."""
        return self._profile(ticker)[0]

    def confidence(self, ticker: str) -> Decimal:
        value = min(0.99, max(0.01, 1.0 - _CONFIDENCE_PER_SD * self.error_sd(ticker)))
        return Decimal(repr(value)).quantize(CONFIDENCE_STEP)

    def estimate(self, ticker: str, now: datetime) -> float | None:
        """The scanner's belief of the YES probability of `ticker` at `now`."""
        return self._estimate(ticker, self._scan_draws(ticker, now)[0])

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
        fresh, expiry_draw = self._scan_draws(market.ticker, now)
        estimate = self._estimate(market.ticker, fresh)
        if estimate is None:
            return None
        p_yes = Decimal(repr(estimate)).quantize(EDGE_STEP)
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
        hours = _MIN_EXPIRY_HOURS + (_MAX_EXPIRY_HOURS - _MIN_EXPIRY_HOURS) * expiry_draw
        expires = min(market.close_time, now + timedelta(seconds=round(hours * 3600)))
        return Opportunity(
            market=market.ticker,
            side=best[1],
            edge=best[0],
            confidence=self.confidence(market.ticker),
            expires_at=expires,
            source=SOURCE,
            title=market.title,
            observed_at=now,
        )

    def _profile(self, ticker: str) -> tuple[float, float]:
        """(error sd, the persistent part of the error in sds): fixed by seed and ticker."""
        quality, u1, u2 = unit_draws(3, "profile", self.seed, ticker)
        factor = _QUALITY_LOW + (_QUALITY_HIGH - _QUALITY_LOW) * quality
        return self.noise * factor, standard_normal(u1, u2)

    def _scan_draws(self, ticker: str, now: datetime) -> tuple[float, float]:
        """(the fresh part of the error in sds, a uniform for the expiry) of one scan."""
        # Whole seconds since the epoch, integer arithmetic: no float rounding in the key.
        second = (now - EPOCH) // _SECOND
        u1, u2, u3 = unit_draws(3, "scan", self.seed, ticker, second)
        return standard_normal(u1, u2), u3

    def _estimate(self, ticker: str, fresh: float) -> float | None:
        fair = self.exchange.fair_value(ticker)
        if fair is None:
            return None
        sd, persistent = self._profile(ticker)
        share = _PERSISTENT_SHARE
        error = sd * (share * persistent + math.sqrt(1.0 - share * share) * fresh)
        low, high = _ESTIMATE_BOUNDS
        return min(high, max(low, _sigmoid(_logit(fair) + error)))
