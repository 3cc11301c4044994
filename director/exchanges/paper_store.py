"""The paper book's persistence: the `paper_*` tables, written through in one transaction per
change and loaded back on open (paper.py's docstring says when and why).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import aiosqlite

from director.exchanges.base import ExchangeError
from director.exchanges.paper_book import RETAIN_STEPS, Book, Holding, Settlement, order_seq
from director.exchanges.paper_sim import (
    STEP_SECONDS,
    Kind,
    SimMarket,
    Simulator,
)
from director.models import (
    Fill,
    MarketStatus,
    Order,
    OrderAction,
    OrderStatus,
    Side,
)
from director.store import Store, iso

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


def market_from_row(row: aiosqlite.Row) -> SimMarket:
    values = {c: row[c] for c in _MARKET_COLUMNS}
    values["kind"] = Kind(values["kind"])
    values["status"] = MarketStatus(values["status"])
    values["result"] = None if values["result"] is None else Side(values["result"])
    return SimMarket(**values)


def order_from_row(row: aiosqlite.Row) -> Order:
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


def fill_from_row(row: aiosqlite.Row) -> Fill:
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


def settlement_from_row(row: aiosqlite.Row) -> Settlement:
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


class ConcurrentWriter(ExchangeError):
    pass


async def write_book(store: Store, book: Book, *, create: bool) -> None:
    """Everything the book changed since its last save, in one transaction."""
    sim = book.sim
    changed = sorted(sim.dirty, key=_market_seq(sim))
    new_markets = [_market_row(sim.markets[t]) for t in changed if t in sim.unsaved]
    markets = [_market_update(sim.markets[t]) for t in changed if t not in sim.unsaved]
    orders = [
        (
            o.order_id,
            order_seq(o.order_id),
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
            order_seq(f.fill_id),
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
                raise ConcurrentWriter(
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


async def load_book(store: Store, n_markets: int | None) -> Book | None:
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
    markets = [market_from_row(r) for r in market_rows]
    sim = Simulator(
        seed=acct["seed"],
        n_markets=n_markets or acct["n_markets"],
        step=step,
        next_seq=acct["next_market_seq"],
        markets=markets,
    )
    book = Book(
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
        order = order_from_row(row)
        book.resting[order.order_id] = order
    for row in position_rows:
        book.holdings[(row["market"], Side(row["side"]))] = Holding(
            row["quantity"], Decimal(row["cost"])
        )
    if n_markets is not None and n_markets != acct["n_markets"]:
        book.account_dirty = True  # the new universe size is a setting: save it
    return book
