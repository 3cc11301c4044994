"""A feed of a million distinct markets: SENSE still finishes inside its source timeout, the
feed keeps at most OMEGA_FEED_MAX_MARKETS of the freshest, best lines in bounded memory, and
counts what it dropped; the cycle trades on, not stuck in safe mode."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from director.app import build_director
from director.scanners.feed import JsonlFeed
from director.settings import load_settings
from tests.chaos.harness import base_env
from tests.fakes import RecordingReporter

pytestmark = pytest.mark.chaos

MARKETS = 1_000_000


def write_flood(path: Path, n: int = MARKETS) -> None:
    template = (
        '{"market": "KXFLOOD-%07d", "edge": 0.%02d, "confidence": 0.8, "expires_in_hours": 4}\n'
    )
    with path.open("w") as handle:
        handle.writelines(template % (i, 11 + i % 80) for i in range(n))


def test_a_million_market_feed_is_read_in_bounded_memory_and_counted(tmp_path: Path) -> None:
    feed_path = tmp_path / "flood.jsonl"
    write_flood(feed_path)
    feed = JsonlFeed(feed_path, max_markets=5000, read_budget_s=30)
    tracemalloc.start()
    try:
        found = feed.read(datetime.now(UTC))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(found) == 5000 and feed.stats.kept == 5000
    assert feed.stats.lines + feed.stats.skipped_lines == MARKETS
    assert feed.stats.dropped == MARKETS - 5000
    # The freshest are kept: the last lines of the file.
    assert f"KXFLOOD-{MARKETS - 1:07d}" in {o.market for o in found}
    assert peak < 64 * 2**20, (
        f"peak {peak / 2**20:.0f} MiB for an {feed_path.stat().st_size >> 20} MiB feed"
    )


async def test_a_cycle_over_a_million_market_feed_is_not_held_up_by_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed_path = tmp_path / "flood.jsonl"
    write_flood(feed_path)
    env = base_env(
        tmp_path,
        OMEGA_OPPORTUNITY_FEED=str(feed_path),
        OMEGA_SOURCE_TIMEOUT_SECONDS="4",
        OMEGA_FEED_MAX_MARKETS="2000",
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    director = await build_director(load_settings(), RecordingReporter())
    try:
        report = await director.run_cycle("manual")
        state = await director.sense()
    finally:
        await director.close()
    assert report.error is None and report.state is not None
    assert state.system_health.sources["feed"].ok, state.system_health.summary()
    assert not report.state.degraded, report.state.health
    counters = state.system_health.counters
    # Bounded and counted; what one read's budget did not reach waits for the next cycle.
    assert counters["feed.kept"] <= 2000 and counters["feed.dropped"] > 900_000
