"""A slow scanner (the full-universe Kalshi scan) run on its own interval.

SENSE must not wait minutes for a fresh scan: it gets the latest finished result at once, and a
refresh starts in the background whenever the last one is older than the interval.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Protocol

from director.clock import Clock
from director.describe import describe_error
from director.models import BasketOpportunity, Opportunity

log = logging.getLogger(__name__)


class ScanOutcome(Protocol):
    @property
    def opportunities(self) -> list[Opportunity]: ...

    @property
    def markets_scanned(self) -> int: ...

    @property
    def errors(self) -> int: ...


class UniverseScan(Protocol):
    async def scan(self) -> ScanOutcome: ...


class PeriodicScanSource:
    def __init__(self, name: str, scanner: UniverseScan, interval_s: int, clock: Clock) -> None:
        self.name = name
        self.scanner = scanner
        self.interval = timedelta(seconds=interval_s)
        self.clock = clock
        self._result: ScanOutcome | None = None
        self._finished_at: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self._failures = 0
        self._last_error: str = ""

    async def opportunities(self, now: datetime) -> list[Opportunity]:
        due = self._finished_at is None or now - self._finished_at >= self.interval
        if due and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._refresh(), name=f"scan:{self.name}")
        if self._result is None:
            # The very first scan: wait for it (under SENSE's per-source timeout); shield it
            # so a timeout here doesn't cancel the scan itself.
            assert self._task is not None
            await asyncio.shield(self._task)
        if self._result is None:
            raise RuntimeError(f"scan failed: {self._last_error}")
        return [o for o in self._result.opportunities if o.expires_at > now]

    async def _refresh(self) -> None:
        try:
            self._result = await self.scanner.scan()
            self._finished_at = self.clock()
        except Exception as exc:
            self._failures += 1
            self._last_error = describe_error(exc)
            log.warning("%s failed: %s", self.name, exc)

    def basket_opportunities(self, now: datetime) -> list[BasketOpportunity]:
        """The latest finished scan's baskets (a scanner without baskets has none)."""
        baskets: list[BasketOpportunity] = getattr(self._result, "baskets", [])
        return [b for b in baskets if b.expires_at > now]

    def counters(self) -> dict[str, int]:
        result = self._result
        return {
            "markets_scanned": result.markets_scanned if result else 0,
            "scan_errors": (result.errors if result else 0) + self._failures,
        }
