"""The paper exchange: an embedded Kalshi-like venue for accounts without one, and for backtests.

Markets come from `paper_sim` (a 5-minute time grid, deterministic for a seed). This module is
the account on top of them, and its persistence:

- Time: every public call first advances the simulation to the step at or before `clock()`
  (`advance_to` does it for any time). Calls are serialized by a lock; the simulated clock never
  goes backwards.
- Orders are limit orders. A buy priced at or above the current ask of its side fills at once, as
  taker, at the ask, paying Kalshi's taker fee; depth at the touch is unlimited (documented
  simplification: orders here are small against real books). Otherwise it rests, holding back
  price × quantity of cash, and fills whole, as maker (no fee) at its own price, at the first
  later step whose quote crosses it. Sells mirror this against the bid and may only sell
  contracts held and not already offered by other resting sells. Orders never move the market.
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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, TypeVar

import aiosqlite

from director.exchanges.base import ExchangeError, InsufficientFunds, MarketClosed, OrderNotFound
from director.exchanges.paper_sim import (
    CENTS,
    STEP_SECONDS,
    STEPS_PER_HOUR,
    Kind,
    SimMarket,
    Simulator,
    step_of,
    time_of,
)
from director.fees import taker_fee
from director.models import (
    CENT,
    Fill,
    Market,
    MarketStatus,
    Order,
    OrderAction,
    OrderRequest,
    OrderStatus,
    Position,
    Side,
)
from director.store import Store, iso

log = logging.getLogger(__name__)

ZERO = Decimal(0)
AVG_PRICE_STEP = Decimal("0.0001")
MAX_ORDER_CONTRACTS = 1_000_000
MAX_CLIENT_ORDER_ID = 200
MAX_MARKETS = 20_000
MAX_STARTING_CASH = Decimal(10) ** 12
# Settled markets stay in memory this long (for get_markets on a just-settled position);
# older ones are read from the database on demand.
RETAIN_STEPS = 48 * STEPS_PER_HOUR
_CATCH_UP_LOG_STEPS = 12 * STEPS_PER_HOUR

T = TypeVar("T")


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PaperAccount:
    """The account's books at one moment (for backtests, reports and tests)."""

    seed: int
    starting_cash: Decimal
    cash: Decimal  # available: resting buys' reserve already taken out
    reserved: Decimal  # held back by resting buys
    positions_cost: Decimal  # what the contracts still held cost
    fees_paid: Decimal
    realized_pnl: Decimal  # from sells and settlements, before fees
    sim_time: datetime

    @property
    def balanced(self) -> bool:
        """The conservation invariant; False would be a bug."""
        held = self.cash + self.reserved + self.positions_cost
        return held == self.starting_cash + self.realized_pnl - self.fees_paid


@dataclass(frozen=True)
class Settlement:
    """How a market this account held settled (fees are in the fills)."""

    market: str
    event_ticker: str
    result: Side
    settled_at: datetime
    fair_at_close: float
    yes_quantity: int
    no_quantity: int
    cost: Decimal
    payout: Decimal

    @property
    def pnl(self) -> Decimal:
        return self.payout - self.cost


@dataclass(slots=True)
class _Holding:
    quantity: int
    cost: Decimal  # whole cents: what the contracts held were bought for


def _order_seq(order_id: str) -> int:
    return int(order_id.split("-", 1)[1])


def price_cents(price: object) -> int:
    """Whole cents 1..99 of a Decimal dollar price, or ExchangeError saying why not."""
    if not isinstance(price, Decimal) or not price.is_finite():
        raise ExchangeError(f"price must be a finite Decimal, got {price!r}")
    try:
        whole = price.quantize(CENT)
    except InvalidOperation:
        raise ExchangeError(f"price {price} is not a valid amount") from None
    if whole != price:
        raise ExchangeError(f"price {price} is not a whole cent")
    if not CENTS[1] <= price <= CENTS[99]:
        raise ExchangeError(f"price {price} is outside 0.01-0.99")
    return int(whole * 100)


# --- the book: the account's state and rules, in memory, no I/O --------------------------


@dataclass
class _Book:
    sim: Simulator
    starting_cash: Decimal
    cash: Decimal
    fees_paid: Decimal
    realized_pnl: Decimal
    origin_step: int
    last_now: datetime
    next_order_seq: int
    next_fill_seq: int
    revision: int
    created_at: datetime
    holdings: dict[tuple[str, Side], _Holding] = field(default_factory=dict)
    resting: dict[str, Order] = field(default_factory=dict)  # by order id, in seq order
    # What the next write must save.
    orders_dirty: dict[str, tuple[Order, datetime]] = field(default_factory=dict)
    new_fills: list[Fill] = field(default_factory=list)
    holdings_dirty: set[tuple[str, Side]] = field(default_factory=set)
    new_settlements: list[Settlement] = field(default_factory=list)
    account_dirty: bool = False
    evicted_at: int = 0

    @property
    def dirty(self) -> bool:
        return bool(
            self.account_dirty
            or self.sim.dirty
            or self.orders_dirty
            or self.new_fills
            or self.holdings_dirty
            or self.new_settlements
        )

    def saved(self) -> None:
        self.sim.saved()
        self.orders_dirty.clear()
        self.new_fills.clear()
        self.holdings_dirty.clear()
        self.new_settlements.clear()
        self.account_dirty = False
        if self.sim.step - self.evicted_at >= STEPS_PER_HOUR:
            self.sim.evict(self.sim.step - RETAIN_STEPS)
            self.evicted_at = self.sim.step

    @property
    def reserved(self) -> Decimal:
        return sum((o.reserved for o in self.resting.values()), ZERO)

    def offered(self, market: str, side: Side) -> int:
        """Contracts of (market, side) that resting sells already promise."""
        return sum(
            o.remaining
            for o in self.resting.values()
            if o.action is OrderAction.SELL and o.market == market and o.side is side
        )

    def resting_by_client(self, client_order_id: str) -> Order | None:
        return next(
            (o for o in self.resting.values() if o.client_order_id == client_order_id), None
        )

    def account(self) -> PaperAccount:
        return PaperAccount(
            seed=self.sim.seed,
            starting_cash=self.starting_cash,
            cash=self.cash,
            reserved=self.reserved,
            positions_cost=sum((h.cost for h in self.holdings.values()), ZERO),
            fees_paid=self.fees_paid,
            realized_pnl=self.realized_pnl,
            sim_time=self.sim.now,
        )

    # --- time ----------------------------------------------------------------------------

    def advance_to(self, target: int) -> int:
        """Step the simulation up to `target`; returns how many steps were taken."""
        steps = max(0, target - self.sim.step)
        if steps >= _CATCH_UP_LOG_STEPS:
            log.info("paper exchange: catching up %d steps (%s)", steps, time_of(target))
        for _ in range(steps):
            result = self.sim.advance()
            at = time_of(result.step)
            for market in result.settled:
                self._settle(market, at)
            self._match(at)
        if steps:
            self.account_dirty = True
        return steps

    def _settle(self, market: SimMarket, at: datetime) -> None:
        for order in [o for o in self.resting.values() if o.market == market.ticker]:
            self._cancel(order, at)
        yes = self.holdings.pop((market.ticker, Side.YES), None)
        no = self.holdings.pop((market.ticker, Side.NO), None)
        if yes is None and no is None:
            return
        assert market.result is not None and market.fair_at_close is not None
        won = yes if market.result is Side.YES else no
        payout = Decimal(won.quantity) if won is not None else ZERO
        cost = (yes.cost if yes else ZERO) + (no.cost if no else ZERO)
        self.cash += payout
        self.realized_pnl += payout - cost
        self.holdings_dirty.update({(market.ticker, Side.YES), (market.ticker, Side.NO)})
        self.new_settlements.append(
            Settlement(
                market=market.ticker,
                event_ticker=market.event_ticker,
                result=market.result,
                settled_at=at,
                fair_at_close=market.fair_at_close,
                yes_quantity=yes.quantity if yes else 0,
                no_quantity=no.quantity if no else 0,
                cost=cost,
                payout=payout,
            )
        )
        self.account_dirty = True

    def _match(self, at: datetime) -> None:
        """Fill every resting order the new quotes cross, at its own price, as maker."""
        for order in list(self.resting.values()):
            market = self.sim.markets[order.market]
            cents = price_cents(order.price)
            if order.action is OrderAction.BUY:
                ask = market.ask_cents(order.side)
                crossed = ask is not None and ask <= cents
            else:
                bid = market.bid_cents(order.side)
                crossed = bid is not None and bid >= cents
            if crossed:
                del self.resting[order.order_id]
                filled = order.model_copy(update={"remaining": 0, "status": OrderStatus.FILLED})
                self.orders_dirty[order.order_id] = (filled, at)
                self._fill(filled, order.remaining, order.price, ZERO, taker=False, at=at)

    # --- orders --------------------------------------------------------------------------

    def place(self, request: OrderRequest, now: datetime) -> Order:
        """Execute a validated request; refusals raise before anything changes."""
        market = self.sim.markets.get(request.market)
        if market is None or not market.is_open:
            raise MarketClosed(f"market {request.market} is not open for trading")
        cents = price_cents(request.price)
        qty, side = request.quantity, request.side
        if request.action is OrderAction.BUY:
            ask = market.ask_cents(side)
            if ask is not None and cents >= ask:
                fill_price = CENTS[ask]
                fee = taker_fee(qty, fill_price)
                self._require_cash(fill_price * qty + fee, request, "with the taker fee")
                order = self._new_order(request, OrderStatus.FILLED, 0, now)
                self._fill(order, qty, fill_price, fee, taker=True, at=now)
                return order
            self._require_cash(request.price * qty, request, "to rest")
            order = self._new_order(request, OrderStatus.RESTING, qty, now)
            self.cash -= request.price * qty
            self.resting[order.order_id] = order
            return order
        held = self.holdings.get((request.market, side))
        held_qty = held.quantity if held else 0
        offered = self.offered(request.market, side)
        if qty > held_qty - offered:
            also = f", {offered} already offered by resting sells" if offered else ""
            raise ExchangeError(
                f"cannot sell {qty} {side.value} of {request.market}: {held_qty} held{also}"
            )
        bid = market.bid_cents(side)
        if bid is not None and cents <= bid:
            fill_price = CENTS[bid]
            order = self._new_order(request, OrderStatus.FILLED, 0, now)
            self._fill(order, qty, fill_price, taker_fee(qty, fill_price), taker=True, at=now)
            return order
        order = self._new_order(request, OrderStatus.RESTING, qty, now)
        self.resting[order.order_id] = order
        return order

    def cancel(self, order_id: str, now: datetime) -> Order:
        order = self.resting.get(order_id)
        if order is None:
            raise OrderNotFound(f"no resting order {order_id}")
        return self._cancel(order, now)

    def _cancel(self, order: Order, at: datetime) -> Order:
        del self.resting[order.order_id]
        self.cash += order.reserved
        canceled = order.model_copy(update={"status": OrderStatus.CANCELED})
        self.orders_dirty[order.order_id] = (canceled, at)
        self.account_dirty = True
        return canceled

    def _require_cash(self, needed: Decimal, request: OrderRequest, why: str) -> None:
        if needed > self.cash:
            raise InsufficientFunds(
                f"{request.action.value} {request.quantity} {request.side.value} of "
                f"{request.market} needs ${needed} {why}; ${self.cash} available"
            )

    def _new_order(
        self, request: OrderRequest, status: OrderStatus, remaining: int, now: datetime
    ) -> Order:
        order = Order(
            order_id=f"po-{self.next_order_seq:08d}",
            client_order_id=request.client_order_id,
            market=request.market,
            side=request.side,
            action=request.action,
            price=request.price,
            quantity=request.quantity,
            remaining=remaining,
            status=status,
            created_at=now,
        )
        self.next_order_seq += 1
        self.orders_dirty[order.order_id] = (order, now)
        self.account_dirty = True
        return order

    def _fill(
        self, order: Order, qty: int, price: Decimal, fee: Decimal, *, taker: bool, at: datetime
    ) -> None:
        key = (order.market, order.side)
        amount = price * qty
        if order.action is OrderAction.BUY:
            holding = self.holdings.setdefault(key, _Holding(0, ZERO))
            holding.quantity += qty
            holding.cost += amount
            if taker:  # a maker buy paid from its reserve, which left with the resting order
                self.cash -= amount + fee
        else:
            holding = self.holdings[key]
            if qty == holding.quantity:
                released = holding.cost
            else:
                released = (holding.cost * qty / holding.quantity).quantize(
                    CENT, rounding=ROUND_HALF_EVEN
                )
            holding.quantity -= qty
            holding.cost -= released
            if holding.quantity == 0:
                del self.holdings[key]
            self.cash += amount - fee
            self.realized_pnl += amount - released
        self.fees_paid += fee
        self.holdings_dirty.add(key)
        self.account_dirty = True
        self.new_fills.append(
            Fill(
                fill_id=f"pf-{self.next_fill_seq:08d}",
                order_id=order.order_id,
                market=order.market,
                side=order.side,
                action=order.action,
                price=price,
                quantity=qty,
                fee=fee,
                is_taker=taker,
                created_at=at,
            )
        )
        self.next_fill_seq += 1


# --- persistence ---------------------------------------------------------------------------

_MARKET_COLUMNS = (
    "ticker",
    "seq",
    "event_ticker",
    "series",
    "title",
    "kind",
    "open_step",
    "close_step",
    "x",
    "vol",
    "jump_p",
    "bias",
    "bias_sd",
    "bias_phi",
    "spread",
    "quote_noise",
    "yes_bid",
    "yes_ask",
    "last_price",
    "volume",
    "status",
    "result",
    "fair_at_close",
)
_MARKET_MUTABLE = (
    "x",
    "bias",
    "yes_bid",
    "yes_ask",
    "last_price",
    "volume",
    "status",
    "result",
    "fair_at_close",
)
_INSERT_MARKET = (
    f"INSERT INTO paper_markets ({', '.join(_MARKET_COLUMNS)})"
    f" VALUES ({', '.join('?' for _ in _MARKET_COLUMNS)})"
)
_UPDATE_MARKET = (
    f"UPDATE paper_markets SET {', '.join(f'{c} = ?' for c in _MARKET_MUTABLE)} WHERE ticker = ?"
)
_UPSERT_ORDER = (
    "INSERT INTO paper_orders (order_id, seq, client_order_id, market, side, action, price,"
    " quantity, remaining, status, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (order_id) DO UPDATE SET remaining = excluded.remaining,"
    " status = excluded.status, updated_at = excluded.updated_at"
)
_INSERT_FILL = (
    "INSERT INTO paper_fills (fill_id, seq, order_id, market, side, action, price, quantity,"
    " fee, is_taker, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_POSITION = (
    "INSERT INTO paper_positions (market, side, quantity, cost) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (market, side) DO UPDATE SET quantity = excluded.quantity, cost = excluded.cost"
)
_INSERT_SETTLEMENT = (
    "INSERT INTO paper_settlements (market, event_ticker, result, settled_at, fair_at_close,"
    " yes_quantity, no_quantity, cost, payout, pnl) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_ACCOUNT_VALUES = (
    "n_markets",
    "cash",
    "fees_paid",
    "realized_pnl",
    "sim_step",
    "last_now",
    "next_market_seq",
    "next_order_seq",
    "next_fill_seq",
    "updated_at",
)


def _market_update(m: SimMarket) -> tuple[Any, ...]:
    # In _MARKET_MUTABLE's order, then the key.
    return (
        m.x,
        m.bias,
        m.yes_bid,
        m.yes_ask,
        m.last_price,
        m.volume,
        m.status.value,
        None if m.result is None else m.result.value,
        m.fair_at_close,
        m.ticker,
    )


def _market_row(m: SimMarket) -> tuple[Any, ...]:
    return (
        m.ticker,
        m.seq,
        m.event_ticker,
        m.series,
        m.title,
        m.kind.value,
        m.open_step,
        m.close_step,
        m.x,
        m.vol,
        m.jump_p,
        m.bias,
        m.bias_sd,
        m.bias_phi,
        m.spread,
        m.quote_noise,
        m.yes_bid,
        m.yes_ask,
        m.last_price,
        m.volume,
        m.status.value,
        None if m.result is None else m.result.value,
        m.fair_at_close,
    )


def _market_from_row(row: aiosqlite.Row) -> SimMarket:
    values = {c: row[c] for c in _MARKET_COLUMNS}
    values["kind"] = Kind(values["kind"])
    values["status"] = MarketStatus(values["status"])
    values["result"] = None if values["result"] is None else Side(values["result"])
    return SimMarket(**values)


def _order_from_row(row: aiosqlite.Row) -> Order:
    return Order(
        order_id=row["order_id"],
        client_order_id=row["client_order_id"],
        market=row["market"],
        side=Side(row["side"]),
        action=OrderAction(row["action"]),
        price=Decimal(row["price"]),
        quantity=row["quantity"],
        remaining=row["remaining"],
        status=OrderStatus(row["status"]),
        created_at=datetime.fromisoformat(row["created_at"]),
    )


def _fill_from_row(row: aiosqlite.Row) -> Fill:
    return Fill(
        fill_id=row["fill_id"],
        order_id=row["order_id"],
        market=row["market"],
        side=Side(row["side"]),
        action=OrderAction(row["action"]),
        price=Decimal(row["price"]),
        quantity=row["quantity"],
        fee=Decimal(row["fee"]),
        is_taker=bool(row["is_taker"]),
        created_at=datetime.fromisoformat(row["created_at"]),
    )


def _settlement_from_row(row: aiosqlite.Row) -> Settlement:
    return Settlement(
        market=row["market"],
        event_ticker=row["event_ticker"],
        result=Side(row["result"]),
        settled_at=datetime.fromisoformat(row["settled_at"]),
        fair_at_close=row["fair_at_close"],
        yes_quantity=row["yes_quantity"],
        no_quantity=row["no_quantity"],
        cost=Decimal(row["cost"]),
        payout=Decimal(row["payout"]),
    )


class _ConcurrentWriter(ExchangeError):
    pass


async def _write(store: Store, book: _Book, *, create: bool) -> None:
    """Everything the book changed since its last save, in one transaction."""
    sim = book.sim
    changed = sorted(sim.dirty, key=_market_seq(sim))
    new_markets = [_market_row(sim.markets[t]) for t in changed if t in sim.unsaved]
    markets = [_market_update(sim.markets[t]) for t in changed if t not in sim.unsaved]
    orders = [
        (
            o.order_id,
            _order_seq(o.order_id),
            o.client_order_id,
            o.market,
            o.side.value,
            o.action.value,
            str(o.price),
            o.quantity,
            o.remaining,
            o.status.value,
            iso(o.created_at),
            iso(updated),
        )
        for o, updated in book.orders_dirty.values()
    ]
    fills = [
        (
            f.fill_id,
            _order_seq(f.fill_id),
            f.order_id,
            f.market,
            f.side.value,
            f.action.value,
            str(f.price),
            f.quantity,
            str(f.fee),
            int(f.is_taker),
            iso(f.created_at),
        )
        for f in book.new_fills
    ]
    held = [
        (m, s.value, h.quantity, str(h.cost))
        for (m, s) in sorted(book.holdings_dirty)
        if (h := book.holdings.get((m, s))) is not None
    ]
    gone = [(m, s.value) for (m, s) in sorted(book.holdings_dirty) if (m, s) not in book.holdings]
    settlements = [
        (
            s.market,
            s.event_ticker,
            s.result.value,
            iso(s.settled_at),
            s.fair_at_close,
            s.yes_quantity,
            s.no_quantity,
            str(s.cost),
            str(s.payout),
            str(s.pnl),
        )
        for s in book.new_settlements
    ]
    account = {
        "n_markets": sim.n_markets,
        "cash": str(book.cash),
        "fees_paid": str(book.fees_paid),
        "realized_pnl": str(book.realized_pnl),
        "sim_step": sim.step,
        "last_now": iso(book.last_now),
        "next_market_seq": sim.next_seq,
        "next_order_seq": book.next_order_seq,
        "next_fill_seq": book.next_fill_seq,
        "updated_at": iso(book.last_now),
    }
    values = tuple(account[c] for c in _ACCOUNT_VALUES)
    async with store.transaction() as conn:
        if create:
            await conn.execute(
                "INSERT INTO paper_account (id, seed, step_seconds, starting_cash, origin_step,"
                f" revision, created_at, {', '.join(_ACCOUNT_VALUES)})"
                f" VALUES (1, ?, ?, ?, ?, ?, ?, {', '.join('?' for _ in _ACCOUNT_VALUES)})",
                (
                    sim.seed,
                    STEP_SECONDS,
                    str(book.starting_cash),
                    book.origin_step,
                    book.revision + 1,
                    iso(book.created_at),
                    *values,
                ),
            )
        else:
            cur = await conn.execute(
                f"UPDATE paper_account SET {', '.join(f'{c} = ?' for c in _ACCOUNT_VALUES)},"
                " revision = ? WHERE id = 1 AND revision = ?",
                (*values, book.revision + 1, book.revision),
            )
            if cur.rowcount != 1:
                raise _ConcurrentWriter(
                    "another process changed the paper account in this database; "
                    "run one director per database"
                )
        if new_markets:
            await conn.executemany(_INSERT_MARKET, new_markets)
        if markets:
            await conn.executemany(_UPDATE_MARKET, markets)
        if orders:
            await conn.executemany(_UPSERT_ORDER, orders)
        if fills:
            await conn.executemany(_INSERT_FILL, fills)
        if held:
            await conn.executemany(_UPSERT_POSITION, held)
        if gone:
            await conn.executemany(
                "DELETE FROM paper_positions WHERE market = ? AND side = ?", gone
            )
        if settlements:
            await conn.executemany(_INSERT_SETTLEMENT, settlements)
    book.revision += 1


def _market_seq(sim: Simulator) -> Callable[[str], int]:
    return lambda ticker: sim.markets[ticker].seq


async def _load(store: Store, n_markets: int | None) -> _Book | None:
    """The saved book, or None on a database without a paper account."""
    # One transaction: the account, its markets, orders and positions as of one commit.
    async with store.transaction() as conn:
        cur = await conn.execute("SELECT * FROM paper_account WHERE id = 1")
        acct = await cur.fetchone()
        if acct is None:
            return None
        cur = await conn.execute(
            "SELECT * FROM paper_markets WHERE status = 'open' OR close_step >= ? ORDER BY seq",
            (acct["sim_step"] - RETAIN_STEPS,),
        )
        market_rows = await cur.fetchall()
        cur = await conn.execute("SELECT * FROM paper_orders WHERE status = 'resting' ORDER BY seq")
        order_rows = await cur.fetchall()
        cur = await conn.execute("SELECT * FROM paper_positions ORDER BY market, side")
        position_rows = await cur.fetchall()
    if acct["step_seconds"] != STEP_SECONDS:
        raise ExchangeError(
            f"this paper account was simulated on a {acct['step_seconds']}s grid; this program "
            f"uses {STEP_SECONDS}s: start a new database"
        )
    step = acct["sim_step"]
    markets = [_market_from_row(r) for r in market_rows]
    sim = Simulator(
        seed=acct["seed"],
        n_markets=n_markets or acct["n_markets"],
        step=step,
        next_seq=acct["next_market_seq"],
        markets=markets,
    )
    book = _Book(
        sim=sim,
        starting_cash=Decimal(acct["starting_cash"]),
        cash=Decimal(acct["cash"]),
        fees_paid=Decimal(acct["fees_paid"]),
        realized_pnl=Decimal(acct["realized_pnl"]),
        origin_step=acct["origin_step"],
        last_now=datetime.fromisoformat(acct["last_now"]),
        next_order_seq=acct["next_order_seq"],
        next_fill_seq=acct["next_fill_seq"],
        revision=acct["revision"],
        created_at=datetime.fromisoformat(acct["created_at"]),
    )
    for row in order_rows:
        order = _order_from_row(row)
        book.resting[order.order_id] = order
    for row in position_rows:
        book.holdings[(row["market"], Side(row["side"]))] = _Holding(
            row["quantity"], Decimal(row["cost"])
        )
    if n_markets is not None and n_markets != acct["n_markets"]:
        book.account_dirty = True  # the new universe size is a setting: save it
    return book


# --- the venue -----------------------------------------------------------------------------


class PaperExchange:
    """The `Exchange` port over the simulated venue (see the module docstring)."""

    name = "paper"

    def __init__(self, store: Store, book: _Book, clock: Callable[[], datetime]) -> None:
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
    ) -> PaperExchange:
        """The account in `store`, created on first use; later opens continue it (the seed
        and starting cash saved at creation win over the arguments)."""
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
        book = await _load(store, n_markets)
        create = book is None
        if book is None:
            step = step_of(now)
            book = _Book(
                sim=Simulator.genesis(seed=seed, n_markets=n_markets, step=step),
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
                await _write(store, book, create=True)
            except Exception as exc:
                raise ExchangeError(f"cannot create the paper account: {exc}") from exc
            book.saved()
        # Catch up now rather than inside the first timed SENSE call.
        await exchange.advance_to(now)
        return exchange

    # --- the Exchange port ---------------------------------------------------------------

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
            return [_fill_from_row(r) for r in rows]

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
            await self._flush()
            return order

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
            return [_settlement_from_row(r) for r in rows]

    # --- internals -----------------------------------------------------------------------

    def _now(self) -> datetime:
        now = max(_aware(self._clock()), self._book.last_now)
        self._book.last_now = now
        return now

    async def _sync(self, now: datetime) -> _Book:
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

    async def _save(self, book: _Book) -> None:
        try:
            await _write(self._store, book, create=False)
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
            book = await _load(self._store, self._book.sim.n_markets)
        except ExchangeError:
            raise
        except Exception as exc:
            raise ExchangeError(f"the paper exchange cannot read its database: {exc}") from exc
        if book is None:
            raise ExchangeError("the paper account vanished from the database")
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
                market = self._cache.get(sim_market.ticker) or sim_market.to_market()
                self._snapshot[sim_market.ticker] = self._cache[sim_market.ticker] = market
        return self._snapshot

    def _market(self, ticker: str) -> Market | None:
        self._fresh_cache()
        market = self._cache.get(ticker)
        if market is None:
            sim_market = self._book.sim.markets.get(ticker)
            if sim_market is None:
                return None
            market = self._cache[ticker] = sim_market.to_market()
        return market

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
                found[row["ticker"]] = _market_from_row(row).to_market()
        return found

    async def _saved_order(self, column: str, value: str) -> Order | None:
        assert column in ("order_id", "client_order_id")
        row = await self._store.fetch_one(
            f"SELECT * FROM paper_orders WHERE {column} = ?", (value,)
        )
        return None if row is None else _order_from_row(row)


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
