"""Runs director cycles as background tasks, so a 30-second brain call never holds up a command.

Both the schedule (a JobQueue job) and /cycle come through here. At most one cycle runs; a
trigger while one runs is refused, not queued. On shutdown the running cycle gets a grace
period to finish and be recorded before it is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.port import DirectorPort
from director.face import CycleInProgress

log = logging.getLogger(__name__)


class CycleRunner:
    def __init__(
        self, director: DirectorPort, *, on_crash: Callable[[str], Awaitable[None]]
    ) -> None:
        self._director = director
        self._on_crash = on_crash
        self._task: asyncio.Task[None] | None = None
        self._started_at: datetime | None = None
        self._stopping = False

    @property
    def busy(self) -> bool:
        return (self._task is not None and not self._task.done()) or self._director.running

    @property
    def started_at(self) -> datetime | None:
        """When the running cycle started, if one is running."""
        return self._started_at if self.busy else None

    def start(self, trigger: str) -> bool:
        """Start a cycle in the background; False when one is already running or stopping."""
        if self._stopping or self.busy:
            return False
        self._started_at = self._director.clock()
        self._task = asyncio.create_task(self._run(trigger), name=f"cycle:{trigger}")
        return True

    async def _run(self, trigger: str) -> None:
        try:
            await self._director.run_cycle(trigger)
        except CycleInProgress:
            log.info("%s cycle refused: another is running", trigger)
        except Exception as exc:
            # run_cycle records and reports its own failures; reaching here is a bug, and the
            # next tick must still come.
            log.exception("%s cycle crashed", trigger)
            await self._on_crash(f"A {trigger} cycle crashed: {type(exc).__name__}: {exc}")

    async def wait(self) -> None:
        """Wait for the running cycle, if any (tests and shutdown)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self, grace_seconds: float) -> None:
        """Refuse new cycles; give a running one `grace_seconds` to finish, then cancel it."""
        self._stopping = True
        task = self._task
        if task is None or task.done():
            return
        log.info("waiting up to %.1f s for the running cycle to finish", grace_seconds)
        try:
            await asyncio.wait_for(asyncio.shield(task), grace_seconds)
        except TimeoutError:
            log.warning("cycle still running after %.1f s; cancelling it", grace_seconds)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
