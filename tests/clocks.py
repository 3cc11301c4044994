"""The tests' wall clocks: time that moves only when a test (or a sleep it hands out) moves it.

Each is a `director.clock.Clock` (call it for now), so it goes wherever the product takes one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class ManualClock:
    """Stands still at `start` until `advance` moves it."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move on by a `timedelta(**delta)` and say where it is now."""
        self.now += timedelta(**delta)
        return self.now


class SteppingClock(ManualClock):
    """`sleep` moves it instead of waiting: a loop's waits cost no wall time and are recorded."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


def real_time_clock() -> ManualClock:
    """A manual clock starting at the real time, whole seconds: for parts that meet real
    timestamps (Telegram dates an update with the real time)."""
    return ManualClock(datetime.now(UTC).replace(microsecond=0))
