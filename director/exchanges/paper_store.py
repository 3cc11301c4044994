"""The paper book's persistence: the `paper_*` tables, written through in one transaction per
change and loaded back on open (paper.py's docstring says when and why); the rows themselves
are paper_rows.py's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal

import aiosqlite

from director.exchanges.base import ExchangeError
from director.exchanges.paper_book import RETAIN_STEPS, Book, Holding, Settlement
from director.exchanges.paper_rows import (
    ACCOUNT_VALUES,
    INSERT_FILL,
    INSERT_MARKET,
    INSERT_SETTLEMENT,
    UPDATE_MARKET,
    UPSERT_ORDER,
    UPSERT_POSITION,
    account_values,
    fill_from_row,
    fill_row,
    market_from_row,
    market_row,
    market_update,
    order_from_row,
    order_row,
    settlement_from_row,
    settlement_row,
)
from director.exchanges.paper_sim import STEP_SECONDS, Simulator
from director.models import Fill, Market, Order, Side
from director.store import Store, iso


class ConcurrentWriter(ExchangeError):
    pass


async def write_book(store: Store, book: Book, *, create: bool) -> None:
    """Everything the book changed since its last save, in one transaction."""
    sim = book.sim
    changed = sorted(sim.dirty, key=_market_seq(sim))
    new_markets = [market_row(sim.markets[t]) for t in changed if t in sim.unsaved]
    markets = [market_update(sim.markets[t]) for t in changed if t not in sim.unsaved]
    orders = [order_row(o, updated) for o, updated in book.orders_dirty.values()]
    fills = [fill_row(f) for f in book.new_fills]
    held = [
        (m, s.value, h.quantity, str(h.cost))
        for (m, s) in sorted(book.holdings_dirty)
        if (h := book.holdings.get((m, s))) is not None
    ]
    gone = [(m, s.value) for (m, s) in sorted(book.holdings_dirty) if (m, s) not in book.holdings]
    settlements = [settlement_row(s) for s in book.new_settlements]
    account = account_values(book)  # as of the rows above, before awaiting the transaction
    async with store.transaction() as conn:
        await _write_account(conn, book, account, create=create)
        if new_markets:
            await conn.executemany(INSERT_MARKET, new_markets)
        if markets:
            await conn.executemany(UPDATE_MARKET, markets)
        if orders:
            await conn.executemany(UPSERT_ORDER, orders)
        if fills:
            await conn.executemany(INSERT_FILL, fills)
        if held:
            await conn.executemany(UPSERT_POSITION, held)
        if gone:
            await conn.executemany(
                "DELETE FROM paper_positions WHERE market = ? AND side = ?", gone
            )
        if settlements:
            await conn.executemany(INSERT_SETTLEMENT, settlements)
    book.revision += 1


async def _write_account(
    conn: aiosqlite.Connection, book: Book, values: tuple[object, ...], *, create: bool
) -> None:
    """The account row (`values`: account_values(book)): inserted with the book, then updated
    only from the revision this process last saw, so a second writer is refused instead of
    overwritten."""
    if create:
        await conn.execute(
            "INSERT INTO paper_account (id, seed, step_seconds, starting_cash, origin_step,"
            f" revision, created_at, {', '.join(ACCOUNT_VALUES)})"
            f" VALUES (1, ?, ?, ?, ?, ?, ?, {', '.join('?' for _ in ACCOUNT_VALUES)})",
            (
                book.sim.seed,
                STEP_SECONDS,
                str(book.starting_cash),
                book.origin_step,
                book.revision + 1,
                iso(book.created_at),
                *values,
            ),
        )
        return
    cur = await conn.execute(
        f"UPDATE paper_account SET {', '.join(f'{c} = ?' for c in ACCOUNT_VALUES)},"
        " revision = ? WHERE id = 1 AND revision = ?",
        (*values, book.revision + 1, book.revision),
    )
    if cur.rowcount != 1:
        raise ConcurrentWriter(
            "another process changed the paper account in this database; "
            "run one director per database"
        )


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


async def saved_markets(store: Store, tickers: Iterable[str]) -> dict[str, Market]:
    """Markets no longer in memory (settled and dropped), by ticker, from their rows."""
    found: dict[str, Market] = {}
    wanted = list(tickers)
    for start in range(0, len(wanted), 500):  # SQLite's bound-parameter limit
        chunk = wanted[start : start + 500]
        rows = await store.fetch(
            f"SELECT * FROM paper_markets WHERE ticker IN ({', '.join('?' for _ in chunk)})",
            chunk,
        )
        for row in rows:
            found[row["ticker"]] = market_from_row(row).to_market()
    return found


async def saved_order(store: Store, column: str, value: str) -> Order | None:
    """The order whose `column` (order_id or client_order_id) is `value`, in any status."""
    assert column in ("order_id", "client_order_id")
    row = await store.fetch_one(f"SELECT * FROM paper_orders WHERE {column} = ?", (value,))
    return None if row is None else order_from_row(row)


async def fills_since(store: Store, start: str) -> list[Fill]:
    """Fills created at or after `start` (an ISO time; "" for all), oldest first."""
    rows = await store.fetch(
        "SELECT * FROM paper_fills WHERE created_at >= ? ORDER BY seq", (start,)
    )
    return [fill_from_row(r) for r in rows]


async def settlements_since(store: Store, start: str) -> list[Settlement]:
    """Settlements at or after `start` (an ISO time; "" for all), oldest first."""
    rows = await store.fetch(
        "SELECT * FROM paper_settlements WHERE settled_at >= ? ORDER BY settled_at, market",
        (start,),
    )
    return [settlement_from_row(r) for r in rows]
