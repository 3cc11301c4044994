"""Kalshi's many-at-once endpoints, as the basket executor uses them.

- `GET /markets/orderbooks?tickers=A&tickers=B` — up to 100 books in one read (the SDK sends
  `tickers` as a repeated parameter); the answer is `{"orderbooks": [{"ticker",
  "orderbook_fp": {"yes_dollars", "no_dollars"}}]}`, one per requested ticker.
- `POST /portfolio/order_groups/create` `{"contracts_limit"}` → `{"order_group_id"}`: a group
  whose matched contracts over a rolling 15 s may not exceed the limit (past it, every order in
  it is canceled); `DELETE /portfolio/order_groups/{id}` removes it.
- `POST /portfolio/events/orders/batched` `{"orders": [CreateOrderV2Request, …]}` → 201
  `{"orders": [{"order_id", "client_order_id", "fill_count", "remaining_count", …, "error"}]}`:
  every item is processed on its own; an item that failed carries `error` instead of an order.
  Each item costs the write bucket one order's tokens, so the batch is metered per item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from director.baskets import Ask
from director.exchanges.base import ExchangeError
from director.exchanges.kalshi.errors import KalshiParseError, error_for, error_info
from director.exchanges.kalshi.http import KalshiHttp, Recover
from director.exchanges.kalshi.models import Orderbook, parse_orderbook
from director.exchanges.kalshi.parsing import check_identifier, count, mapping, sequence
from director.models import ONE, Side

ORDERBOOKS_PATH = "/markets/orderbooks"
BATCH_CREATE_PATH = "/portfolio/events/orders/batched"
GROUP_CREATE_PATH = "/portfolio/order_groups/create"
BOOKS_PER_REQUEST = 100  # Kalshi's maximum tickers for GET /markets/orderbooks
MAX_GROUP_CONTRACTS = 1_000_000  # Kalshi's range for an order group's contracts_limit


def asks(book: Orderbook, side: Side) -> tuple[Ask, ...]:
    """The prices to buy `side` at, cheapest first: the other side's bids, mirrored."""
    bids = book.no_bids if side is Side.YES else book.yes_bids
    return tuple(Ask(ONE - level.price, level.size) for level in bids)


def bids(book: Orderbook, side: Side) -> tuple[Ask, ...]:
    """The prices to sell `side` at, best (highest) first."""
    levels = book.yes_bids if side is Side.YES else book.no_bids
    return tuple(Ask(level.price, level.size) for level in levels)


async def get_orderbooks(http: KalshiHttp, tickers: Sequence[str]) -> dict[str, Orderbook]:
    """Fresh books for every ticker, 100 to a read. A ticker Kalshi leaves out is an error:
    a basket must never be priced with a leg missing."""
    wanted = list(dict.fromkeys(check_identifier(t, "market ticker") for t in tickers))
    books: dict[str, Orderbook] = {}
    for start in range(0, len(wanted), BOOKS_PER_REQUEST):
        chunk = wanted[start : start + BOOKS_PER_REQUEST]
        # A repeated parameter, as the SDK sends it; the signature covers the path only.
        path = f"{ORDERBOOKS_PATH}?{urlencode([('tickers', t) for t in chunk])}"
        body = await http.get(path)
        for raw in sequence(body.get("orderbooks"), "orderbooks"):
            item = mapping(raw, "orderbooks item")
            ticker = item.get("ticker")
            if isinstance(ticker, str) and ticker in chunk:
                books[ticker] = parse_orderbook(ticker, item)
    missing = [t for t in wanted if t not in books]
    if missing:
        raise KalshiParseError(f"GET {ORDERBOOKS_PATH}: no book for {', '.join(missing[:5])}")
    return books


async def create_order_group(http: KalshiHttp, contracts_limit: int, subaccount: int) -> str:
    """A fresh order group capped at `contracts_limit` matched contracts; its id."""
    if not 1 <= contracts_limit <= MAX_GROUP_CONTRACTS:
        raise ExchangeError(f"order group limit {contracts_limit} outside 1..{MAX_GROUP_CONTRACTS}")
    body: dict[str, Any] = {"contracts_limit": contracts_limit, "subaccount": subaccount}
    what = f"POST {GROUP_CREATE_PATH}"
    response = await http.request("POST", GROUP_CREATE_PATH, body=body)
    if response.status_code not in (200, 201):
        raise error_for(response, what)
    answer = http.decode(response, what)
    group_id = answer.get("order_group_id")
    if not isinstance(group_id, str) or not group_id:
        raise KalshiParseError(f"{what}: no order_group_id")
    return check_identifier(group_id, "order group id")


async def delete_order_group(http: KalshiHttp, group_id: str) -> None:
    path = f"/portfolio/order_groups/{quote(check_identifier(group_id, 'order group id'), safe='')}"
    response = await http.request("DELETE", path)
    if response.status_code not in (200, 204):
        raise error_for(response, f"DELETE {path}")


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One answered item of a batched create: an order (with what filled) or its error."""

    client_order_id: str
    order_id: str = ""
    filled: Decimal = Decimal(0)
    error_code: str = ""
    error_message: str = ""


def parse_batch(raw: Any) -> dict[str, BatchItem]:
    """Items by client_order_id; an item that names none cannot be matched to a leg and is
    refused, since what it did would be unaccounted for."""
    body = mapping(raw, "batch create response")
    items: dict[str, BatchItem] = {}
    for entry in sequence(body.get("orders"), "orders"):
        item = mapping(entry, "batch item")
        client_id = item.get("client_order_id")
        if not isinstance(client_id, str) or not client_id:
            raise KalshiParseError("batch item without client_order_id")
        if item.get("error") is not None:
            code, message = error_info({"error": item["error"]})
            items[client_id] = BatchItem(client_id, error_code=code, error_message=message)
            continue
        order_id = item.get("order_id")
        if not isinstance(order_id, str) or not order_id:
            raise KalshiParseError(f"batch item {client_id}: no order_id and no error")
        filled = count(item, "fill_count") if item.get("fill_count") is not None else None
        if filled is None:
            raise KalshiParseError(f"batch item {client_id}: no fill_count")
        items[client_id] = BatchItem(client_id, order_id=order_id, filled=filled)
    return items


def batch_cost(http: KalshiHttp, items: int) -> float:
    """Kalshi bills each item of a batched create as one order."""
    return float(http.limits.cost_of("POST", BATCH_CREATE_PATH) * items)


def batch_fits(http: KalshiHttp, items: int) -> bool:
    """Whether the account's write bucket can hold a batch this big at all (Kalshi refuses one
    that costs more than the bucket's capacity)."""
    return batch_cost(http, items) <= http.limits.bucket_for("POST", BATCH_CREATE_PATH).capacity


async def post_batch(
    http: KalshiHttp,
    orders: Sequence[Mapping[str, Any]],
    *,
    recover: Recover[dict[str, BatchItem]] | None = None,
) -> dict[str, BatchItem]:
    """One batched create. Retried by the http layer only where nothing can have happened
    (429, never connected) or, after an unclear attempt, because every item's client order id
    makes a second copy a duplicate Kalshi refuses, inside a group capped at the basket.
    `recover`, asked after each unclear attempt, ends the send with the items it found (the
    orders looked up by their client order ids) before anything is sent again."""
    what = f"POST {BATCH_CREATE_PATH}"
    # Kalshi bills each item as one order; a batch the account's bucket cannot hold is refused
    # by the http layer before anything is sent.
    response = await http.request(
        "POST",
        BATCH_CREATE_PATH,
        body={"orders": list(orders)},
        cost=batch_cost(http, len(orders)),
        recover=recover,
    )
    if not isinstance(response, httpx.Response):
        return response
    if response.status_code not in (200, 201):
        raise error_for(response, what)
    return parse_batch(http.decode(response, what))
