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
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from director.clock import Clock, wall_clock
from director.recorder.feeds import KalshiFeed, MarketFeed, PaperFeed
from director.recorder.format import SCHEMA_VERSION, Manifest
from director.recorder.poller import Recorder, RecorderConfig, Sleep, Universe
from director.recorder.writer import RecordingWriter
from director.scanners.feed import JsonlFeed
from director.scanners.sources import FeedSource
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
    settings: Settings, clock: Clock
) -> AsyncIterator[tuple[MarketFeed, list[OpportunitySource]]]:
    """The feed and the opportunity sources for `settings.exchange`, closed on exit."""
    stack = contextlib.AsyncExitStack()
    try:
        if settings.exchange == "kalshi":
            feed, sources = _kalshi(settings, clock, stack)
        else:
            feed, sources = await _paper(settings, clock, stack)
        if settings.opportunity_feed is not None:
            sources.append(FeedSource(JsonlFeed(settings.opportunity_feed)))
        yield feed, sources
    finally:
        try:
            await stack.aclose()
        except Exception:
            # The recording is written and flushed by now: a venue that closes badly is no
            # reason to fail the command.
            log.warning("closing the venue failed", exc_info=True)


def _kalshi(
    settings: Settings, clock: Clock, stack: contextlib.AsyncExitStack
) -> tuple[MarketFeed, list[OpportunitySource]]:
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
    stack.push_async_callback(kalshi.close)
    scanner = UniverseScanner(
        kalshi, clock=clock, validity=timedelta(seconds=settings.scan_seconds)
    )
    source = PeriodicScanSource("kalshi-scanner", scanner, settings.scan_seconds, clock)
    return KalshiFeed(kalshi), [source]


async def _paper(
    settings: Settings, clock: Clock, stack: contextlib.AsyncExitStack
) -> tuple[MarketFeed, list[OpportunitySource]]:
    # The paper venue lives in the database and has one writer: the live wiring's store, under
    # the director's instance lock, and its paper venue.
    from director.app import open_paper, open_store

    store = await open_store(settings, stack)
    paper, sources = await open_paper(settings, store, clock, stack)
    return PaperFeed(paper), sources


async def record(
    options: RecordOptions,
    settings: Settings,
    *,
    clock: Clock = wall_clock,
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
