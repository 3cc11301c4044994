"""The account's portfolio on Kalshi: balance, positions, resting orders, fills, settlements."""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from urllib.parse import quote

from director.exchanges.base import ExchangeError
from director.exchanges.kalshi.http import KalshiHttp
from director.exchanges.kalshi.intents import IntentBook, KnownOrders
from director.exchanges.kalshi.market_data import MarketData
from director.exchanges.kalshi.parsing import check_identifier
from director.exchanges.kalshi.portfolio_models import (
    KalshiPosition,
    Settlement,
    parse_balance,
    parse_position,
    parse_settlement,
)
from director.exchanges.kalshi.responses import (
    BalanceResponse,
    FillsPage,
    OrderResponse,
    OrdersPage,
    PositionsPage,
    SettlementsPage,
    validate,
)
from director.models import Fill, Market, Order, OrderStatus, Position

log = logging.getLogger(__name__)

PORTFOLIO_PAGE_LIMIT = 100  # Kalshi's default for the portfolio lists
PRICE_PLACES = Decimal("0.0001")  # Kalshi accepts 2-4 decimal places in prices


class Portfolio:
    def __init__(
        self,
        http: KalshiHttp,
        intents: IntentBook,
        known: KnownOrders,
        market_data: MarketData,
        *,
        subaccount: int = 0,
    ) -> None:
        self._http = http
        self._intents = intents
        self._known = known
        self._market_data = market_data
        # Every portfolio call names it, so balance, positions, orders and fills describe one
        # account (GET /portfolio/orders/{id} is the one that takes none).
        self._subaccount = subaccount

    def _scope(self, **params: str | int) -> dict[str, str | int]:
        return {**params, "subaccount": self._subaccount}

    async def get_balance(self) -> Decimal:
        body = await self._http.get("/portfolio/balance", self._scope())
        validate(BalanceResponse, body, "GET /portfolio/balance")
        return parse_balance(body)

    async def get_kalshi_positions(self, ticker: str | None = None) -> list[KalshiPosition]:
        """Non-zero market positions as Kalshi reports them (signed, fractional)."""
        params = self._scope(count_filter="position", limit=PORTFOLIO_PAGE_LIMIT)
        if ticker is not None:
            params["ticker"] = check_identifier(ticker, "market ticker")
        found = await self._http.collect(
            "/portfolio/positions", params, PositionsPage, parse_position, strict=True
        )
        return [p for p in found if p.position != 0]

    async def get_positions(self) -> list[Position]:
        held = [p for p in await self.get_kalshi_positions() if p.quantity > 0]
        marks: dict[str, Market] = {}
        if held:
            try:
                tickers = [p.ticker for p in held]
                marks = {m.ticker: m for m in await self._market_data.get_markets(tickers)}
            except ExchangeError as exc:
                log.warning("kalshi positions: left unmarked, quotes failed: %s", exc)
        positions = []
        for held_position in held:
            market = marks.get(held_position.ticker)
            side = held_position.side
            average = (held_position.exposure / abs(held_position.position)).quantize(PRICE_PLACES)
            positions.append(
                Position(
                    market=held_position.ticker,
                    side=side,
                    quantity=held_position.quantity,
                    avg_price=average,
                    mark_price=market.mark(side) if market is not None else None,
                )
            )
        return positions

    async def get_resting_orders(self, ticker: str | None = None) -> list[Order]:
        params = self._scope(status="resting", limit=PORTFOLIO_PAGE_LIMIT)
        if ticker is not None:
            params["ticker"] = check_identifier(ticker, "market ticker")
        orders = await self._http.collect(
            "/portfolio/orders", params, OrdersPage, self._intents.order, strict=True
        )
        return [self._known.note(o) for o in orders if o.status is OrderStatus.RESTING]

    async def get_order(self, order_id: str) -> Order:
        check_identifier(order_id, "order id")
        path = f"/portfolio/orders/{quote(order_id, safe='')}"
        body = validate(OrderResponse, await self._http.get(path), f"GET {path}")
        return self._known.note(self._intents.order(body.order))

    async def get_fills(self, since: datetime | None = None) -> list[Fill]:
        params = self._scope(limit=PORTFOLIO_PAGE_LIMIT)
        if since is not None:
            params["min_ts"] = int(since.timestamp())
        fills = await self._http.collect(
            "/portfolio/fills", params, FillsPage, self._intents.fill, strict=False
        )
        return [f for f in fills if since is None or f.created_at >= since]

    async def get_settlements(self, since: datetime | None = None) -> list[Settlement]:
        params = self._scope(limit=PORTFOLIO_PAGE_LIMIT)
        if since is not None:
            params["min_ts"] = int(since.timestamp())
        return await self._http.collect(
            "/portfolio/settlements", params, SettlementsPage, parse_settlement, strict=False
        )
