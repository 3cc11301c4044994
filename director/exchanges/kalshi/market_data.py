"""Kalshi's public market data: markets, events with their nested markets, order books."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from urllib.parse import quote

from director.exchanges.base import ExchangeError
from director.exchanges.kalshi.errors import KalshiParseError
from director.exchanges.kalshi.fee_book import FeeBook
from director.exchanges.kalshi.http import MAX_PAGES, KalshiHttp
from director.exchanges.kalshi.models import (
    KalshiEvent,
    KalshiMarket,
    Orderbook,
    Page,
    market_page,
    parse_events_page,
    parse_markets_page,
    parse_orderbook,
)
from director.exchanges.kalshi.parsing import check_identifier
from director.exchanges.kalshi.responses import MarketsPage
from director.models import Market

log = logging.getLogger(__name__)

MARKETS_PAGE_LIMIT = 1000  # Kalshi's maximum for GET /markets
EVENTS_PAGE_LIMIT = 200  # Kalshi's maximum for GET /events
TICKERS_PER_REQUEST = 100


class MarketData:
    def __init__(self, http: KalshiHttp) -> None:
        self._http = http
        self.fees = FeeBook(http)

    async def get_markets_page(
        self,
        *,
        cursor: str = "",
        limit: int = MARKETS_PAGE_LIMIT,
        status: str | None = "open",
        tickers: Sequence[str] | None = None,
        event_ticker: str | None = None,
    ) -> Page[KalshiMarket]:
        if not 1 <= limit <= MARKETS_PAGE_LIMIT:
            raise ValueError(f"limit must be 1..{MARKETS_PAGE_LIMIT}")
        params: dict[str, str | int] = {"limit": limit, "mve_filter": "exclude"}
        if status:
            params["status"] = status
        if tickers:
            params["tickers"] = ",".join(tickers)
        if event_ticker:
            params["event_ticker"] = check_identifier(event_ticker, "event ticker")
        if cursor:
            params["cursor"] = cursor
        return parse_markets_page(await self._http.get("/markets", params))

    async def iter_markets(
        self, *, status: str | None = "open"
    ) -> AsyncGenerator[KalshiMarket, None]:
        """Every market (default: every open one), 1000 to a request."""
        params: dict[str, str | int] = {"limit": MARKETS_PAGE_LIMIT, "mve_filter": "exclude"}
        if status:
            params["status"] = status
        async with aclosing(self._http.pages("/markets", params, MarketsPage)) as pages:
            async for body in pages:
                page = market_page(body)
                if page.errors:
                    log.warning(
                        "kalshi markets: %d malformed, e.g. %s", page.errors, page.first_error
                    )
                for market in page.items:
                    yield market

    async def get_markets(self, tickers: Sequence[str] | None = None) -> list[Market]:
        """The port's markets, each with its tick grid and its fees; a market whose fees can't
        be read is left out (never priced by a guess). None: every open market."""
        if tickers is None:
            return await self._every_open_market()
        wanted: list[str] = []
        for ticker in dict.fromkeys(tickers):
            try:
                wanted.append(check_identifier(ticker, "market ticker"))
            except ExchangeError:
                log.warning("kalshi markets: skipped invalid ticker %r", ticker[:40])
        found: list[Market] = []
        for start in range(0, len(wanted), TICKERS_PER_REQUEST):
            chunk = wanted[start : start + TICKERS_PER_REQUEST]
            cursor = ""
            while True:
                page = await self.get_markets_page(
                    cursor=cursor, limit=TICKERS_PER_REQUEST, status=None, tickers=chunk
                )
                for market in page.items:
                    if market.ticker in chunk and (priced := await self._priced(market)):
                        found.append(priced)
                if not page.cursor or page.cursor == cursor:
                    break
                cursor = page.cursor
        return found

    async def _priced(self, market: KalshiMarket) -> Market | None:
        try:
            return market.to_market(await self.fees.schedule_for(market))
        except ExchangeError as exc:
            log.warning("kalshi markets: %s left out, fees unreadable: %s", market.ticker, exc)
            return None

    async def _every_open_market(self) -> list[Market]:
        # The events first (200 a page, without their markets; iter_event_pages notes each
        # one's series and fee overrides), so pricing the markets needs no request per event.
        async with aclosing(self.iter_event_pages(nested=False)) as pages:
            async for _ in pages:
                pass
        found: list[Market] = []
        async with aclosing(self.iter_markets()) as markets:
            async for market in markets:
                if (priced := await self._priced(market)) is not None:
                    found.append(priced)
        return found

    async def get_events(
        self,
        *,
        cursor: str = "",
        limit: int = EVENTS_PAGE_LIMIT,
        status: str | None = "open",
        with_nested_markets: bool = True,
        series_ticker: str | None = None,
    ) -> Page[KalshiEvent]:
        """One page of events (with their markets nested, by default)."""
        if not 1 <= limit <= EVENTS_PAGE_LIMIT:
            raise ValueError(f"limit must be 1..{EVENTS_PAGE_LIMIT}")
        params: dict[str, str | int] = {
            "limit": limit,
            "with_nested_markets": "true" if with_nested_markets else "false",
        }
        if status:
            params["status"] = status
        if series_ticker:
            params["series_ticker"] = check_identifier(series_ticker, "series ticker")
        if cursor:
            params["cursor"] = cursor
        return parse_events_page(await self._http.get("/events", params))

    async def iter_event_pages(
        self, *, status: str | None = "open", nested: bool = True, max_pages: int = MAX_PAGES
    ) -> AsyncGenerator[Page[KalshiEvent], None]:
        """Every page of events (with nested markets, by default), in order; stops on a
        repeated cursor."""
        cursor = ""
        seen: set[str] = set()
        for _ in range(max_pages):
            page = await self.get_events(cursor=cursor, status=status, with_nested_markets=nested)
            for event in page.items:
                # Each event names its series and fee overrides: pricing its markets later
                # (SENSE's quotes) then needs no request per event.
                self.fees.note_event(
                    event.event_ticker, event.series_ticker, event.fee_type, event.fee_multiplier
                )
            yield page
            if not page.cursor:
                return
            if page.cursor in seen:
                raise KalshiParseError("GET /events: pagination cursor repeats")
            seen.add(page.cursor)
            cursor = page.cursor
        raise ExchangeError(f"GET /events: more than {max_pages} pages")

    async def get_orderbook(self, ticker: str, *, depth: int | None = None) -> Orderbook:
        check_identifier(ticker, "market ticker")
        params: dict[str, str | int] = {} if depth is None else {"depth": depth}
        body = await self._http.get(f"/markets/{quote(ticker, safe='')}/orderbook", params)
        return parse_orderbook(ticker, body)
