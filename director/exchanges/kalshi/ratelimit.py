"""Client-side rate limiting and retry backoff for Kalshi's API.

`TokenBucket` is a GCRA (generic cell rate algorithm) token bucket: each caller reserves its
slot synchronously, so concurrent callers on one event loop are served first come, first
served, and a burst never exceeds the bucket's capacity. A request costing more than the
capacity waits for a full bucket and leaves it in debt for the rest, so the rate over time is
never more than `rate` whatever the costs. Kalshi meters reads and writes in separate buckets,
so a client holds one of each and every caller in the process shares them.

`Backoff` is exponential backoff with "equal jitter": half the window is a guaranteed pause,
the other half is random. Kalshi answers 429 without Retry-After, so the pause has to come
from us, and a guaranteed minimum keeps a stampede of clients from retrying at once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Monotonic = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
WAIT_EPSILON_S = 1e-9


class TokenBucket:
    """`rate` tokens per second, holding at most `burst` (default: one second's worth).

    The bucket starts full. `monotonic` and `sleep` are injectable so tests can run on a fake
    clock; in production they are `time.monotonic` and `asyncio.sleep`.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate!r}")
        capacity = max(1.0, rate) if burst is None else burst
        if not capacity >= 1:
            raise ValueError(f"burst must be at least 1 token, got {burst!r}")
        self.rate = float(rate)
        self.burst = float(capacity)
        self._monotonic = monotonic
        self._sleep = sleep
        self._interval = 1.0 / self.rate
        self._tolerance = (self.burst - 1.0) * self._interval
        # Theoretical arrival time of the next token; "now" means the bucket is full.
        self._tat = monotonic()
        self.acquired = 0
        self.waited_s = 0.0

    def reserve(self, cost: float = 1.0) -> float:
        """Claim `cost` tokens; returns how long the caller must wait before using them.

        A cost above the burst waits for a full bucket and is then debited in full, leaving
        the bucket in debt: the server charges the whole cost, so whoever comes next waits
        the debt out instead of meeting a 429."""
        if not cost > 0:
            raise ValueError(f"cost must be positive, got {cost!r}")
        now = self._monotonic()
        needed = min(cost, self.burst)
        # A request may start once the bucket holds `needed` tokens: the GCRA limit for one
        # token, shifted by the extra tokens it needs; it then takes all `cost` of them.
        allowed_at = max(now, self._tat - self._tolerance + (needed - 1.0) * self._interval)
        self._tat = max(self._tat, now) + cost * self._interval
        self.acquired += 1
        wait = allowed_at - now
        # Token costs make the arithmetic inexact (0.2 s - 0.18 s - 0.02 s); a wait of a
        # nanosecond is no wait.
        return wait if wait > WAIT_EPSILON_S else 0.0

    async def acquire(self, cost: float = 1.0) -> float:
        """Wait until `cost` tokens are available and take them; returns the time waited."""
        wait = self.reserve(cost)
        if wait > 0:
            self.waited_s += wait
            await self._sleep(wait)
        return wait

    def defer(self, seconds: float) -> None:
        """Hold everyone back for `seconds` and empty the bucket: the server said "too many",
        so our picture of its budget was wrong and a fresh burst would be refused too."""
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        earliest = self._monotonic() + seconds
        self._tat = max(self._tat, earliest + self._tolerance + self._interval)

    def drain(self) -> None:
        """Empty the bucket now: the next request waits one interval (steady state)."""
        self._tat = max(self._tat, self._monotonic() + self._tolerance + self._interval)

    @property
    def available(self) -> float:
        """Tokens in the bucket right now (for health output)."""
        now = self._monotonic()
        spare = (now + self._tolerance + self._interval - self._tat) / self._interval
        return max(0.0, min(self.burst, spare))


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with equal jitter: attempt n waits in [d/2, d], d = base·2ⁿ ≤ cap."""

    base_s: float = 0.25
    cap_s: float = 8.0

    def __post_init__(self) -> None:
        if not (self.base_s >= 0 and self.cap_s >= self.base_s):
            raise ValueError("backoff needs 0 <= base_s <= cap_s")

    def delay(self, attempt: int, rng: random.Random) -> float:
        window = min(self.cap_s, self.base_s * 2.0 ** min(max(0, attempt), 32))
        return window / 2 + rng.uniform(0, window / 2)
