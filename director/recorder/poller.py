"""The recorder's loop: poll the venue on a fixed grid, decide what to record, hand it to the
writer.

Each poll reads every open market's top of book (`MarketFeed.listing`), the markets held, and
every opportunity source, concurrently; keeps the markets that matter (the universe filter,
plus every held market and every opportunity); reads full depth for the held markets and the
opportunities (one request each, so not for the whole universe: at 15,000 markets that would
not fit a 15-minute poll within Kalshi's read limits); and looks up the markets recorded last
time that left the listing, to record a result as soon as one is published.

Polls fall on a grid of `every` seconds from the epoch: after a poll, the next is due at the
next grid line, so a restart inside a slot waits for the next one instead of repeating it. A
poll that fails (the venue is down) is not written and is retried after `retry_seconds`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from director.clock import Clock
from director.exchanges.base import ExchangeError
from director.models import Market, MarketStatus, Opportunity
from director.recorder.feeds import MarketFeed
from director.recorder.format import MarketLine, OpportunityLine, SettlementLine
from director.recorder.reader import Poll
from director.recorder.writer import RecordingWriter
from director.sense import OpportunitySource, timed

log = logging.getLogger(__name__)

MAX_DEPTH_PER_POLL = 500  # order books read per poll, at most (held markets first)
DEPTH_CONCURRENCY = 8
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Universe:
    """Which markets are recorded besides the held ones and the opportunities."""

    everything: bool
    prefixes: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Universe:
        """`all`, `none`, or comma-separated ticker prefixes (e.g. `KXHIGH,KXFED`)."""
        value = text.strip()
        if value.lower() == "all":
            return cls(everything=True)
        if value.lower() in ("none", ""):
            return cls(everything=False)
        prefixes = tuple(p.strip().upper() for p in value.split(",") if p.strip())
        return cls(everything=False, prefixes=prefixes)

    def includes(self, ticker: str) -> bool:
        return self.everything or ticker.upper().startswith(self.prefixes or ("\0",))

    def __str__(self) -> str:
        return "all" if self.everything else ",".join(self.prefixes) or "none"


@dataclass(frozen=True)
class RecorderConfig:
    every_seconds: int
    universe: Universe
    depth_levels: int
    source_timeout_s: float = 30.0
    retry_seconds: float = 60.0


Sleep = Callable[[float], Awaitable[None]]


def next_slot(after: datetime, every: int) -> datetime:
    """The first grid line strictly after `after`."""
    elapsed = int((after - _EPOCH).total_seconds())
    return _EPOCH + timedelta(seconds=(elapsed // every + 1) * every)


class Recorder:
    def __init__(
        self,
        feed: MarketFeed,
        sources: Sequence[OpportunitySource],
        writer: RecordingWriter,
        config: RecorderConfig,
        *,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.feed = feed
        self.sources = list(sources)
        self.writer = writer
        self.config = config
        self.clock = clock
        self.sleep = sleep
        self.failures = 0

    def due(self) -> datetime | None:
        """When the next poll is due (None: now, nothing recorded yet)."""
        last = self.writer.last_at
        return None if last is None else next_slot(last, self.config.every_seconds)

    async def run(self, polls: int | None = None) -> int:
        """Poll until `polls` have been written (forever when None); returns how many."""
        done = 0
        while polls is None or done < polls:
            due, now = self.due(), self.clock()
            if due is not None and due > now:
                await self.sleep((due - now).total_seconds())
                continue
            try:
                poll = await self.poll_once()
            except (ExchangeError, OSError) as exc:
                self.failures += 1
                log.warning("recorder: poll failed (%s); retrying", exc)
                await self.sleep(min(self.config.retry_seconds, self.config.every_seconds))
                continue
            done += 1
            log.info(
                "recorder: poll %d at %s: %d market lines, %d opportunities, %d settlements",
                poll.seq,
                poll.at.isoformat(),
                len(poll.markets),
                len(poll.opportunities),
                len(poll.settlements),
            )
        return done

    async def poll_once(self) -> Poll:
        at = self.clock()
        listing_task = self.feed.listing()
        held_task = self.feed.held()
        found = asyncio.gather(
            *(
                timed(s.name, s.opportunities(at), self.config.source_timeout_s)
                for s in self.sources
            )
        )
        listing, held, results = await asyncio.gather(listing_task, held_task, found)
        opportunities: list[Opportunity] = []
        errors: dict[str, str] = {}
        for source, (result, health) in zip(self.sources, results, strict=True):
            if result is None:
                errors[source.name] = health.detail
            else:
                opportunities += [o for o in result if o.expires_at > at]
        wanted = {o.market for o in opportunities} | held
        recorded = {
            m.ticker: m
            for m in listing
            if m.ticker in wanted or self.config.universe.includes(m.ticker)
        }
        await self._add_depth(recorded, [t for t in sorted(held) if t in recorded], opportunities)
        closed, gone, settlements = await self._left(recorded, at)
        opportunities.sort(key=lambda o: (o.source, o.market, o.side.value))
        return self.writer.write_poll(
            at,
            [*recorded.values(), *closed],
            gone=gone,
            settlements=settlements,
            opportunities=_lines(opportunities),
            errors=errors,
        )

    async def _add_depth(
        self, recorded: dict[str, MarketLine], held: list[str], opportunities: list[Opportunity]
    ) -> None:
        tickers = list(dict.fromkeys([*held, *(o.market for o in opportunities)]))
        tickers = [t for t in tickers if t in recorded][:MAX_DEPTH_PER_POLL]
        gate = asyncio.Semaphore(DEPTH_CONCURRENCY)
        levels = self.config.depth_levels

        async def one(ticker: str) -> None:
            async with gate:
                try:
                    book = await self.feed.depth(ticker, levels)
                except ExchangeError as exc:  # the touch from the listing stays
                    log.debug("recorder: no depth for %s: %s", ticker, exc)
                    return
            if book is not None:
                recorded[ticker] = recorded[ticker].replaced(yes_bids=book[0], no_bids=book[1])

        await asyncio.gather(*(one(t) for t in tickers))

    async def _left(
        self, recorded: dict[str, MarketLine], at: datetime
    ) -> tuple[list[MarketLine], list[str], list[SettlementLine]]:
        """What became of the markets recorded last poll that are not in this one: settled,
        closed (still waiting for a result) or gone (open, just not recorded any more)."""
        before = self.writer.state.markets
        missing = sorted(t for t in before if t not in recorded)
        found: dict[str, Market] = await self.feed.lookup(missing) if missing else {}
        closed: list[MarketLine] = []
        gone: list[str] = []
        settlements: list[SettlementLine] = []
        for ticker in missing:
            market = found.get(ticker)
            if market is not None and market.result is not None:
                settlements.append(SettlementLine(ticker=ticker, result=market.result, seen_at=at))
            elif market is not None and not market.is_open:
                closed.append(before[ticker].replaced(status=MarketStatus.CLOSED))
            else:
                gone.append(ticker)
        return closed, gone, settlements


def _lines(opportunities: list[Opportunity]) -> list[OpportunityLine]:
    """The opportunities that fit the recording's schema; one that doesn't (a source's edge
    out of range, an overlong title) is left out and logged, never fatal to the poll."""
    lines = []
    for opportunity in opportunities:
        try:
            lines.append(OpportunityLine.of(opportunity))
        except ValidationError as exc:
            log.warning(
                "recorder: opportunity %.40s from %.40s not recorded: %s",
                opportunity.market,
                opportunity.source,
                exc.errors()[0].get("msg"),
            )
    return lines
