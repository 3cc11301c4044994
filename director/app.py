"""Wiring: settings in, a ready Director out. The only place that knows every concrete part.

Every part is opened on one AsyncExitStack, so whatever fails half-way closes what was already
open, and the director closes it all newest first: the local API, the news reader, the brain,
the exchange, the store, and last the database's instance lock. The backtest goes through the
same `assemble`, with its own venue and brain.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import TYPE_CHECKING

from director.brains.base import Brain
from director.brains.rules import RulesBrain
from director.clock import Clock, wall_clock
from director.director import Director
from director.exchanges.base import Exchange
from director.exchanges.paper_scenarios import SCENARIOS, Scenario
from director.reporting import Reporter
from director.review import ReviewModel
from director.review_evidence import evidence_for
from director.scanners.feed import feed_from_settings
from director.scanners.sources import FeedSource, ScannerSource
from director.sense import NewsSource, OpportunitySource
from director.settings import Settings
from director.store import Store
from director.store.startup import open_database

if TYPE_CHECKING:
    from director.exchanges.paper import PaperExchange

log = logging.getLogger(__name__)

# The venue and its scanners, opened for these settings; what needs closing goes on the stack.
Venue = Callable[
    [Settings, Store, Clock, AsyncExitStack], Awaitable[tuple[Exchange, list[OpportunitySource]]]
]
# The brain for THINK and the model for the review (None: the statistical review).
Brains = Callable[[Settings, Store, Clock], tuple[Brain, ReviewModel | None]]
# The store, opened on the stack.
StoreOpener = Callable[[Settings, AsyncExitStack], Awaitable[Store]]


async def open_store(settings: Settings, stack: AsyncExitStack) -> Store:
    """The checked store, under this process's instance lock (released after the store closes)."""
    store, lock = await open_database(settings.db_path)
    stack.callback(lock.release)
    stack.push_async_callback(store.close)
    return store


async def open_scratch_store(settings: Settings, stack: AsyncExitStack) -> Store:
    """A store for a database only this run ever sees (a backtest's fresh one): no instance
    lock, no lock file beside it, no start-up checks."""
    store = await Store.open(settings.db_path)
    stack.push_async_callback(store.close)
    return store


async def open_paper(
    settings: Settings,
    store: Store,
    clock: Clock,
    stack: AsyncExitStack,
    scenario: Scenario = SCENARIOS["base"],
) -> tuple[PaperExchange, list[OpportunitySource]]:
    """The simulated venue in `store`, and its scanner."""
    from director.exchanges.paper import PaperExchange
    from director.scanners.paper_scanner import PaperScanner

    paper = await PaperExchange.open(
        store,
        seed=settings.paper_seed,
        n_markets=settings.paper_markets,
        starting_cash=settings.paper_starting_cash,
        clock=clock,
        scenario=scenario,
    )
    stack.push_async_callback(paper.close)
    # One scan a cycle: /state and approval re-checks see the cycle's scan.
    scanner = PaperScanner(paper, seed=settings.paper_seed, scan_seconds=settings.cycle_seconds)
    return paper, [ScannerSource("paper-scanner", scanner)]


async def open_exchange(
    settings: Settings, store: Store, clock: Clock, stack: AsyncExitStack
) -> tuple[Exchange, list[OpportunitySource]]:
    """The venue of `settings.exchange`, and the scanners that come with it."""
    if settings.exchange == "paper":
        paper, sources = await open_paper(settings, store, clock, stack)
        return paper, sources
    from director.exchanges.kalshi import KalshiExchange
    from director.scanners.kalshi_scanner import UniverseScanner
    from director.scanners.periodic import PeriodicScanSource

    kalshi = KalshiExchange.from_settings(settings, clock=clock, journal=store)
    stack.push_async_callback(kalshi.close)
    await kalshi.start()  # intents from the journal, the account's rate limits
    # Scanned opportunities stay valid until the next scan is due.
    universe = UniverseScanner(
        kalshi, clock=clock, validity=timedelta(seconds=settings.scan_seconds)
    )
    return kalshi, [PeriodicScanSource("kalshi-scanner", universe, settings.scan_seconds, clock)]


def build_brain(settings: Settings, store: Store, clock: Clock) -> tuple[Brain, ReviewModel | None]:
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


def build_news(settings: Settings, clock: Clock, stack: AsyncExitStack) -> NewsSource | None:
    """The news reader, its HTTP client closed with the stack (None without feeds)."""
    if not settings.news_feeds:
        return None
    import httpx

    from director.news import NewsReader

    http = httpx.AsyncClient(timeout=settings.source_timeout_seconds, follow_redirects=True)
    stack.push_async_callback(http.aclose)
    return NewsReader(settings.news_feeds, http=http, clock=clock)


async def assemble(
    settings: Settings,
    reporter: Reporter,
    clock: Clock,
    stack: AsyncExitStack,
    *,
    venue: Venue = open_exchange,
    brains: Brains = build_brain,
    store_opener: StoreOpener = open_store,
) -> Director:
    """Every part opened on `stack` and wired into a Director that closes them with it."""
    store = await store_opener(settings, stack)
    exchange, sources = await venue(settings, store, clock, stack)
    if settings.opportunity_feed is not None:
        sources.append(FeedSource(feed_from_settings(settings)))
    brain, review_model = brains(settings, store, clock)
    stack.push_async_callback(brain.close)
    director = Director(
        settings=settings,
        store=store,
        exchange=exchange,
        brain=brain,
        reporter=reporter,
        clock=clock,
        sources=sources,
        news=build_news(settings, clock, stack),
        resources=stack,
    )
    director.reviewer.model = review_model
    # A suggestion is replayed on the simulator beside the active rules before it is offered.
    director.reviewer.evidence = evidence_for(settings, clock)
    return director


async def build_director(
    settings: Settings,
    reporter: Reporter,
    clock: Clock | None = None,
    *,
    local_api: bool = False,
) -> Director:
    """The live director, settled and ready for its first cycle; with `local_api`, the
    scripts' local API started too (when OMEGA_API_TOKEN is set)."""
    async with AsyncExitStack() as stack:  # closes what was opened if anything below fails
        director = await assemble(settings, reporter, clock or wall_clock, stack)
        # Interrupted cycles, pressed approvals and unclear orders, settled before any cycle.
        await director.reconciler.settle_at_start()
        if local_api:
            from director.api.server import start_local_api  # fastapi/uvicorn only for `run`

            await start_local_api(director)
        director.resources = stack.pop_all()
    return director
