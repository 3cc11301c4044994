"""The paper book's rows: the `paper_*` tables' columns and statements, and each record to and
from its row (paper_store.py writes and reads them)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import aiosqlite

from director.exchanges.paper_book import Book, Settlement, order_seq
from director.exchanges.paper_sim import Kind, SimMarket
from director.models import Fill, MarketStatus, Order, OrderAction, OrderStatus, Side
from director.store import iso

MARKET_COLUMNS = (
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
MARKET_MUTABLE = (
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
INSERT_MARKET = (
    f"INSERT INTO paper_markets ({', '.join(MARKET_COLUMNS)})"
    f" VALUES ({', '.join('?' for _ in MARKET_COLUMNS)})"
)
UPDATE_MARKET = (
    f"UPDATE paper_markets SET {', '.join(f'{c} = ?' for c in MARKET_MUTABLE)} WHERE ticker = ?"
)
UPSERT_ORDER = (
    "INSERT INTO paper_orders (order_id, seq, client_order_id, market, side, action, price,"
    " quantity, remaining, status, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (order_id) DO UPDATE SET remaining = excluded.remaining,"
    " status = excluded.status, updated_at = excluded.updated_at"
)
INSERT_FILL = (
    "INSERT INTO paper_fills (fill_id, seq, order_id, market, side, action, price, quantity,"
    " fee, is_taker, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
UPSERT_POSITION = (
    "INSERT INTO paper_positions (market, side, quantity, cost) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (market, side) DO UPDATE SET quantity = excluded.quantity, cost = excluded.cost"
)
INSERT_SETTLEMENT = (
    "INSERT INTO paper_settlements (market, event_ticker, result, settled_at, fair_at_close,"
    " yes_quantity, no_quantity, cost, payout, pnl) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
ACCOUNT_VALUES = (
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


def market_update(m: SimMarket) -> tuple[Any, ...]:
    # In MARKET_MUTABLE's order, then the key.
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


def market_row(m: SimMarket) -> tuple[Any, ...]:
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
    values = {c: row[c] for c in MARKET_COLUMNS}
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


def order_row(o: Order, updated: datetime) -> tuple[Any, ...]:
    # In UPSERT_ORDER's order.
    return (
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


def fill_row(f: Fill) -> tuple[Any, ...]:
    # In INSERT_FILL's order.
    return (
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


def settlement_row(s: Settlement) -> tuple[Any, ...]:
    # In INSERT_SETTLEMENT's order.
    return (
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


def account_values(book: Book) -> tuple[Any, ...]:
    """The account row's changing values, in ACCOUNT_VALUES' order."""
    sim = book.sim
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
    return tuple(account[c] for c in ACCOUNT_VALUES)
