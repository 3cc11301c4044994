"""Wiring: settings in, a ready Director out. The only place that knows every concrete part."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from director.brains.base import Brain
from director.brains.rules import RulesBrain
from director.director import Director, wall_clock
from director.exchanges.base import Exchange
from director.reporting import Reporter
from director.review import ReviewModel
from director.review_evidence import evidence_for
from director.scanners.feed import feed_from_settings
from director.scanners.sources import FeedSource, ScannerSource
from director.sense import NewsSource, OpportunitySource
from director.settings import Settings
from director.startup_db import open_database
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
        # One scan a cycle: /state and approval re-checks see the cycle's scan.
        scanner = PaperScanner(paper, seed=settings.paper_seed, scan_seconds=settings.cycle_seconds)
        return paper, [ScannerSource("paper-scanner", scanner)]
    from director.exchanges.kalshi import KalshiExchange
    from director.scanners.kalshi_scanner import UniverseScanner
    from director.scanners.periodic import PeriodicScanSource

    kalshi = KalshiExchange.from_settings(settings, clock=clock, journal=store)
    try:
        await kalshi.start()  # intents from the journal, the account's rate limits
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
    return routed, ClaudeReviewModel(
        claude, settings.model_escalation, clock, settings.effort_escalation
    )


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
    # The instance lock first (by the file's identity), then the checked store.
    store, lock = await open_database(settings.db_path)
    try:
        exchange, sources = await open_exchange(settings, store, clock)
        if settings.opportunity_feed is not None:
            sources.append(FeedSource(feed_from_settings(settings)))
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
    # A suggestion is replayed on the simulator beside the active rules before it is offered.
    director.reviewer.evidence = evidence_for(settings, clock)
    if close_news is not None:
        director.closers.append(close_news)

    async def release_lock() -> None:
        lock.release()

    director.final_closers.append(release_lock)
    try:
        # Interrupted cycles, pressed approvals and unclear orders, settled before any cycle.
        await director.reconciler.settle_at_start()
    except BaseException:
        await director.close()
        raise
    return director
