"""The one wall clock. Every part takes a `Clock` instead of reading the time itself, so tests
and the backtest can move time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    """Now, timezone-aware in UTC."""
    return datetime.now(UTC)
