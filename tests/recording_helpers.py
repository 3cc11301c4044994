"""Shared by the recorder and replay tests: a clock whose sleep moves it, and a paper recording."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

import director.backtest.recorded
from director.exchanges.replay import ReplayExchange
from director.recorder.command import RecordOptions, record
from director.settings import Settings, load_settings
from tests.clocks import SteppingClock

# On the 15-minute grid, a UTC midnight: polls land on grid lines from the second on.
START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


def paper_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "exchange": "paper",
        "db_path": tmp_path / "paper.db",
        "paper_markets": 30,
        "paper_seed": 11,
        "cycle_seconds": 900,
        "opportunity_feed": None,
        "news_feeds": [],
    }
    values.update(overrides)
    return load_settings(**values)


async def record_paper(
    out: Path, settings: Settings, clock: SteppingClock, polls: int, every: int = 900
) -> int:
    return await record(
        RecordOptions(out=out, every=every, polls=polls), settings, clock=clock, sleep=clock.sleep
    )


def capture_venues(monkeypatch: pytest.MonkeyPatch) -> list[ReplayExchange]:
    """Every replay venue the replay backtest creates from now on, for checks on its fills."""
    venues: list[ReplayExchange] = []

    class Captured(ReplayExchange):
        def __init__(self, **kwargs: object) -> None:
            super().__init__(**kwargs)  # type: ignore[arg-type]
            venues.append(self)

    monkeypatch.setattr(director.backtest.recorded, "ReplayExchange", Captured)
    return venues
