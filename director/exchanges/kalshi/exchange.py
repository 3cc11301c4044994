"""Kalshi (Trade API v2) behind the Exchange port.

One `KalshiExchange` per process owns one `KalshiHttp` (one httpx client, the read and write
token buckets); the director, the scanner and approvals all share it. The work is done by
`MarketData`, `Portfolio` and `Execution`; this class wires them and speaks the port.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from datetime import datetime
from decimal import Decimal

import httpx

from director.baskets import BasketIntent, BasketResult
from director.clock import Clock, wall_clock
from director.exchanges.kalshi.auth import KalshiSigner
from director.exchanges.kalshi.baskets import KalshiBaskets
from director.exchanges.kalshi.batch import get_orderbooks
from director.exchanges.kalshi.execution import Execution
from director.exchanges.kalshi.http import KalshiHttp
from director.exchanges.kalshi.intents import IntentBook, IntentJournal, KnownOrders
from director.exchanges.kalshi.limits import RateLimits
from director.exchanges.kalshi.market_data import MarketData
from director.exchanges.kalshi.models import KalshiEvent, KalshiMarket, Orderbook, Page
from director.exchanges.kalshi.portfolio import Portfolio
from director.exchanges.kalshi.portfolio_models import KalshiPosition, Settlement
from director.exchanges.kalshi.ratelimit import TokenBucket
from director.exchanges.kalshi.recovery import OrderFinder
from director.exchanges.kalshi.status import StatusReader
from director.exchanges.kalshi.tuning import KalshiStats, KalshiTuning
from director.exchanges.status import VenueStatus
from director.fees import FeeSchedule
from director.models import Fill, Market, Order, OrderRequest, Position
from director.settings import Settings


def environment_of(base_url: str) -> str:
    return "DEMO" if "demo" in base_url.lower() else "PROD"


class KalshiExchange:
    """The Kalshi venue. Use `from_settings`; close it (or `async with`) when done."""

    name = "kalshi"

    def __init__(
        self,
        *,
        base_url: str,
        signer: KalshiSigner,
        clock: Clock = wall_clock,
        http: httpx.AsyncClient | None = None,
        reads_per_second: float = 20.0,
        writes_per_second: float = 10.0,
        tuning: KalshiTuning | None = None,
        environment: str | None = None,
        journal: IntentJournal | None = None,
        subaccount: int = 0,
        cancel_order_on_pause: bool = False,
    ) -> None:
        self.http = KalshiHttp(
            base_url=base_url,
            signer=signer,
            clock=clock,
            http=http,
            reads_per_second=reads_per_second,
            writes_per_second=writes_per_second,
            tuning=tuning,
        )
        self.base_url = self.http.base_url
        self.environment = environment or environment_of(base_url)
        self.subaccount = subaccount
        self.intents = IntentBook(journal, clock)
        self.known_orders = KnownOrders()
        self.status = StatusReader(self.http)
        self.market_data = MarketData(self.http)
        self.portfolio = Portfolio(
            self.http, self.intents, self.known_orders, self.market_data, subaccount=subaccount
        )
        self.finder = OrderFinder(self.http, self.intents, self.known_orders, subaccount)
        self.execution = Execution(
            self.http,
            self.intents,
            self.known_orders,
            self.portfolio,
            self.finder,
            self.status,
            subaccount=subaccount,
            cancel_order_on_pause=cancel_order_on_pause,
        )
        # Baskets (director/exchanges/kalshi/baskets.py): the same status check before a send,
        # the same finder by client order id, and each leg's fees from the port's markets.
        self.baskets = KalshiBaskets(
            self.http,
            subaccount=subaccount,
            before_send=self.status.require_trading,
            find=self.finder.by_client_id,
            markets=self.market_data.get_markets,
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        clock: Clock = wall_clock,
        http: httpx.AsyncClient | None = None,
        tuning: KalshiTuning | None = None,
        journal: IntentJournal | None = None,
    ) -> KalshiExchange:
        """Raises SettingsError (one line naming the setting) for a missing or bad key."""
        signer = KalshiSigner.from_files(
            settings.kalshi_api_key_id, settings.kalshi_private_key_path
        )
        return cls(
            base_url=settings.kalshi_api_base,
            signer=signer,
            clock=clock,
            http=http,
            reads_per_second=settings.kalshi_reads_per_second,
            writes_per_second=settings.kalshi_writes_per_second,
            tuning=tuning,
            environment=settings.kalshi_environment,
            journal=journal,
            subaccount=settings.kalshi_subaccount,
            cancel_order_on_pause=settings.kalshi_cancel_order_on_pause,
        )

    async def __aenter__(self) -> KalshiExchange:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.close()

    @property
    def tuning(self) -> KalshiTuning:
        return self.http.tuning

    @property
    def stats(self) -> KalshiStats:
        return self.http.stats

    @property
    def reads(self) -> TokenBucket:
        return self.http.reads

    @property
    def writes(self) -> TokenBucket:
        return self.http.writes

    async def describe(self) -> str:
        """The start-up line, e.g. "Kalshi DEMO (https://…) · balance $1,234.56".
        Raises ExchangeError when the balance can't be read (bad key, wrong environment)."""
        balance = await self.get_balance()
        return f"Kalshi {self.environment} ({self.base_url}) · balance ${balance:,.2f}"

    def counters(self) -> dict[str, int]:
        return self.stats.as_counters()

    async def start(self) -> None:
        """Start-up: what our earlier orders meant, and the account's rate limits."""
        await self.restore_intents()
        await self.load_limits()

    async def load_limits(self) -> RateLimits:
        """Read the account's rate limits (Basic tier with a warning when they can't be):
        call once at start-up, before the first scan."""
        return await self.http.load_limits()

    async def restore_intents(self) -> int:
        """Reload, from the journal, what the orders placed before a restart meant."""
        return await self.intents.restore()

    # --- the port -----------------------------------------------------------------------

    async def get_balance(self) -> Decimal:
        return await self.portfolio.get_balance()

    async def get_positions(self) -> list[Position]:
        return await self.portfolio.get_positions()

    async def get_resting_orders(self, ticker: str | None = None) -> list[Order]:
        return await self.portfolio.get_resting_orders(ticker)

    async def get_fills(self, since: datetime | None = None) -> list[Fill]:
        return await self.portfolio.get_fills(since)

    async def get_markets(self, tickers: Sequence[str] | None = None) -> list[Market]:
        return await self.market_data.get_markets(tickers)

    async def place_order(self, request: OrderRequest) -> Order:
        return await self.execution.place_order(request)

    async def cancel_order(self, order_id: str) -> Order:
        return await self.execution.cancel_order(order_id)

    async def trading_status(self) -> VenueStatus:
        """Kalshi's GET /exchange/status (director.exchanges.status.TradingStatusVenue)."""
        return await self.status.read()

    async def order_by_client_id(self, market: str, client_order_id: str) -> Order | None:
        """The order `client_order_id` created on `market`, in any status, live or past the
        historical cutoff; None when Kalshi has none; ExchangeError when it cannot tell."""
        return await self.execution.order_by_client_id(market, client_order_id)

    # --- Kalshi's own reads (the scanner, reconciliation) -------------------------------

    async def get_order(self, order_id: str) -> Order:
        return await self.portfolio.get_order(order_id)

    async def get_kalshi_positions(self, ticker: str | None = None) -> list[KalshiPosition]:
        return await self.portfolio.get_kalshi_positions(ticker)

    async def get_settlements(self, since: datetime | None = None) -> list[Settlement]:
        return await self.portfolio.get_settlements(since)

    def iter_markets(self, *, status: str | None = "open") -> AsyncGenerator[KalshiMarket, None]:
        return self.market_data.iter_markets(status=status)

    def iter_event_pages(
        self, *, status: str | None = "open"
    ) -> AsyncGenerator[Page[KalshiEvent], None]:
        return self.market_data.iter_event_pages(status=status)

    async def get_orderbook(self, ticker: str, *, depth: int | None = None) -> Orderbook:
        return await self.market_data.get_orderbook(ticker, depth=depth)

    # --- baskets (director/exchanges/kalshi/baskets.py) ---------------------------------

    async def get_orderbooks(self, tickers: Sequence[str]) -> dict[str, Orderbook]:
        return await get_orderbooks(self.http, tickers)

    async def place_basket(self, basket: BasketIntent, client_order_id: str) -> BasketResult:
        return await self.baskets.place_basket(basket, client_order_id)

    async def fee_schedule(self, event: KalshiEvent, market: KalshiMarket) -> FeeSchedule:
        """A scanned market's fees; the event, read with it, saves the fee book a request."""
        fees = self.market_data.fees
        fees.note_event(
            event.event_ticker, event.series_ticker, event.fee_type, event.fee_multiplier
        )
        return await fees.schedule_for(market)
