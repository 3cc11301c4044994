"""The shared helpers of the wiring: one clock, one way to describe an exception, one
single-flight runner, and the director closing what the wiring opened, newest first."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from bot.single_flight import SingleFlight
from director.app import build_director
from director.clock import wall_clock
from director.describe import clip, describe_error
from director.settings import Settings
from director.store.instance_lock import InstanceLock
from tests.fakes import RecordingReporter

NOW = datetime(2026, 1, 5, tzinfo=UTC)


def test_the_wall_clock_is_timezone_aware_utc() -> None:
    assert wall_clock().tzinfo is UTC


def test_an_exception_is_described_on_one_clipped_line() -> None:
    assert describe_error(RuntimeError("disk\n  on fire")) == "RuntimeError: disk on fire"
    described = describe_error(ValueError("x" * 500), 40)
    assert len(described) == 40 and described.startswith("ValueError: x") and described[-1] == "…"
    assert clip("short", 10) == "short"


async def test_a_single_flight_refuses_a_second_start_and_stops_after_its_grace() -> None:
    flight = SingleFlight("job", lambda: NOW)
    release = asyncio.Event()
    cancelled = asyncio.Event()

    async def work() -> None:
        try:
            await release.wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    assert flight.start("job:1", work)
    assert flight.running and flight.started_at == NOW
    assert not flight.start("job:2", work)
    await flight.stop(0.01)
    assert cancelled.is_set() and not flight.running
    assert not flight.start("job:3", work)  # stopping: no new starts


async def test_closing_a_built_director_releases_the_instance_lock_last(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None, db_path=tmp_path / "omega.db", exchange="paper", brain="rules"
    )
    director = await build_director(settings, RecordingReporter(), clock=lambda: NOW)
    closed: list[str] = []

    async def note() -> None:
        closed.append("first")
        # Everything the wiring opened is still open while the newest resource closes.
        assert await director.store.fetch_one("SELECT 1") is not None

    director.resources.push_async_callback(note)
    await director.close()
    assert closed == ["first"]
    InstanceLock.acquire(settings.db_path).release()  # the lock is free again
