"""The full-universe Kalshi scanner: every open event, every market, one pass.

It reads `GET /events?with_nested_markets=true&status=open` page by page (200 events a page),
so all legs of an event come from one response, quoted at the same moment, which is what an
intra-event arbitrage needs. It finds:

- **Event baskets** in mutually exclusive events (at most one market resolves YES):
  - NO basket: buying NO on every leg pays at least n − 1 dollars, so when the YES bids sum
    above 1 plus fees the profit is locked in whatever happens (confidence high);
  - YES basket: buying YES on every leg pays 1 dollar if exactly one leg resolves YES, so when
    the YES asks sum below 1 after fees it profits, unless the event can end with no winner,
    which Kalshi's data does not rule out (confidence lower).
  The best candidates are re-priced from fresh order books before they are reported.
- **Near-expiry stale quotes**: a market closing soon, with a wide spread, traded in the last
  day above the price now asked for one side: the ask looks stale. A heuristic, reported
  with modest confidence.

Every edge is net of Kalshi's taker fee (rounded up per order, at `reference_contracts`), in
dollars per contract; a basket's edge is split evenly over its legs, because the edge is only
real when every leg is bought. A failed page ends the scan early with what was read so far
and counts as an error; a malformed record is skipped and counted. Scans never overlap: a
second caller waits for the scan in progress and gets its result.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Protocol

from director.exchanges.base import ExchangeError
from director.exchanges.kalshi_models import KalshiEvent, KalshiMarket, Orderbook, Page
from director.fees import taker_fee
from director.models import CENT, ONE, Opportunity, Side

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
EDGE_PLACES = Decimal("0.0001")
ZERO = Decimal(0)

ARB_SOURCE = "kalshi-arb"
EXPIRY_SOURCE = "kalshi-expiry"
NO_BASKET_CONFIDENCE = Decimal("0.9")
YES_BASKET_CONFIDENCE = Decimal("0.6")
STALE_QUOTE_CONFIDENCE = Decimal("0.5")
THIN_DEPTH_FACTOR = Decimal("0.75")
UNCONFIRMED_FACTOR = Decimal("0.85")


def utc_now() -> datetime:
    return datetime.now(UTC)


class ScanVenue(Protocol):
    """What the scanner needs from the exchange (KalshiExchange provides it)."""

    def iter_event_pages(self) -> AsyncGenerator[Page[KalshiEvent], None]: ...

    async def get_orderbook(self, ticker: str, *, depth: int | None = None) -> Orderbook: ...


def fee_per_contract(price: Decimal, contracts: int, multiplier: Decimal = ONE) -> Decimal:
    return taker_fee(contracts, price, multiplier) / contracts


@dataclass(frozen=True)
class Basket:
    """Buy `side` on every leg of a mutually exclusive event, one contract each."""

    event: KalshiEvent
    side: Side
    legs: tuple[KalshiMarket, ...]
    prices: tuple[Decimal, ...]  # what one contract of `side` costs on each leg
    sizes: tuple[Decimal, ...]  # contracts offered at that price
    net: Decimal  # dollars per basket after fees (for YES: if exactly one leg wins)
    confirmed: bool = False

    @property
    def depth(self) -> Decimal:
        return min(self.sizes)


def basket_net(
    side: Side, prices: Sequence[Decimal], contracts: int, multiplier: Decimal
) -> Decimal:
    """Profit of one basket after fees: YES pays 1, NO pays at least n − 1."""
    fees = sum((fee_per_contract(p, contracts, multiplier) for p in prices), ZERO)
    payout = ONE if side is Side.YES else Decimal(len(prices) - 1)
    return payout - sum(prices, ZERO) - fees


@dataclass(frozen=True)
class ScanResult:
    opportunities: list[Opportunity]
    markets_scanned: int
    events_scanned: int
    duration_s: float
    errors: int
    started_at: datetime | None = None
    pages: int = 0
    complete: bool = True  # False when a page failed and the scan stopped early
    first_error: str = ""
    baskets_confirmed: int = 0
    baskets_rejected: int = 0  # candidates the fresh order books did not support

    def counters(self) -> dict[str, int]:
        return {
            "markets": self.markets_scanned,
            "events": self.events_scanned,
            "pages": self.pages,
            "errors": self.errors,
            "opportunities": len(self.opportunities),
            "baskets_rejected": self.baskets_rejected,
        }


@dataclass
class _Tally:
    pages: int = 0
    events: int = 0
    markets: int = 0
    errors: int = 0
    first_error: str = ""
    complete: bool = True
    baskets: list[Basket] = field(default_factory=list)
    stale: list[Opportunity] = field(default_factory=list)

    def error(self, detail: str, count: int = 1) -> None:
        self.errors += count
        self.first_error = self.first_error or detail


class UniverseScanner:
    name = "kalshi-scanner"

    def __init__(
        self,
        exchange: ScanVenue,
        *,
        clock: Clock = utc_now,
        min_edge: Decimal = Decimal("0.02"),
        near_expiry: timedelta = timedelta(hours=24),
        min_spread: Decimal = Decimal("0.05"),
        validity: timedelta = timedelta(hours=1),
        reference_contracts: int = 10,
        confirm_with_books: bool = True,
        max_confirmations: int = 20,
        book_concurrency: int = 4,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        if min_edge < 0 or reference_contracts < 1 or book_concurrency < 1:
            raise ValueError("min_edge >= 0, reference_contracts >= 1, book_concurrency >= 1")
        self.exchange = exchange
        self.clock = clock
        self.min_edge = min_edge
        self.near_expiry = near_expiry
        self.min_spread = min_spread
        self.validity = validity
        self.contracts = reference_contracts
        self.confirm_with_books = confirm_with_books
        self.max_confirmations = max_confirmations
        self.book_concurrency = book_concurrency
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
                    for event in page.items:
                        tally.events += 1
                        tally.markets += len(event.markets)
                        tally.baskets.extend(self.baskets(event))
                        tally.stale.extend(self.stale_quotes(event, now))
        except ExchangeError as exc:
            tally.complete = False
            tally.error(str(exc))
            log.warning("kalshi scan stopped after %d pages: %s", tally.pages, exc)
        baskets, rejected = await self._confirm(tally)
        opportunities = [o for b in baskets for o in self.basket_opportunities(b, now)]
        opportunities.extend(tally.stale)
        opportunities.sort(key=lambda o: (-o.edge, o.market))
        result = ScanResult(
            opportunities=opportunities,
            markets_scanned=tally.markets,
            events_scanned=tally.events,
            duration_s=self.timer() - started,
            errors=tally.errors,
            started_at=now,
            pages=tally.pages,
            complete=tally.complete,
            first_error=tally.first_error,
            baskets_confirmed=sum(1 for b in baskets if b.confirmed),
            baskets_rejected=rejected,
        )
        log.info(
            "kalshi scan: %d markets in %d events (%d pages) in %.2fs: %d opportunities, %d errors",
            result.markets_scanned,
            result.events_scanned,
            result.pages,
            result.duration_s,
            len(result.opportunities),
            result.errors,
        )
        return result

    # --- event baskets ------------------------------------------------------------------

    def _multiplier(self, event: KalshiEvent) -> Decimal:
        return event.fee_multiplier if event.fee_multiplier is not None else ONE

    def baskets(self, event: KalshiEvent) -> list[Basket]:
        """Candidate baskets in one event, priced from the listing's quotes."""
        if not event.mutually_exclusive or event.bad_markets:
            # A leg we could not read might be the winner: no basket without every leg.
            return []
        legs: list[KalshiMarket] = []
        for market in event.markets:
            if market.is_open and market.is_binary:
                legs.append(market)
            elif market.result is not Side.NO:
                # A closed leg that has not lost could still be the winner: no basket of the
                # open legs is sure of anything.
                return []
        if len(legs) < 2:
            return []
        found = []
        for side in (Side.NO, Side.YES):
            prices = [m.ask(side) for m in legs]
            if any(p is None for p in prices):
                continue
            known = [p for p in prices if p is not None]
            net = basket_net(side, known, self.contracts, self._multiplier(event))
            if net >= self.min_edge:
                sizes = tuple(m.ask_size(side) for m in legs)
                found.append(Basket(event, side, tuple(legs), tuple(known), sizes, net))
        return found

    async def _confirm(self, tally: _Tally) -> tuple[list[Basket], int]:
        """Re-price the best candidates from fresh order books; drop those that vanished."""
        ranked = sorted(tally.baskets, key=lambda b: -b.net)
        if not self.confirm_with_books or not ranked:
            return ranked, 0
        checking = ranked[: self.max_confirmations]
        gate = asyncio.Semaphore(self.book_concurrency)

        async def book(ticker: str) -> Orderbook | None:
            async with gate:
                try:
                    return await self.exchange.get_orderbook(ticker)
                except ExchangeError as exc:
                    tally.error(f"order book {ticker}: {exc}")
                    return None

        tickers = sorted({m.ticker for b in checking for m in b.legs})
        books = dict(zip(tickers, await asyncio.gather(*(book(t) for t in tickers)), strict=True))
        kept: list[Basket] = []
        rejected = 0
        for basket in checking:
            legs_books = [books[m.ticker] for m in basket.legs]
            if any(b is None for b in legs_books):
                kept.append(basket)  # could not check: reported unconfirmed
                continue
            levels = [b.best_ask(basket.side) for b in legs_books if b is not None]
            if len(levels) != len(basket.legs) or any(level is None for level in levels):
                rejected += 1
                continue
            prices = tuple(level.price for level in levels if level is not None)
            sizes = tuple(level.size for level in levels if level is not None)
            net = basket_net(basket.side, prices, self.contracts, self._multiplier(basket.event))
            if net < self.min_edge:
                rejected += 1
                continue
            kept.append(replace(basket, prices=prices, sizes=sizes, net=net, confirmed=True))
        kept.extend(ranked[self.max_confirmations :])
        return kept, rejected

    def basket_opportunities(self, basket: Basket, now: datetime) -> list[Opportunity]:
        n = len(basket.legs)
        confidence = NO_BASKET_CONFIDENCE if basket.side is Side.NO else YES_BASKET_CONFIDENCE
        if basket.depth < self.contracts:
            confidence *= THIN_DEPTH_FACTOR
        if not basket.confirmed:
            confidence *= UNCONFIRMED_FACTOR
        confidence = confidence.quantize(CENT, rounding=ROUND_FLOOR)
        edge = (basket.net / n).quantize(EDGE_PLACES, rounding=ROUND_FLOOR)
        closes = min(m.close_time for m in basket.legs)
        expires = min(now + self.validity, closes)
        if expires <= now:
            return []
        pays = "at least n−1 whatever happens" if basket.side is Side.NO else "1 if one leg wins"
        out = []
        for index, (leg, leg_price) in enumerate(zip(basket.legs, basket.prices, strict=True), 1):
            title = (
                f"{basket.event.title} — leg {index}/{n} ({leg.display_title}): buy "
                f"{basket.side.value.upper()} on all {n} legs at {leg_price} here; the basket "
                f"pays {pays}, ${basket.net:.4f} net of fees per basket, depth "
                f"{basket.depth.to_integral_value(rounding=ROUND_FLOOR)}"
                f"{'' if basket.confirmed else ' (order books not checked)'}"
            )
            out.append(
                Opportunity(
                    market=leg.ticker,
                    side=basket.side,
                    edge=edge,
                    confidence=confidence,
                    expires_at=expires,
                    source=ARB_SOURCE,
                    title=title,
                    observed_at=now,
                )
            )
        return out

    # --- near-expiry stale quotes -------------------------------------------------------

    def stale_quotes(self, event: KalshiEvent, now: datetime) -> list[Opportunity]:
        found: list[Opportunity] = []
        horizon = now + self.near_expiry
        multiplier = self._multiplier(event)
        for market in event.markets:
            if not (market.is_open and market.is_binary) or market.last_price is None:
                continue
            if market.volume_24h <= 0 or not now < market.close_time <= horizon:
                continue
            bid, ask = market.yes_bid, market.yes_ask
            if bid is not None and ask is not None and ask - bid < self.min_spread:
                continue
            for side in (Side.YES, Side.NO):
                price = market.ask(side)
                if price is None:
                    continue
                traded = market.last_price if side is Side.YES else ONE - market.last_price
                fee = fee_per_contract(price, self.contracts, multiplier)
                edge = (traded - price - fee).quantize(EDGE_PLACES, rounding=ROUND_FLOOR)
                if edge < self.min_edge:
                    continue
                found.append(
                    Opportunity(
                        market=market.ticker,
                        side=side,
                        edge=edge,
                        confidence=STALE_QUOTE_CONFIDENCE,
                        expires_at=min(now + self.validity, market.close_time),
                        source=EXPIRY_SOURCE,
                        title=(
                            f"{market.display_title}: {side.value.upper()} offered at {price}, "
                            f"last traded at {traded}, closes {market.close_time:%Y-%m-%d %H:%M}"
                            " UTC; the quote looks stale"
                        ),
                        observed_at=now,
                    )
                )
        return found
