"""Adapters that turn each kind of scanner into an OpportunitySource for SENSE."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Protocol

from director.models import Opportunity
from director.scanners.feed import JsonlFeed


class FeedSource:
    """The JSON Lines feed; file reads run off the event loop."""

    name = "feed"

    def __init__(self, feed: JsonlFeed) -> None:
        self.feed = feed

    async def opportunities(self, now: datetime) -> list[Opportunity]:
        return await asyncio.to_thread(self.feed.read, now)

    def counters(self) -> dict[str, int]:
        stats = self.feed.stats
        return {
            "bad_lines": stats.bad_lines,
            "lines": stats.lines,
            "kept": stats.kept,
            "dropped": stats.dropped,
        }


class Scanner(Protocol):
    async def scan(self, now: datetime) -> list[Opportunity]: ...


class ScannerSource:
    """A scanner cheap enough to run every cycle (the paper scanner)."""

    def __init__(self, name: str, scanner: Scanner) -> None:
        self.name = name
        self.scanner = scanner
        self._last = 0

    async def opportunities(self, now: datetime) -> list[Opportunity]:
        found = await self.scanner.scan(now)
        self._last = len(found)
        return found

    def counters(self) -> dict[str, int]:
        return {"found": self._last}
