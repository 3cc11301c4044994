"""The paper exchange: an embedded Kalshi-like venue for accounts without one, and for backtests.

Markets come from `paper_sim` (a 5-minute time grid, deterministic for a seed). The account on
top of them lives in `paper_book` (state and rules, no I/O) and `paper_store` (its tables); this
module is the venue over both:

- Time: every public call first advances the simulation to the step at or before `clock()`
  (`advance_to` does it for any time). Calls are serialized by a lock; the simulated clock never
  goes backwards.
- Orders are limit orders against finite books (paper_fills.py). A buy takes what it can at
  once, level by level up to its limit, as taker, paying Kalshi's taker fee per level; what it
  takes moves the quote (price impact that decays). The rest rests, holding back price ×
  quantity of cash, and fills (partly or whole) as maker at its own price when the step's
  flow reaches it in the queue, more often when the value moved against it; maker-fee series
  pay Kalshi's maker fee (cash for it is kept free while the order rests). Sells mirror this
  against the bid and may only sell contracts held and not already offered by other resting
  sells. Trading moves only this account's quotes, never the hidden probabilities.
- Positions are held per (market, side) at an average cost. Buying the side opposite a held one
  opens a second position rather than netting it as Kalshi does; the pair pays exactly $1 at
  settlement, so money is right either way, and `sell` is how a position is reduced.
- At its close a market settles: winning contracts pay $1, losing ones nothing, and orders still
  resting on it are canceled with their reserve released.
- Money: Decimal dollars, whole cents. The invariant, checked by the tests:
  cash + reserved + cost of positions == starting cash + realized P&L - fees paid.
- Persistence: state lives in memory and is written through to the `paper_*` tables in one
  transaction at the end of every call that changed anything, so a restart continues the same
  account, orders, markets and simulated time. If a write fails the last saved state is
  reloaded and the call fails: nothing is half-recorded. One process per database: a second
  writer is detected (the account row carries a revision) and refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from director.clock import Clock, wall_clock
from director.exchanges.base import ExchangeError, OrderNotFound
from director.exchanges.paper_book import (
    AVG_PRICE_STEP,
    ZERO,
    Book,
    PaperAccount,
    Settlement,
)
from director.exchanges.paper_checks import aware, check_account, checked, same_request
from director.exchanges.paper_quotes import QuoteCache
from director.exchanges.paper_scenarios import SCENARIOS, Scenario
from director.exchanges.paper_sim import (
    Simulator,
    step_of,
)
from director.exchanges.paper_store import (
    fills_since,
    load_book,
    saved_markets,
    saved_order,
    settlements_since,
    write_book,
)
from director.models import (
    Fill,
    Market,
    Order,
    OrderRequest,
    OrderStatus,
    Position,
)
from director.store import Store, iso

__all__ = ["PaperAccount", "PaperExchange", "Settlement"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class PaperExchange:
    """The `Exchange` port over the simulated venue (see the module docstring)."""

    name = "paper"

    def __init__(self, store: Store, book: Book, clock: Clock) -> None:
        """Use `await PaperExchange.open(...)`."""
        self._store = store
        self._book = book
        self._clock = clock
        self._lock = asyncio.Lock()
        self._writing: asyncio.Future[None] | None = None
        self._stale = False
        self._closed = False
        self._quotes = QuoteCache()

    @classmethod
    async def open(
        cls,
        store: Store,
        *,
        seed: int,
        n_markets: int,
        starting_cash: Decimal,
        clock: Clock = wall_clock,
        scenario: Scenario = SCENARIOS["base"],
    ) -> PaperExchange:
        """The account in `store`, created on first use; later opens continue it (the seed
        and starting cash saved at creation win over the arguments). The scenario is not
        saved: it is the regime of this run (backtests name one; live paper runs `base`)."""
        check_account(seed, n_markets, starting_cash)
        now = aware(clock())
        book = await load_book(store, n_markets)
        create = book is None
        if book is not None:
            book.sim.scenario = scenario
            _log_continued(book, seed, starting_cash)
        else:
            book = _new_book(seed, n_markets, starting_cash, now, scenario)
        exchange = cls(store, book, clock)
        if create:
            try:
                await write_book(store, book, create=True)
            except Exception as exc:
                raise ExchangeError(f"cannot create the paper account: {exc}") from exc
            book.saved()
        # Catch up now rather than inside the first timed SENSE call.
        await exchange.advance_to(now)
        return exchange

    # --- the Exchange port ---------------------------------------------------------------

    # A create is applied inside place_order, in the director's own database: a lookup that
    # misses it means it never happened, with no latency to wait out (director/reconcile.py).
    creates_apply_at_once = True

    async def get_balance(self) -> Decimal:
        async with self._lock:
            book = await self._sync(self._now())
            return book.cash

    async def get_positions(self) -> list[Position]:
        async with self._lock:
            book = await self._sync(self._now())
            out = []
            for (ticker, side), holding in sorted(book.holdings.items()):
                market = self._quotes.market(book, ticker)
                out.append(
                    Position(
                        market=ticker,
                        side=side,
                        quantity=holding.quantity,
                        avg_price=(holding.cost / holding.quantity).quantize(AVG_PRICE_STEP),
                        mark_price=None if market is None else market.mark(side),
                    )
                )
            return out

    async def get_resting_orders(self) -> list[Order]:
        async with self._lock:
            book = await self._sync(self._now())
            return list(book.resting.values())

    async def get_fills(self, since: datetime | None = None) -> list[Fill]:
        """Fills at or after `since` (all when None), oldest first."""
        start = "" if since is None else iso(aware(since))
        async with self._lock:
            await self._sync(self._now())
            return await fills_since(self._store, start)

    async def get_markets(self, tickers: Sequence[str] | None = None) -> list[Market]:
        if isinstance(tickers, str):
            raise ValueError("get_markets takes a list of tickers, not one string")
        async with self._lock:
            await self._sync(self._now())
            if tickers is None:
                return list(self._quotes.open_markets(self._book).values())
            wanted = list(dict.fromkeys(tickers))
            found = {t: m for t in wanted if (m := self._quotes.market(self._book, t)) is not None}
            missing = [t for t in wanted if t not in found and isinstance(t, str)]
            if missing:
                found.update(await saved_markets(self._store, missing))
            return [found[t] for t in wanted if t in found]

    async def place_order(self, request: OrderRequest) -> Order:
        request = checked(request)
        async with self._lock:
            now = self._now()
            book = await self._sync(now)
            existing = book.resting_by_client(request.client_order_id)
            if existing is None:
                existing = await saved_order(
                    self._store, "client_order_id", request.client_order_id
                )
            if existing is not None:
                same_request(existing, request)
                return existing
            order = self._mutate(lambda: book.place(request, now))
            self._quotes.invalidate()  # a taking order moved the quote within the step
            await self._flush()
            return order

    async def order_by_client_id(self, market: str, client_order_id: str) -> Order | None:
        """The order `client_order_id` created on `market`, in any status, or None: how the
        director settles an order whose outcome it did not record (director/reconcile.py)."""
        async with self._lock:
            book = await self._sync(self._now())
            found = book.resting_by_client(client_order_id)
            if found is None:
                found = await saved_order(self._store, "client_order_id", client_order_id)
        return found if found is not None and found.market == market else None

    async def cancel_order(self, order_id: str) -> Order:
        """Cancel a resting order, releasing what it held back. Canceling a canceled order
        returns it; a filled one is an ExchangeError; an unknown id is OrderNotFound."""
        if not isinstance(order_id, str) or not order_id:
            raise OrderNotFound(f"no order {order_id!r}")
        async with self._lock:
            now = self._now()
            book = await self._sync(now)
            if order_id not in book.resting:
                saved = await saved_order(self._store, "order_id", order_id)
                if saved is None:
                    raise OrderNotFound(f"no order {order_id}")
                if saved.status is OrderStatus.CANCELED:
                    return saved
                raise ExchangeError(f"order {order_id} is {saved.status.value}: nothing to cancel")
            order = self._mutate(lambda: book.cancel(order_id, now))
            await self._flush()
            return order

    async def close(self) -> None:
        """Save what is pending. The store stays open: it belongs to the caller."""
        async with self._lock:
            if self._closed:
                return
            await self._settle_pending_write()
            if not self._stale:
                await self._flush()
            self._closed = True

    # --- extras for the paper scanner, backtests and reports ----------------------------

    async def advance_to(self, now: datetime) -> None:
        """Run the simulation up to `now` (a time in the past of the simulation is a no-op)."""
        now = aware(now)
        async with self._lock:
            await self._sync(now)

    def markets_snapshot(self) -> dict[str, Market]:
        """Every open market as of the last advance; in memory, no I/O, no advance."""
        return dict(self._quotes.open_markets(self._book))

    def fair_value(self, ticker: str) -> float | None:
        """The hidden fair YES probability (1.0/0.0 once settled). Privileged: for the paper
        scanner and backtests only, never for a brain."""
        return self._book.sim.fair(ticker)

    @property
    def sim_time(self) -> datetime:
        return self._book.sim.now

    @property
    def seed(self) -> int:
        return self._book.sim.seed

    async def account(self) -> PaperAccount:
        async with self._lock:
            book = await self._sync(self._now())
            return book.account()

    async def settlements(self, since: datetime | None = None) -> list[Settlement]:
        """Markets this account held at their settlement, oldest first."""
        start = "" if since is None else iso(aware(since))
        async with self._lock:
            await self._sync(self._now())
            return await settlements_since(self._store, start)

    # --- internals -----------------------------------------------------------------------

    def _now(self) -> datetime:
        now = max(aware(self._clock()), self._book.last_now)
        self._book.last_now = now
        return now

    async def _sync(self, now: datetime) -> Book:
        """Under the lock: make the book usable, advance it to `now`, save."""
        if self._closed:
            raise ExchangeError("the paper exchange is closed")
        await self._settle_pending_write()
        if self._stale:
            await self._reload()
        book = self._book
        book.last_now = max(book.last_now, now)
        self._mutate(lambda: book.advance_to(step_of(now)))
        await self._flush()
        return book

    def _mutate(self, change: Callable[[], T]) -> T:
        """Run a synchronous change of the book. A refusal (ExchangeError) is raised before
        anything changes; anything else is a bug that may have left the book half-changed,
        so the saved state is reloaded before the next call."""
        try:
            return change()
        except ExchangeError:
            raise
        except Exception:
            self._stale = True
            raise

    async def _flush(self) -> None:
        if not self._book.dirty:
            return
        self._writing = asyncio.ensure_future(self._save(self._book))
        # Shielded: a caller's timeout must not cut a write in half. The next call waits
        # for it (`_settle_pending_write`) before touching the book.
        await asyncio.shield(self._writing)
        self._writing = None

    async def _save(self, book: Book) -> None:
        try:
            await write_book(self._store, book, create=False)
        except Exception as exc:
            log.error("paper exchange: saving failed, restoring the last saved state: %s", exc)
            self._stale = True
            with contextlib.suppress(Exception):
                await self._reload()
            if isinstance(exc, ExchangeError):
                raise
            raise ExchangeError(
                "the paper exchange could not save to its database; nothing was recorded"
            ) from exc
        book.saved()

    async def _settle_pending_write(self) -> None:
        writing, self._writing = self._writing, None
        if writing is not None:
            # Its failure was logged and handled (reloaded) where it happened.
            with contextlib.suppress(Exception):
                await asyncio.shield(writing)

    async def _reload(self) -> None:
        try:
            book = await load_book(self._store, self._book.sim.n_markets)
        except ExchangeError:
            raise
        except Exception as exc:
            raise ExchangeError(f"the paper exchange cannot read its database: {exc}") from exc
        if book is None:
            raise ExchangeError("the paper account vanished from the database")
        book.sim.scenario = self._book.sim.scenario
        self._book = book
        self._stale = False
        self._quotes.invalidate()


def _new_book(
    seed: int, n_markets: int, starting_cash: Decimal, now: datetime, scenario: Scenario
) -> Book:
    """A fresh account at `now`'s step, its simulation born from `seed`."""
    step = step_of(now)
    book = Book(
        sim=Simulator.genesis(seed=seed, n_markets=n_markets, step=step, scenario=scenario),
        starting_cash=starting_cash,
        cash=starting_cash,
        fees_paid=ZERO,
        realized_pnl=ZERO,
        origin_step=step,
        last_now=now,
        next_order_seq=1,
        next_fill_seq=1,
        revision=0,
        created_at=now,
        account_dirty=True,
    )
    log.info("paper account created: seed %d, %d markets, $%s", seed, n_markets, starting_cash)
    return book


def _log_continued(book: Book, seed: int, starting_cash: Decimal) -> None:
    """A loaded account keeps what it was created with: say where the arguments differ."""
    if book.sim.seed != seed:
        log.warning(
            "paper account keeps the seed it was created with (%d), not %d", book.sim.seed, seed
        )
    if book.starting_cash != starting_cash:
        log.info("paper account keeps its starting cash $%s", book.starting_cash)
    log.info("paper account loaded at simulated %s", book.sim.now.isoformat())
