"""Wiring: settings in, a ready Director out. The only place that knows every concrete part."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from director.brains.base import Brain
from director.brains.rules import RulesBrain
from director.director import Director, wall_clock
from director.exchanges.base import Exchange
from director.instance_lock import InstanceLock
from director.reporting import Reporter
from director.review import ReviewModel
from director.scanners.feed import JsonlFeed
from director.scanners.sources import FeedSource, ScannerSource
from director.sense import NewsSource, OpportunitySource
from director.settings import Settings
from director.store import Store

log = logging.getLogger(__name__)


async def open_exchange(
    settings: Settings, store: Store, clock: Callable[[], datetime]
) -> tuple[Exchange, list[OpportunitySource]]:
    """The venue, and the scanners that come with it."""
    if settings.exchange == "paper":
        from director.exchanges.paper import PaperExchange
        from director.scanners.paper_scanner import PaperScanner

        paper = await PaperExchange.open(
            store,
            seed=settings.paper_seed,
            n_markets=settings.paper_markets,
            starting_cash=settings.paper_starting_cash,
            clock=clock,
        )
        scanner = PaperScanner(paper, seed=settings.paper_seed)
        return paper, [ScannerSource("paper-scanner", scanner)]
    from director.exchanges.kalshi import KalshiExchange
    from director.scanners.kalshi_scanner import UniverseScanner
    from director.scanners.periodic import PeriodicScanSource

    kalshi = KalshiExchange.from_settings(settings, clock=clock, journal=store)
    try:
        await kalshi.restore_intents()
    except BaseException:
        await kalshi.close()
        raise
    # Scanned opportunities stay valid until the next scan is due.
    universe = UniverseScanner(
        kalshi, clock=clock, validity=timedelta(seconds=settings.scan_seconds)
    )
    return kalshi, [PeriodicScanSource("kalshi-scanner", universe, settings.scan_seconds, clock)]


def build_brain(
    settings: Settings, store: Store, clock: Callable[[], datetime]
) -> tuple[Brain, ReviewModel | None]:
    """The brain for THINK, and the model for the review (None: the statistical review)."""
    rules = RulesBrain(settings)
    if settings.brain_kind == "rules":
        return rules, None
    from director.brains.claude import ClaudeBrain
    from director.brains.claude_review import ClaudeReviewModel
    from director.brains.router import RoutedBrain

    claude = ClaudeBrain(settings, ledger=store, clock=clock)
    routed = RoutedBrain(
        primary=claude, fallback=rules, ledger=store, settings=settings, clock=clock
    )
    return routed, ClaudeReviewModel(claude, settings.model_escalation, clock)


def build_news(
    settings: Settings, clock: Callable[[], datetime]
) -> tuple[NewsSource | None, Callable[[], Awaitable[None]] | None]:
    """The news reader, and how to close its HTTP client."""
    if not settings.news_feeds:
        return None, None
    import httpx

    from director.news import NewsReader

    http = httpx.AsyncClient(timeout=settings.source_timeout_seconds, follow_redirects=True)
    return NewsReader(settings.news_feeds, http=http, clock=clock), http.aclose


async def build_director(
    settings: Settings,
    reporter: Reporter,
    clock: Callable[[], datetime] | None = None,
) -> Director:
    clock = clock or wall_clock
    store = await Store.open(settings.db_path)
    try:
        lock = InstanceLock.acquire(settings.db_path)
    except BaseException:
        await store.close()
        raise
    try:
        interrupted = await store.fail_running_cycles(clock())
        if interrupted:
            log.warning("%d cycle(s) were interrupted by the last shutdown", interrupted)
        exchange, sources = await open_exchange(settings, store, clock)
        if settings.opportunity_feed is not None:
            sources.append(FeedSource(JsonlFeed(settings.opportunity_feed)))
        brain, review_model = build_brain(settings, store, clock)
        news, close_news = build_news(settings, clock)
    except BaseException:
        await store.close()
        lock.release()
        raise
    director = Director(
        settings=settings,
        store=store,
        exchange=exchange,
        brain=brain,
        reporter=reporter,
        clock=clock,
        sources=sources,
        news=news,
    )
    director.reviewer.model = review_model
    if close_news is not None:
        director.closers.append(close_news)

    async def release_lock() -> None:
        lock.release()

    director.final_closers.append(release_lock)
    return director
