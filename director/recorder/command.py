"""`omega-director record --out DIR [--every SECONDS] [--polls N]`: the venue, its scanners and
the writer, wired; then the poll loop until N polls (or Ctrl-C).

Beside `run`: on Kalshi the recorder touches no database at all (its memory is the recording
itself), so it never contends for the director's instance lock; it reads with its own budget,
OMEGA_RECORD_READS_PER_SECOND. On paper the venue *is* the database (paper_* tables, one
writer), so recording paper takes the director's instance lock on OMEGA_DB_PATH like `run`
does: record paper alone, or point OMEGA_DB_PATH at a database of its own.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from director.recorder.feeds import KalshiFeed, MarketFeed, PaperFeed
from director.recorder.format import SCHEMA_VERSION, Manifest
from director.recorder.poller import Recorder, RecorderConfig, Sleep, Universe
from director.recorder.writer import RecordingWriter
from director.scanners.feed import JsonlFeed
from director.scanners.sources import FeedSource, ScannerSource
from director.sense import OpportunitySource
from director.settings import Settings

log = logging.getLogger(__name__)

MAX_EVERY_SECONDS = 86_400


class RecordError(Exception):
    """The recorder can't start; the message says why."""


@dataclass(frozen=True)
class RecordOptions:
    out: Path
    every: int | None = None  # default: OMEGA_CYCLE_SECONDS
    polls: int | None = None  # default: never stop


def wall_clock() -> datetime:
    return datetime.now(UTC)


def recorder_config(options: RecordOptions, settings: Settings) -> RecorderConfig:
    every = settings.cycle_seconds if options.every is None else options.every
    if isinstance(every, bool) or not isinstance(every, int) or not 1 <= every <= MAX_EVERY_SECONDS:
        raise RecordError(f"--every must be whole seconds in 1..{MAX_EVERY_SECONDS}, got {every!r}")
    if options.polls is not None and options.polls < 1:
        raise RecordError(f"--polls must be at least 1, got {options.polls}")
    return RecorderConfig(
        every_seconds=every,
        universe=Universe.parse(settings.record_universe),
        depth_levels=settings.record_depth_levels,
        source_timeout_s=max(settings.source_timeout_seconds, 30.0),
    )


def manifest_for(feed: MarketFeed, config: RecorderConfig, now: datetime) -> Manifest:
    return Manifest(
        schema_version=SCHEMA_VERSION,
        exchange=feed.exchange,
        environment=feed.environment,
        interval_seconds=config.every_seconds,
        created_at=now,
        universe=str(config.universe),
        depth_levels=config.depth_levels,
    )


@contextlib.asynccontextmanager
async def open_venue(
    settings: Settings, clock: Callable[[], datetime]
) -> AsyncIterator[tuple[MarketFeed, list[OpportunitySource]]]:
    """The feed and the opportunity sources for `settings.exchange`, closed on exit."""
    closers: list[Callable[[], Awaitable[None]]] = []
    sources: list[OpportunitySource] = []
    feed: MarketFeed
    try:
        if settings.exchange == "kalshi":
            feed = _kalshi(settings, clock, sources, closers)
        else:
            feed = await _paper(settings, clock, sources, closers)
        if settings.opportunity_feed is not None:
            sources.append(FeedSource(JsonlFeed(settings.opportunity_feed)))
        yield feed, sources
    finally:
        for close in reversed(closers):
            with contextlib.suppress(Exception):
                await close()


def _kalshi(
    settings: Settings,
    clock: Callable[[], datetime],
    sources: list[OpportunitySource],
    closers: list[Callable[[], Awaitable[None]]],
) -> MarketFeed:
    from director.exchanges.kalshi import KalshiExchange
    from director.scanners.kalshi_scanner import UniverseScanner
    from director.scanners.periodic import PeriodicScanSource

    # The recorder never orders, so no intent journal; and no `start()`: its load_limits would
    # pace this process by the account's whole tier, which `run` beside it paces by too. The
    # recorder reads on its own budget instead.
    budget = settings.model_copy(
        update={"kalshi_reads_per_second": settings.record_reads_per_second}
    )
    kalshi = KalshiExchange.from_settings(budget, clock=clock)
    closers.append(kalshi.close)
    scanner = UniverseScanner(
        kalshi, clock=clock, validity=timedelta(seconds=settings.scan_seconds)
    )
    sources.append(PeriodicScanSource("kalshi-scanner", scanner, settings.scan_seconds, clock))
    return KalshiFeed(kalshi)


async def _paper(
    settings: Settings,
    clock: Callable[[], datetime],
    sources: list[OpportunitySource],
    closers: list[Callable[[], Awaitable[None]]],
) -> MarketFeed:
    from director.exchanges.paper import PaperExchange
    from director.instance_lock import InstanceLock
    from director.scanners.paper_scanner import PaperScanner
    from director.store import Store

    store = await Store.open(settings.db_path)
    closers.append(store.close)
    lock = InstanceLock.acquire(settings.db_path)  # the paper venue has one writer

    async def release() -> None:
        lock.release()

    closers.append(release)
    paper = await PaperExchange.open(
        store,
        seed=settings.paper_seed,
        n_markets=settings.paper_markets,
        starting_cash=settings.paper_starting_cash,
        clock=clock,
    )
    closers.append(paper.close)
    scanner = PaperScanner(paper, seed=settings.paper_seed, scan_seconds=settings.cycle_seconds)
    sources.append(ScannerSource("paper-scanner", scanner))
    return PaperFeed(paper)


async def record(
    options: RecordOptions,
    settings: Settings,
    *,
    clock: Callable[[], datetime] = wall_clock,
    sleep: Sleep | None = None,
) -> int:
    """Record until `options.polls` polls are written; returns how many were."""
    config = recorder_config(options, settings)
    async with open_venue(settings, clock) as (feed, sources):
        writer = RecordingWriter.open(options.out, manifest_for(feed, config, clock()))
        try:
            recorder = Recorder(feed, sources, writer, config, clock=clock, **_sleep(sleep))
            log.info(
                "recording %s %s every %ds into %s (universe %s)",
                feed.exchange,
                feed.environment,
                config.every_seconds,
                options.out,
                config.universe,
            )
            return await recorder.run(options.polls)
        finally:
            writer.close()


def _sleep(sleep: Sleep | None) -> dict[str, Sleep]:
    return {} if sleep is None else {"sleep": sleep}
