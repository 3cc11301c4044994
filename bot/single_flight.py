"""At most one background task of a kind (a cycle, a review), so a long one never holds up a
command: a start while one runs is refused, not queued; on shutdown the running task gets a
grace period to finish before it is cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from director.clock import Clock

log = logging.getLogger(__name__)

Work = Callable[[], Coroutine[Any, Any, None]]


class SingleFlight:
    def __init__(self, what: str, clock: Clock) -> None:
        self._what = what  # names the task in the log: "cycle", "review"
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._started_at: datetime | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def started_at(self) -> datetime | None:
        """When the latest task started (None before the first)."""
        return self._started_at

    def start(self, name: str, work: Work) -> bool:
        """Run `work()` as a background task named `name`; False when one is already running
        or the flight is stopping. No await between the check and the start, so two commands
        handled concurrently cannot both start one."""
        if self._stopping or self.running:
            return False
        self._started_at = self._clock()
        self._task = asyncio.create_task(work(), name=name)
        return True

    async def wait(self) -> None:
        """Wait for the running task, if any (tests and shutdown)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self, grace_seconds: float) -> None:
        """Refuse new starts; give a running task `grace_seconds` to finish, then cancel it."""
        self._stopping = True
        task = self._task
        if task is None or task.done():
            return
        log.info("waiting up to %.1f s for the running %s to finish", grace_seconds, self._what)
        try:
            await asyncio.wait_for(asyncio.shield(task), grace_seconds)
        except TimeoutError:
            log.warning("%s still running after %.1f s; cancelling it", self._what, grace_seconds)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
