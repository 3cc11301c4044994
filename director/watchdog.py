"""The heartbeat watchdog: every few seconds (not only at cycle time), tell the operator once
about each script that went silent, failed or came back, and persist the beats."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from director.clock import Clock
from director.heartbeats import Heartbeats
from director.reporting import Reporter

log = logging.getLogger(__name__)

DEFAULT_TICK_SECONDS = 2.0


class Watchdog:
    def __init__(
        self,
        heartbeats: Heartbeats,
        reporter: Reporter,
        clock: Clock,
        every_seconds: float = DEFAULT_TICK_SECONDS,
    ) -> None:
        self.heartbeats = heartbeats
        self.reporter = reporter
        self.clock = clock
        self.every_seconds = every_seconds

    async def tick(self) -> list[str]:
        """One look: the alerts sent (each change of each script once). Never raises."""
        alerts = self.heartbeats.changes(self.clock())
        for text in alerts:
            log.warning("%s", text)
            try:
                await self.reporter.alert(text)
            except Exception:
                log.exception("reporter failed to deliver a script alert")
        try:
            await self.heartbeats.flush()
        except Exception:
            log.exception("could not persist heartbeats; trying again next tick")
        return alerts

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:  # a bug here must never end the watch
                log.exception("watchdog tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every_seconds)
        await self.tick()  # the last beats reach the database before the store closes
