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
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

from director.exchanges.base import ExchangeError, OrderNotFound
from director.exchanges.paper_book import (
    AVG_PRICE_STEP,
    ZERO,
    Book,
    PaperAccount,
    Settlement,
    price_cents,
)
from director.exchanges.paper_scenarios import SCENARIOS, Scenario
from director.exchanges.paper_sim import (
    SimMarket,
    Simulator,
    step_of,
)
from director.exchanges.paper_store import (
    fill_from_row,
    load_book,
    market_from_row,
    order_from_row,
    settlement_from_row,
    write_book,
)
from director.models import (
    CENT,
    Fill,
    Market,
    Order,
    OrderAction,
    OrderRequest,
    OrderStatus,
    Position,
    Side,
)
from director.store import Store, iso

__all__ = ["PaperAccount", "PaperExchange", "Settlement"]

log = logging.getLogger(__name__)

MAX_ORDER_CONTRACTS = 1_000_000
MAX_CLIENT_ORDER_ID = 200
MAX_MARKETS = 20_000
MAX_STARTING_CASH = Decimal(10) ** 12

T = TypeVar("T")


def wall_clock() -> datetime:
    return datetime.now(UTC)


class PaperExchange:
    """The `Exchange` port over the simulated venue (see the module docstring)."""

    name = "paper"

    def __init__(self, store: Store, book: Book, clock: Callable[[], datetime]) -> None:
        """Use `await PaperExchange.open(...)`."""
        self._store = store
        self._book = book
        self._clock = clock
        self._lock = asyncio.Lock()
        self._writing: asyncio.Future[None] | None = None
        self._stale = False
        self._closed = False
        # Market models of the current step, built on demand: a sense that needs 150 of
        # 1,000 markets builds 150.
        self._cache: dict[str, Market] = {}
        self._snapshot: dict[str, Market] | None = None
        self._cache_key: tuple[int, int] | None = None

    @classmethod
    async def open(
        cls,
        store: Store,
        *,
        seed: int,
        n_markets: int,
        starting_cash: Decimal,
        clock: Callable[[], datetime] = wall_clock,
        scenario: Scenario = SCENARIOS["base"],
    ) -> PaperExchange:
        """The account in `store`, created on first use; later opens continue it (the seed
        and starting cash saved at creation win over the arguments). The scenario is not
        saved: it is the regime of this run (backtests name one; live paper runs `base`)."""
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        if (
            not isinstance(n_markets, int)
            or isinstance(n_markets, bool)
            or not 1 <= n_markets <= MAX_MARKETS
        ):
            raise ValueError(f"n_markets must be an integer in 1..{MAX_MARKETS}, got {n_markets!r}")
        if (
            not isinstance(starting_cash, Decimal)
            or not starting_cash.is_finite()
            or not 0 < starting_cash <= MAX_STARTING_CASH
            or starting_cash != starting_cash.quantize(CENT)
        ):
            raise ValueError(
                f"starting_cash must be a whole-cent Decimal in (0, {MAX_STARTING_CASH}]: "
                f"{starting_cash!r}"
            )
        now = _aware(clock())
        book = await load_book(store, n_markets)
        create = book is None
        if book is not None:
            book.sim.scenario = scenario
        if book is None:
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
            log.info(
                "paper account created: seed %d, %d markets, $%s", seed, n_markets, starting_cash
            )
        else:
            if book.sim.seed != seed:
                log.warning(
                    "paper account keeps the seed it was created with (%d), not %d",
                    book.sim.seed,
                    seed,
                )
            if book.starting_cash != starting_cash:
                log.info("paper account keeps its starting cash $%s", book.starting_cash)
            log.info("paper account loaded at simulated %s", book.sim.now.isoformat())
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
                market = self._market(ticker)
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
        start = "" if since is None else iso(_aware(since))
        async with self._lock:
            await self._sync(self._now())
            rows = await self._store.fetch(
                "SELECT * FROM paper_fills WHERE created_at >= ? ORDER BY seq", (start,)
            )
            return [fill_from_row(r) for r in rows]

    async def get_markets(self, tickers: Sequence[str] | None = None) -> list[Market]:
        if isinstance(tickers, str):
            raise ValueError("get_markets takes a list of tickers, not one string")
        async with self._lock:
            await self._sync(self._now())
            if tickers is None:
                return list(self._open_snapshot().values())
            wanted = list(dict.fromkeys(tickers))
            found = {t: m for t in wanted if (m := self._market(t)) is not None}
            missing = [t for t in wanted if t not in found and isinstance(t, str)]
            if missing:
                found.update(await self._saved_markets(missing))
            return [found[t] for t in wanted if t in found]

    async def place_order(self, request: OrderRequest) -> Order:
        request = _checked(request)
        async with self._lock:
            now = self._now()
            book = await self._sync(now)
            existing = book.resting_by_client(request.client_order_id)
            if existing is None:
                existing = await self._saved_order("client_order_id", request.client_order_id)
            if existing is not None:
                _same_request(existing, request)
                return existing
            order = self._mutate(lambda: book.place(request, now))
            self._cache_key = None  # a taking order moved the quote within the step
            await self._flush()
            return order

    async def order_by_client_id(self, market: str, client_order_id: str) -> Order | None:
        """The order `client_order_id` created on `market`, in any status, or None: how the
        director settles an order whose outcome it did not record (director/reconcile.py)."""
        async with self._lock:
            book = await self._sync(self._now())
            found = book.resting_by_client(client_order_id)
            if found is None:
                found = await self._saved_order("client_order_id", client_order_id)
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
                saved = await self._saved_order("order_id", order_id)
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
        now = _aware(now)
        async with self._lock:
            await self._sync(now)

    def markets_snapshot(self) -> dict[str, Market]:
        """Every open market as of the last advance; in memory, no I/O, no advance."""
        return dict(self._open_snapshot())

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
        start = "" if since is None else iso(_aware(since))
        async with self._lock:
            await self._sync(self._now())
            rows = await self._store.fetch(
                "SELECT * FROM paper_settlements WHERE settled_at >= ? ORDER BY settled_at, market",
                (start,),
            )
            return [settlement_from_row(r) for r in rows]

    # --- internals -----------------------------------------------------------------------

    def _now(self) -> datetime:
        now = max(_aware(self._clock()), self._book.last_now)
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
        self._cache_key = None

    def _fresh_cache(self) -> None:
        key = (id(self._book), self._book.sim.step)
        if key != self._cache_key:
            self._cache.clear()
            self._snapshot = None
            self._cache_key = key

    def _open_snapshot(self) -> dict[str, Market]:
        self._fresh_cache()
        if self._snapshot is None:
            self._snapshot = {}
            for sim_market in self._book.sim.open_markets():
                market = self._cache.get(sim_market.ticker) or self._public(sim_market)
                self._snapshot[sim_market.ticker] = self._cache[sim_market.ticker] = market
        return self._snapshot

    def _market(self, ticker: str) -> Market | None:
        self._fresh_cache()
        market = self._cache.get(ticker)
        if market is None:
            sim_market = self._book.sim.markets.get(ticker)
            if sim_market is None:
                return None
            market = self._cache[ticker] = self._public(sim_market)
        return market

    def _public(self, sim_market: SimMarket) -> Market:
        if not sim_market.is_open:
            return sim_market.to_market()
        return sim_market.to_market(self._book.sim.depth(sim_market))

    async def _saved_markets(self, tickers: Iterable[str]) -> dict[str, Market]:
        found: dict[str, Market] = {}
        wanted = list(tickers)
        for start in range(0, len(wanted), 500):  # SQLite's bound-parameter limit
            chunk = wanted[start : start + 500]
            rows = await self._store.fetch(
                f"SELECT * FROM paper_markets WHERE ticker IN ({', '.join('?' for _ in chunk)})",
                chunk,
            )
            for row in rows:
                found[row["ticker"]] = market_from_row(row).to_market()
        return found

    async def _saved_order(self, column: str, value: str) -> Order | None:
        assert column in ("order_id", "client_order_id")
        row = await self._store.fetch_one(
            f"SELECT * FROM paper_orders WHERE {column} = ?", (value,)
        )
        return None if row is None else order_from_row(row)


def _aware(ts: object) -> datetime:
    if not isinstance(ts, datetime) or ts.tzinfo is None:
        raise ValueError(f"expected an aware datetime, got {ts!r}")
    return ts.astimezone(UTC)


def _checked(request: OrderRequest) -> OrderRequest:
    """Re-validate a request (it may have been built without validation) and normalize it."""
    if not isinstance(request, OrderRequest):
        raise ExchangeError(f"expected an OrderRequest, got {type(request).__name__}")
    qty = request.quantity
    if not isinstance(qty, int) or isinstance(qty, bool) or not 1 <= qty <= MAX_ORDER_CONTRACTS:
        raise ExchangeError(
            f"quantity must be a whole number of contracts in 1..{MAX_ORDER_CONTRACTS}"
        )
    cid = request.client_order_id
    if not isinstance(cid, str) or not cid.strip() or len(cid) > MAX_CLIENT_ORDER_ID:
        raise ExchangeError(f"client_order_id must be 1..{MAX_CLIENT_ORDER_ID} characters")
    if not isinstance(request.market, str) or not request.market:
        raise ExchangeError("market ticker is missing")
    try:
        side, action = Side(request.side), OrderAction(request.action)
    except ValueError as exc:
        raise ExchangeError(str(exc)) from None
    price_cents(request.price)
    return request.model_copy(update={"side": side, "action": action})


def _same_request(order: Order, request: OrderRequest) -> None:
    """A reused client_order_id must mean the same order: a different one is a caller bug
    that must not pass silently as 'already placed'."""
    same = (
        order.market == request.market
        and order.side is request.side
        and order.action is request.action
        and order.price == request.price
        and order.quantity == request.quantity
    )
    if not same:
        raise ExchangeError(
            f"client_order_id {request.client_order_id} was already used for a different order "
            f"({order.order_id})"
        )
