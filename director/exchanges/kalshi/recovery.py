"""Finding an order by its client_order_id: after an unclear create, after any 409, and for the
reconciler (issue 12's `order_by_client_id`).

Kalshi lists an order in `GET /portfolio/orders` until its cancellation or execution falls
behind the historical cutoff (`GET /historical/cutoff`, ~3 months); from then on only
`GET /historical/orders` has it. An approval pressed long after its first send can meet such an
order, so a full lookup reads both. Resting orders are always live.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import aclosing
from datetime import datetime
from typing import Any

from director.exchanges.kalshi.http import KalshiHttp
from director.exchanges.kalshi.intents import IntentBook, KnownOrders
from director.exchanges.kalshi.parsing import check_identifier
from director.exchanges.kalshi.portfolio_models import Intent, parse_order
from director.exchanges.kalshi.responses import OrdersPage
from director.models import Order

log = logging.getLogger(__name__)

LIVE_ORDERS = "/portfolio/orders"
HISTORICAL_ORDERS = "/historical/orders"
LOOKUP_PAGE_LIMIT = 200


class OrderFinder:
    def __init__(
        self, http: KalshiHttp, intents: IntentBook, known: KnownOrders, subaccount: int
    ) -> None:
        self._http = http
        self._intents = intents
        self._known = known
        self._subaccount = subaccount

    async def by_client_id(
        self,
        market: str,
        client_order_id: str,
        *,
        intent: Intent | None = None,
        since: datetime | None = None,
        historical: bool = True,
    ) -> Order | None:
        """The order `client_order_id` created on `market`, in any status, or None when
        Kalshi lists none. Raises ExchangeError when a read fails: never None for "could not
        tell". `since` narrows the live listing to recent orders (an unclear create)."""
        check_identifier(market, "market ticker")
        params: dict[str, str | int] = {
            "ticker": market,
            "limit": LOOKUP_PAGE_LIMIT,
            "subaccount": self._subaccount,
        }
        live = dict(params)
        if since is not None:
            live["min_ts"] = int(since.timestamp())
        raw = await self._first_with(LIVE_ORDERS, live, client_order_id)
        if raw is None and historical:
            raw = await self._first_with(HISTORICAL_ORDERS, params, client_order_id)
        if raw is None:
            return None
        meant = intent or self._intents.intent_for(raw)
        order = parse_order(raw, meant)
        if meant is not None:
            await self._intents.remember(order.order_id, meant)
        return self._known.note(order)

    async def _first_with(
        self, path: str, params: Mapping[str, str | int], client_order_id: str
    ) -> Mapping[str, Any] | None:
        async with aclosing(self._http.pages(path, params, OrdersPage)) as pages:
            async for page in pages:
                for raw in page.records():
                    if raw.get("client_order_id") == client_order_id:
                        return raw
        return None
