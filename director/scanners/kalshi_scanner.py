"""The full-universe Kalshi scanner: every open event in one pass, baskets that are sure.

It reads `GET /events?with_nested_markets=true&status=open` page by page (200 events a page),
so all legs of an event come from one response, and reports each intra-event arbitrage as ONE
basket opportunity (director.models.BasketOpportunity) — never its legs one by one, which a
brain could only buy as naked directional bets. Only what is mathematically sure is reported:

- a NO basket over a mutually exclusive event (at most one leg resolves YES): buying NO on
  every open leg pays at least n − 1 dollars a basket, so it is reported when the YES bids sum
  above 1 by more than the fees;
- a YES basket only when the event is mutually exclusive AND its legs' strikes provably cover
  every expiration value (director.baskets.strikes_cover_everything): then exactly one leg
  resolves YES and the basket pays 1 dollar; a list of named outcomes proves nothing (an
  unlisted one can win), so it is never a YES basket.

An event with a leg we could not read, a non-binary leg, or a closed leg that has not lost is
skipped: the missing leg might be the winner. Candidates found on the listing's best quotes
(before fees: a series may waive them) are then sized on fresh order books, many per
`GET /markets/orderbooks`, by walking every leg's depth with its market's own fee schedule
(director.baskets.price_basket; a leg whose fees cannot be read or modelled drops its basket); a
basket is reported with its legs, the baskets every
book can fill, total cost, fees, guaranteed payout, net profit and settlement time. A basket
with more legs than one batched send can carry is skipped and counted, since it could not be
traded as one unit.

The old per-market "stale quote" heuristic is gone: its edge was the last trade price minus
the ask, which is not an edge. A failed page ends the scan early with what was read so far and
counts as an error; a malformed record is skipped and counted. Scans never overlap: a second
caller waits for the scan in progress and gets its result.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from director.baskets import (
    BasketPrice,
    LegBook,
    price_basket,
)
from director.clock import Clock, wall_clock
from director.exchanges.base import ExchangeError
from director.exchanges.kalshi.baskets import DEFAULT_MAX_LEGS
from director.exchanges.kalshi.batch import BOOKS_PER_REQUEST, asks
from director.exchanges.kalshi.models import KalshiEvent, KalshiMarket, Orderbook, Page
from director.fees import FeeSchedule
from director.models import ONE, BasketLeg, BasketOpportunity, Opportunity, Side
from director.scanners.sure_baskets import (
    Candidate,
    fee_on,
    no_fee,
    open_legs,
    sure_sides,
    top_of_book,
)

log = logging.getLogger(__name__)

ARB_SOURCE = "kalshi-arb"


class ScanVenue(Protocol):
    """What the scanner needs from the exchange (KalshiExchange provides it)."""

    def iter_event_pages(self) -> AsyncGenerator[Page[KalshiEvent], None]: ...

    async def get_orderbooks(self, tickers: Sequence[str]) -> dict[str, Orderbook]: ...

    async def fee_schedule(self, event: KalshiEvent, market: KalshiMarket) -> FeeSchedule: ...


@dataclass(frozen=True)
class ScanResult:
    baskets: list[BasketOpportunity]
    markets_scanned: int
    events_scanned: int
    duration_s: float
    errors: int
    started_at: datetime | None = None
    pages: int = 0
    complete: bool = True  # False when a page failed and the scan stopped early
    first_error: str = ""
    candidates: int = 0  # sides whose best quotes made a sure basket
    baskets_rejected: int = 0  # candidates the books did not support
    too_wide: int = 0  # sure baskets with more legs than one batched send
    detect_s: float = 0.0  # time spent deciding which events are candidates
    price_s: float = 0.0  # time spent walking the books

    @property
    def opportunities(self) -> list[Opportunity]:
        """Single-market opportunities: none. A basket is one unit (see `baskets`)."""
        return []

    def counters(self) -> dict[str, int]:
        return {
            "markets": self.markets_scanned,
            "events": self.events_scanned,
            "pages": self.pages,
            "errors": self.errors,
            "baskets": len(self.baskets),
            "basket_candidates": self.candidates,
            "baskets_rejected": self.baskets_rejected,
            "baskets_too_wide": self.too_wide,
        }


@dataclass
class _Tally:
    pages: int = 0
    events: int = 0
    markets: int = 0
    errors: int = 0
    first_error: str = ""
    complete: bool = True
    too_wide: int = 0
    detect_s: float = 0.0
    candidates: list[Candidate] = field(default_factory=list)

    def error(self, detail: str, count: int = 1) -> None:
        self.errors += count
        self.first_error = self.first_error or detail


class UniverseScanner:
    name = "kalshi-scanner"

    def __init__(
        self,
        exchange: ScanVenue,
        *,
        clock: Clock = wall_clock,
        validity: timedelta = timedelta(hours=1),
        min_profit: Decimal = Decimal("0.01"),
        max_contracts: int = 10_000,
        max_legs: int = DEFAULT_MAX_LEGS,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        if min_profit < 0 or max_contracts < 1 or max_legs < 2:
            raise ValueError("min_profit >= 0, max_contracts >= 1, max_legs >= 2")
        self.exchange = exchange
        self.clock = clock
        self.validity = validity
        self.min_profit = min_profit
        self.max_contracts = max_contracts
        self.max_legs = max_legs
        self.timer = timer
        self.last: ScanResult | None = None
        self._inflight: asyncio.Future[ScanResult] | None = None

    def counters(self) -> dict[str, int]:
        return self.last.counters() if self.last is not None else {}

    async def scan(self) -> ScanResult:
        """Scan the open universe; joins a scan already in progress instead of starting one."""
        if self._inflight is not None:
            return await asyncio.shield(self._inflight)
        inflight: asyncio.Future[ScanResult] = asyncio.get_running_loop().create_future()
        self._inflight = inflight
        try:
            result = await self._scan()
        except asyncio.CancelledError:
            inflight.cancel()
            raise
        except BaseException as exc:
            inflight.set_exception(exc)
            inflight.exception()  # retrieved: joiners re-raise it, nobody else must log it
            raise
        else:
            inflight.set_result(result)
            self.last = result
            return result
        finally:
            self._inflight = None

    async def _scan(self) -> ScanResult:
        now = self.clock()
        started = self.timer()
        tally = _Tally()
        try:
            async with aclosing(self.exchange.iter_event_pages()) as pages:
                async for page in pages:
                    tally.pages += 1
                    if page.errors:
                        tally.error(page.first_error, page.errors)
                    began = self.timer()
                    for event in page.items:
                        tally.events += 1
                        tally.markets += len(event.markets)
                        tally.candidates.extend(self.candidates(event, tally))
                    tally.detect_s += self.timer() - began
        except ExchangeError as exc:
            tally.complete = False
            tally.error(str(exc))
            log.warning("kalshi scan stopped after %d pages: %s", tally.pages, exc)
        books = await self._books(tally)
        schedules = await self._schedules(tally)
        began = self.timer()
        baskets = [
            b for c in tally.candidates if (b := self.priced(c, books, schedules, now)) is not None
        ]
        price_s = self.timer() - began
        baskets.sort(key=lambda b: (-b.net_profit, b.event, b.side.value))
        result = ScanResult(
            baskets=baskets,
            markets_scanned=tally.markets,
            events_scanned=tally.events,
            duration_s=self.timer() - started,
            errors=tally.errors,
            started_at=now,
            pages=tally.pages,
            complete=tally.complete,
            first_error=tally.first_error,
            candidates=len(tally.candidates),
            baskets_rejected=len(tally.candidates) - len(baskets),
            too_wide=tally.too_wide,
            detect_s=tally.detect_s,
            price_s=price_s,
        )
        log.info(
            "kalshi scan: %d markets in %d events (%d pages) in %.2fs: %d sure baskets of %d "
            "candidates, %d errors",
            result.markets_scanned,
            result.events_scanned,
            result.pages,
            result.duration_s,
            len(baskets),
            result.candidates,
            result.errors,
        )
        return result

    # --- detection ------------------------------------------------------------------------

    def candidates(self, event: KalshiEvent, tally: _Tally | None = None) -> list[Candidate]:
        """Sides of `event` whose best quotes already make a sure, profitable basket."""
        legs = open_legs(event)
        if legs is None:
            return []
        found = []
        for side in sure_sides(event):
            books = [LegBook(m.ticker, top_of_book(m, side), no_fee) for m in legs]
            if price_basket(side, books, max_contracts=self.max_contracts) is None:
                continue
            if len(legs) > self.max_legs:
                if tally is not None:
                    tally.too_wide += 1
                continue
            found.append(Candidate(event, side, legs))
        return found

    async def _books(self, tally: _Tally) -> dict[str, Orderbook]:
        """Fresh books for every candidate leg, 100 to a read; a failed read loses only its
        own legs (their baskets are then not reported: no depth, no size)."""
        tickers = list(dict.fromkeys(m.ticker for c in tally.candidates for m in c.legs))
        books: dict[str, Orderbook] = {}
        for start in range(0, len(tickers), BOOKS_PER_REQUEST):
            chunk = tickers[start : start + BOOKS_PER_REQUEST]
            try:
                books.update(await self.exchange.get_orderbooks(chunk))
            except ExchangeError as exc:
                tally.error(f"order books: {exc}")
        return books

    async def _schedules(self, tally: _Tally) -> dict[str, FeeSchedule]:
        """Each candidate leg's fee schedule (its series', with the event's overrides); a leg
        whose fees cannot be read leaves its basket unreported, never priced by a guess."""
        schedules: dict[str, FeeSchedule] = {}
        for candidate in tally.candidates:
            for market in candidate.legs:
                if market.ticker in schedules:
                    continue
                try:
                    schedules[market.ticker] = await self.exchange.fee_schedule(
                        candidate.event, market
                    )
                except ExchangeError as exc:
                    tally.error(f"fees of {market.ticker}: {exc}")
        return schedules

    # --- pricing --------------------------------------------------------------------------

    def priced(
        self,
        candidate: Candidate,
        books: Mapping[str, Orderbook],
        schedules: Mapping[str, FeeSchedule],
        now: datetime,
    ) -> BasketOpportunity | None:
        side, legs = candidate.side, candidate.legs
        if any(m.ticker not in books or m.ticker not in schedules for m in legs):
            return None
        if any(not schedules[m.ticker].modelled for m in legs):
            return None  # a fee we cannot compute: no sure profit
        leg_books = [
            LegBook(m.ticker, asks(books[m.ticker], side), fee_on(schedules[m.ticker], now))
            for m in legs
        ]
        price = price_basket(
            side, leg_books, max_contracts=self.max_contracts, min_profit=self.min_profit
        )
        if price is None:
            return None
        return self.opportunity(candidate, price, now)

    def opportunity(
        self, candidate: Candidate, price: BasketPrice, now: datetime
    ) -> BasketOpportunity | None:
        event, side, legs = candidate.event, candidate.side, candidate.legs
        closes = [m.close_time for m in legs]
        expires = min(now + self.validity, min(closes))
        if expires <= now:
            return None
        n = len(legs)
        pays = "at least n−1 whatever happens" if side is Side.NO else "1 (exactly one wins)"
        title = (
            f"{event.title}: buy {side.value.upper()} on all {n} legs, {price.contracts} "
            f"baskets; each pays {pays}; net ${price.net_profit:.2f} after "
            f"${price.fees:.2f} fees on ${price.cost:.2f}"
        )
        return BasketOpportunity(
            event=event.event_ticker,
            side=side,
            legs=[
                BasketLeg(
                    market=m.ticker,
                    side=side,
                    price=fill.limit,
                    quantity=fill.contracts,
                    cost=fill.cost,
                    fee=fill.fee,
                    title=m.display_title,
                )
                for m, fill in zip(legs, price.legs, strict=True)
            ],
            contracts=price.contracts,
            cost=price.cost,
            fees=price.fees,
            payout=price.payout,
            net_profit=price.net_profit,
            expires_at=expires,
            settles_at=max(closes),
            confidence=ONE,
            source=ARB_SOURCE,
            title=title,
            observed_at=now,
        )
