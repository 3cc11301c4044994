"""Selling an uneven basket's excess back, and what each sell did even when its answer is lost.

`Unwinder.sell_back` sells each leg's excess over the smallest fill in one batched,
immediate-or-cancel, reduce-only send at the bids the fresh books show, each sell with its own
client order id (`<action id>-u<leg>`), outside the basket's order group (whose limit the sells'
fills would trip, rejecting the very orders taking the excess back).

What a sell did is never assumed; the rules are execution.py's for one order:

- after an unclear attempt (a timeout, a 5xx, a dropped connection) every sell is looked up by
  its client order id before anything goes out again; a re-send carries the same ids, so the
  copy of a sell that did land is refused as a duplicate, never sold twice. A lookup that fails
  stops the sending: nothing is re-sent that could not be checked;
- any 409, an answer that cannot be read, a sell the answer leaves out or refuses (it may be
  a copy of one that landed: a basket re-sent after a restart), and anything after an unclear
  attempt: the sell is looked up, live and historical, a few times (a listing can lag);
- a sell that stays out of sight, or whose lookup fails, is UNKNOWN for a human: reported with
  its client order id, never sent again. Only a send Kalshi never received (429s, no connection)
  or refused outright counts as nothing sold.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from director.baskets import Ask, LegOrder, LegResult, leg_client_order_ids
from director.exchanges.base import ExchangeError
from director.exchanges.kalshi.batch import BatchItem, bids, get_orderbooks, post_batch
from director.exchanges.kalshi.errors import (
    KalshiParseError,
    KalshiRetriesExhausted,
    OrderStateUnknown,
)
from director.exchanges.kalshi.http import KalshiHttp
from director.exchanges.kalshi.parsing import whole
from director.models import Order

log = logging.getLogger(__name__)

ALREADY_EXISTS = "order_already_exists"
UNKNOWN_SELL = "outcome unknown: sent, and no lookup found it"
FindOrder = Callable[[str, str], Awaitable[Order | None]]  # (market, client_order_id)
SellBody = Callable[[LegOrder, str], dict[str, Any]]  # (the sell, its client order id)


@dataclass(frozen=True, slots=True)
class SellBack:
    """What the sell-back did, per leg (filled 0 where nothing sold or nothing was needed),
    and the markets whose sell may or may not have happened."""

    sold: tuple[LegResult, ...]
    unknown: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Sent:
    items: Mapping[str, BatchItem]
    unclear: bool  # every sell not answered cleanly must be looked up


class Unwinder:
    def __init__(self, http: KalshiHttp, find: FindOrder, body: SellBody) -> None:
        self._http = http
        self._find = find
        self._body = body

    async def sell_back(
        self, legs: Sequence[LegOrder], excess: Sequence[int], coid: str
    ) -> SellBack:
        ids = leg_client_order_ids(coid, len(legs), kind="u")
        sold = [LegResult(leg.market, "") for leg in legs]
        sells = await self._priced(legs, excess, coid)
        if not sells:
            return SellBack(tuple(sold))
        sent = await self._send({ids[i]: order for i, order in sells.items()}, coid)
        unknown: list[str] = []
        for i, order in sells.items():
            result = await self._outcome(order, ids[i], sent.items.get(ids[i]), sent.unclear)
            if result is None:
                unknown.append(order.market)
                result = LegResult(order.market, ids[i], error=UNKNOWN_SELL)
            sold[i] = result
        return SellBack(tuple(sold), tuple(unknown))

    async def _priced(
        self, legs: Sequence[LegOrder], excess: Sequence[int], coid: str
    ) -> dict[int, LegOrder]:
        """The sells, by leg: each excess at the bids now shown (none where no bid is)."""
        wanted = [i for i, e in enumerate(excess) if e > 0]
        try:
            books = await get_orderbooks(self._http, [legs[i].market for i in wanted])
        except ExchangeError as exc:
            log.error("basket %s: no books to unwind with: %s", coid, exc)
            return {}
        sells: dict[int, LegOrder] = {}
        for i in wanted:
            price = sell_limit(bids(books[legs[i].market], legs[i].side), excess[i])
            if price is not None:
                sells[i] = LegOrder(legs[i].market, legs[i].side, price, excess[i])
        return sells

    async def _send(self, sells: Mapping[str, LegOrder], coid: str) -> _Sent:
        """One batched send; after an unclear attempt, the http layer asks `landed` (every
        sell looked up) before it sends the same ids again."""
        unclear: list[str] = []

        async def landed() -> dict[str, BatchItem] | None:
            unclear.append("unclear")
            return await self._all_found(sells)

        bodies = [self._body(order, sell_id) for sell_id, order in sells.items()]
        try:
            return _Sent(await post_batch(self._http, bodies, recover=landed), bool(unclear))
        except KalshiRetriesExhausted as exc:
            if exc.unclear or unclear:
                log.error("basket %s: sell-back unclear (%s); looking sells up", coid, exc.detail)
                return _Sent({}, True)
            log.error("basket %s: sell-back never reached Kalshi: %s", coid, exc.detail)
            return _Sent(_refused(sells, "not_sent", exc.detail), False)
        except (OrderStateUnknown, KalshiParseError) as exc:
            # A lookup failed mid-send, or Kalshi answered in a way we cannot read.
            log.error("basket %s: sell-back outcome unreadable (%s); looking sells up", coid, exc)
            return _Sent({}, True)
        except ExchangeError as exc:
            status = getattr(exc, "status", 0)
            if status == 409 or unclear:
                log.error("basket %s: sell-back %s; looking sells up", coid, exc)
                return _Sent({}, True)
            log.error("basket %s: sell-back refused: %s", coid, exc)
            return _Sent(_refused(sells, "refused", str(exc)), False)

    async def _all_found(self, sells: Mapping[str, LegOrder]) -> dict[str, BatchItem] | None:
        """Every sell as Kalshi lists it, or None while one is out of sight (the send may go
        again, same ids). A lookup that fails ends the send: OrderStateUnknown."""
        found: dict[str, BatchItem] = {}
        for sell_id, order in sells.items():
            try:
                hit = await self._find(order.market, sell_id)
            except ExchangeError as exc:
                raise OrderStateUnknown(
                    f"sell {sell_id} may or may not have been placed and the check failed ({exc})"
                ) from exc
            if hit is None:
                return None
            found[sell_id] = BatchItem(sell_id, hit.order_id, Decimal(hit.filled))
        return found

    async def _outcome(
        self, order: LegOrder, sell_id: str, item: BatchItem | None, unclear: bool
    ) -> LegResult | None:
        """What one sell did; None when it cannot be established."""
        if item is not None and not item.error_code:
            return _sold(order, sell_id, item.order_id, whole(item.filled, up=False))
        if item is not None and not unclear and item.error_code != ALREADY_EXISTS:
            # Refused; but a copy of a sell that landed earlier may be refused by another rule
            # first (the position it reduced is gone), so a clear refusal is looked up once.
            found = await self._found(sell_id, order, attempts=1)
            if found is not None:
                return _sold(order, sell_id, found.order_id, found.filled)
            return LegResult(
                order.market, sell_id, error=f"{item.error_code}: {item.error_message}"[:200]
            )
        found = await self._found(sell_id, order, attempts=self._http.tuning.max_attempts)
        if found is None:
            return None
        return _sold(order, sell_id, found.order_id, found.filled)

    async def _found(self, sell_id: str, order: LegOrder, *, attempts: int) -> Order | None:
        """The sell as Kalshi lists it, looked up `attempts` times (a listing can lag the
        book); None when it stays out of sight or a lookup fails."""
        for attempt in range(attempts):
            try:
                hit = await self._find(order.market, sell_id)
            except ExchangeError as exc:
                log.warning("basket sell %s: lookup failed: %s", sell_id, exc)
                return None
            if hit is not None:
                self._http.stats.orders_recovered += 1
                return hit
            if attempt + 1 < attempts:
                await self._http.sleep(self._http.backoff(attempt))
        return None


def _sold(order: LegOrder, sell_id: str, order_id: str, filled: int) -> LegResult:
    return LegResult(order.market, sell_id, order_id, min(order.quantity, filled), order.price)


def _refused(sells: Mapping[str, LegOrder], code: str, why: str) -> dict[str, BatchItem]:
    return {sell_id: BatchItem(sell_id, error_code=code, error_message=why) for sell_id in sells}


def sell_limit(levels: Sequence[Ask], contracts: int) -> Decimal | None:
    """The lowest bid needed to sell `contracts` through the book, best first; None if no bid."""
    if not levels:
        return None
    left = Decimal(contracts)
    for level in levels:
        left -= level.size
        if left <= 0:
            return level.price
    return levels[-1].price  # sell what the whole book takes; the rest is reported
