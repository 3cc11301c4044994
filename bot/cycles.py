"""Runs director cycles as background tasks, so a 30-second brain call never holds up a command.

Both the schedule (a JobQueue job) and /cycle come through here. At most one cycle runs; a
trigger while one runs is refused, not queued. On shutdown the running cycle gets a grace
period to finish and be recorded before it is cancelled.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.port import DirectorPort
from bot.single_flight import SingleFlight
from director.describe import describe_error
from director.face import CycleInProgress

log = logging.getLogger(__name__)


class CycleRunner:
    def __init__(
        self, director: DirectorPort, *, on_crash: Callable[[str], Awaitable[None]]
    ) -> None:
        self._director = director
        self._on_crash = on_crash
        self._flight = SingleFlight("cycle", director.clock)

    @property
    def busy(self) -> bool:
        return self._flight.running or self._director.running

    @property
    def started_at(self) -> datetime | None:
        """When the running cycle started, if one is running."""
        return self._flight.started_at if self.busy else None

    def start(self, trigger: str) -> bool:
        """Start a cycle in the background; False when one is already running or stopping."""
        if self._director.running:
            return False
        return self._flight.start(f"cycle:{trigger}", lambda: self._run(trigger))

    async def _run(self, trigger: str) -> None:
        try:
            await self._director.run_cycle(trigger)
        except CycleInProgress:
            log.info("%s cycle refused: another is running", trigger)
        except Exception as exc:
            # run_cycle records and reports its own failures; reaching here is a bug, and the
            # next tick must still come.
            log.exception("%s cycle crashed", trigger)
            await self._on_crash(f"A {trigger} cycle crashed: {describe_error(exc)}")

    async def wait(self) -> None:
        """Wait for the running cycle, if any (tests and shutdown)."""
        await self._flight.wait()

    async def stop(self, grace_seconds: float) -> None:
        """Refuse new cycles; give a running one `grace_seconds` to finish, then cancel it."""
        await self._flight.stop(grace_seconds)
