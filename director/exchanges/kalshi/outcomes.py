"""What each order of one batched create did, even when the batch's answer is lost.

`BatchOutcomes.place` sends a basket's buys or its sell-back (each order with its own client
order id) and establishes, order by order, what Kalshi holds under that id. What an order did
is never assumed; the rules are execution.py's for one order:

- after an unclear attempt (a timeout, a 5xx, a dropped connection) every order is looked up
  by its client order id before anything goes out again; a re-send carries the same ids, so the
  copy of an order that did land is refused as a duplicate, never placed twice. A lookup that
  fails stops the sending: nothing is re-sent that could not be checked;
- any 408 or 409, an answer that cannot be read, an order the answer leaves out or refuses as
  `order_already_exists`, and anything after an unclear attempt: the order is looked up, live
  and historical, a few times (a listing can lag); one that stays out of sight, or whose lookup
  fails, is unknown (None) — for a human, never sent again;
- an order the answer refuses under another code is looked up once: it may be the copy of one
  that landed (a basket re-sent after a restart), refused by a rule Kalshi checked first. Only
  a send Kalshi never received (429s, no connection) or refused outright counts as nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from director.baskets import LegOrder, LegResult
from director.exchanges.base import ExchangeError
from director.exchanges.kalshi.batch import BatchItem, post_batch
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
FindOrder = Callable[[str, str], Awaitable[Order | None]]  # (market, client_order_id)
Body = Callable[[LegOrder, str], dict[str, Any]]  # (the order, its client order id)


@dataclass(frozen=True, slots=True)
class _Sent:
    items: Mapping[str, BatchItem]
    unclear: bool  # every order not answered cleanly must be looked up


class BatchOutcomes:
    def __init__(self, http: KalshiHttp, find: FindOrder) -> None:
        self._http = http
        self._find = find

    async def place(
        self, orders: Mapping[str, LegOrder], body: Body, what: str
    ) -> dict[str, LegResult | None]:
        """Each order's result by client order id: what Kalshi holds under it (filled as
        Kalshi counts it, never capped at this send's size), refused (an error, nothing
        filled), or None where that cannot be established."""
        sent = await self._send(orders, body, what)
        return {
            coid: await self._outcome(order, coid, sent.items.get(coid), sent.unclear)
            for coid, order in orders.items()
        }

    async def _send(self, orders: Mapping[str, LegOrder], body: Body, what: str) -> _Sent:
        """One batched send; after an unclear attempt, the http layer asks `landed` (every
        order looked up) before it sends the same ids again."""
        unclear: list[str] = []

        async def landed() -> dict[str, BatchItem] | None:
            unclear.append("unclear")
            return await self._all_found(orders)

        bodies = [body(order, coid) for coid, order in orders.items()]
        try:
            return _Sent(await post_batch(self._http, bodies, recover=landed), bool(unclear))
        except KalshiRetriesExhausted as exc:
            if exc.unclear or unclear:
                log.error("%s unclear (%s); looking orders up", what, exc.detail)
                return _Sent({}, True)
            log.error("%s never reached Kalshi: %s", what, exc.detail)
            return _Sent(_refused(orders, "not_sent", exc.detail), False)
        except (OrderStateUnknown, KalshiParseError) as exc:
            # A lookup failed mid-send, or Kalshi answered in a way we cannot read.
            log.error("%s outcome unreadable (%s); looking orders up", what, exc)
            return _Sent({}, True)
        except ExchangeError as exc:
            if getattr(exc, "status", 0) in (408, 409) or unclear:
                log.error("%s: %s; looking orders up", what, exc)
                return _Sent({}, True)
            log.error("%s refused: %s", what, exc)
            return _Sent(_refused(orders, "refused", str(exc)), False)

    async def _all_found(self, orders: Mapping[str, LegOrder]) -> dict[str, BatchItem] | None:
        """Every order as Kalshi lists it, or None while one is out of sight (the send may go
        again, same ids). A lookup that fails ends the send: OrderStateUnknown."""
        found: dict[str, BatchItem] = {}
        for coid, order in orders.items():
            try:
                hit = await self._find(order.market, coid)
            except ExchangeError as exc:
                raise OrderStateUnknown(
                    f"order {coid} may or may not have been placed and the check failed ({exc})"
                ) from exc
            if hit is None:
                return None
            found[coid] = BatchItem(coid, hit.order_id, Decimal(hit.filled))
        return found

    async def _outcome(
        self, order: LegOrder, coid: str, item: BatchItem | None, unclear: bool
    ) -> LegResult | None:
        """What one order did; None when it cannot be established."""
        if item is not None and not item.error_code:
            return _held(order, coid, item.order_id, whole(item.filled, up=False))
        if item is not None and not unclear and item.error_code != ALREADY_EXISTS:
            # Refused; but a copy of an order that landed earlier may be refused by another
            # rule first (the balance or position it used is gone): looked up once.
            found = await self._found(coid, order, attempts=1)
            if found is not None:
                return _held(order, coid, found.order_id, found.filled)
            error = f"{item.error_code}: {item.error_message}"[:200]
            return LegResult(order.market, coid, error=error)
        found = await self._found(coid, order, attempts=self._http.tuning.max_attempts)
        if found is None:
            return None
        return _held(order, coid, found.order_id, found.filled)

    async def _found(self, coid: str, order: LegOrder, *, attempts: int) -> Order | None:
        """The order as Kalshi lists it, looked up `attempts` times (a listing can lag the
        book); None when it stays out of sight or a lookup fails."""
        for attempt in range(attempts):
            try:
                hit = await self._find(order.market, coid)
            except ExchangeError as exc:
                log.warning("basket order %s: lookup failed: %s", coid, exc)
                return None
            if hit is not None:
                self._http.stats.orders_recovered += 1
                return hit
            if attempt + 1 < attempts:
                await self._http.sleep(self._http.backoff(attempt))
        return None


def _held(order: LegOrder, coid: str, order_id: str, filled: int) -> LegResult:
    return LegResult(order.market, coid, order_id, filled, order.price)


def _refused(orders: Mapping[str, LegOrder], code: str, why: str) -> dict[str, BatchItem]:
    return {coid: BatchItem(coid, error_code=code, error_message=why) for coid in orders}
