"""A clock that only moves when told to: backtests jump it one cycle at a time, never sleep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class SimClock:
    """Callable like the director's `clock`; time stands still between `advance` calls."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError("the simulated clock needs an aware start time")
        self._now = start.astimezone(UTC)

    def __call__(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("a simulated clock never goes backwards")
        self._now += timedelta(seconds=seconds)
        return self._now
