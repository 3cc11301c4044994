"""Scripts as health sources (director/heartbeats.py) and the watchdog (director/watchdog.py),
on an injected clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from director import heartbeats as hb
from director.heartbeats import Beat, Heartbeats
from director.store import Store
from director.watchdog import Watchdog
from tests.builders import NOW
from tests.clocks import ManualClock
from tests.fakes import RecordingReporter


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "o.db")
    yield opened
    await opened.close()


async def test_a_late_script_is_down_after_its_period_plus_the_grace(store: Store) -> None:
    beats, clock = Heartbeats(store, grace_seconds=60), ManualClock(NOW)
    beats.beat(Beat(name="heat-scanner", every_seconds=3600, critical=True), clock())
    clock.advance(seconds=3600 + 60)
    assert beats.health(clock())["script:heat-scanner"].ok  # exactly at the limit: still ok
    clock.advance(seconds=1)
    health = beats.health(clock())["script:heat-scanner"]
    assert not health.ok and health.critical
    assert health.detail == "silent since 2026-11-24 14:15 UTC, due every 1 h"


async def test_a_script_that_reports_degraded_only_warns_and_failed_is_down(store: Store) -> None:
    beats, clock = Heartbeats(store, grace_seconds=60), ManualClock(NOW)
    beats.beat(Beat(name="a", every_seconds=60, status="degraded", critical=True), clock())
    beats.beat(Beat(name="b", every_seconds=60, status="failed", detail="no data"), clock())
    health = beats.health(clock())
    assert not health["script:a"].ok and not health["script:a"].critical
    assert not health["script:b"].ok and "no data" in health["script:b"].detail


async def test_the_watchdog_alerts_once_on_silence_and_once_on_return(store: Store) -> None:
    beats, reporter = Heartbeats(store, grace_seconds=5), RecordingReporter()
    clock = ManualClock(NOW)
    watchdog = Watchdog(beats, reporter, clock)
    beats.beat(Beat(name="heat-scanner", every_seconds=10), clock())
    assert await watchdog.tick() == []
    clock.advance(seconds=16)
    [silent] = await watchdog.tick()
    assert silent.startswith("Script heat-scanner silent since") and "Critical" not in silent
    clock.advance(seconds=60)
    assert await watchdog.tick() == []  # still silent: not told again
    beats.beat(Beat(name="heat-scanner", every_seconds=10), clock())
    beats.beat(Beat(name="heat-scanner", every_seconds=10), clock())
    [back] = await watchdog.tick()
    assert "heat-scanner is back: ok" in back
    assert await watchdog.tick() == []
    assert reporter.alerts == [silent, back]


async def test_a_failed_report_alerts_and_a_restart_remembers_what_was_said(
    store: Store, tmp_path: Path
) -> None:
    beats, reporter = Heartbeats(store, grace_seconds=5), RecordingReporter()
    clock = ManualClock(NOW)
    beats.beat(Beat(name="cron", every_seconds=3600, status="failed", detail="exit 3"), clock())
    [failed] = await Watchdog(beats, reporter, clock).tick()
    assert "reported failed" in failed and "exit 3" in failed
    await store.close()
    reopened = await Store.open(tmp_path / "o.db")
    try:
        again = Heartbeats(reopened, grace_seconds=5)
        await again.load()
        [script] = again.scripts()
        assert script.name == "cron" and script.detail == "exit 3" and script.last_beat_at == NOW
        assert await Watchdog(again, reporter, clock).tick() == []  # already told
        clock.advance(seconds=4000)
        [silent] = await Watchdog(again, reporter, clock).tick()
        assert "silent" in silent
    finally:
        await reopened.close()


async def test_beats_are_validated_and_bounded(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValidationError, match="name"):
        Beat(name="bad name!", every_seconds=60)
    with pytest.raises(ValidationError, match="every_seconds"):
        Beat(name="ok", every_seconds=0)
    monkeypatch.setattr(hb, "MAX_SCRIPTS", 2)
    beats = Heartbeats(store, grace_seconds=5)
    beats.beat(Beat(name="a", every_seconds=60), NOW)
    beats.beat(Beat(name="b", every_seconds=60), NOW)
    beats.beat(Beat(name="a", every_seconds=60), NOW)  # a known one still beats
    with pytest.raises(ValueError, match="too many scripts"):
        beats.beat(Beat(name="c", every_seconds=60), NOW)
    assert await beats.remove("b") and not await beats.remove("b")
    beats.beat(Beat(name="c", every_seconds=60), NOW)
    assert [s.name for s in beats.scripts()] == ["a", "c"]
