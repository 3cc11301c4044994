"""Kalshi (Trade API v2) behind the Exchange port.

One `KalshiExchange` per process owns one httpx.AsyncClient and two token buckets (reads and
writes, Kalshi's two budgets); the director, the scanner and approvals all share them.

Reads retry on 429, 5xx and timeouts with exponential backoff and jitter (Kalshi's 429 carries
no Retry-After). Orders go through the V2 endpoints only (`POST /portfolio/events/orders`,
`DELETE /portfolio/events/orders/{id}`), quoted on the YES book:

    buy YES at p  → bid at p          sell YES at p → ask at p
    buy NO at q   → ask at 1 − q      sell NO at q  → bid at 1 − q

Placing is idempotent on `client_order_id`: a create whose fate is unknown (timeout, 5xx, a
dropped connection) is looked up by that id before anything is re-sent, and Kalshi's
`409 order_already_exists` means "already placed", answered with the existing order. If the
lookup itself fails, nothing is re-sent and the error says the outcome is unknown.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import quote, urlsplit

import httpx

from director.exchanges.base import (
    ExchangeError,
    InsufficientFunds,
    MarketClosed,
    OrderNotFound,
)
from director.exchanges.kalshi_auth import KalshiSigner
from director.exchanges.kalshi_models import (
    CreatedOrder,
    Intent,
    KalshiEvent,
    KalshiMarket,
    KalshiParseError,
    KalshiPosition,
    Orderbook,
    Page,
    Settlement,
    error_info,
    mapping,
    parse_balance,
    parse_canceled,
    parse_created,
    parse_events_page,
    parse_fill,
    parse_markets_page,
    parse_order,
    parse_orderbook,
    parse_position,
    parse_settlement,
    sequence,
    whole,
)
from director.exchanges.ratelimit import Backoff, Monotonic, Sleep, TokenBucket
from director.models import (
    CENT,
    ONE,
    Fill,
    Market,
    Order,
    OrderAction,
    OrderRequest,
    OrderStatus,
    Position,
    Side,
)
from director.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], datetime]
TimeInForce = Literal["good_till_canceled", "immediate_or_cancel", "fill_or_kill"]
SelfTradePrevention = Literal["taker_at_cross", "maker"]

MARKETS_PAGE_LIMIT = 1000  # Kalshi's maximum for GET /markets
EVENTS_PAGE_LIMIT = 200  # Kalshi's maximum for GET /events
PORTFOLIO_PAGE_LIMIT = 100  # Kalshi's default for the portfolio lists
TICKERS_PER_REQUEST = 100
MAX_PAGES = 2000
MAX_CLIENT_ORDER_ID = 64
LOOKUP_SLACK = timedelta(minutes=5)
MAX_REMEMBERED_INTENTS = 10_000
PRICE_PLACES = Decimal("0.0001")  # Kalshi accepts 2-4 decimal places in request prices

INSUFFICIENT_FUNDS_CODES = frozenset({"insufficient_balance", "insufficient_funds"})
MARKET_CLOSED_CODES = frozenset(
    {"market_closed", "market_not_open", "market_inactive", "trading_is_paused"}
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def environment_of(base_url: str) -> str:
    return "DEMO" if "demo" in base_url.lower() else "PROD"


def _clean(text: str, limit: int = 200) -> str:
    """Server text shown to the operator: printable, one line, bounded."""
    flat = "".join(ch if ch.isprintable() else " " for ch in text)
    flat = " ".join(flat.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class IntentJournal(Protocol):
    """Where what an order meant outlives the process (the Store implements it)."""

    async def save_order_intent(self, key: str, side: str, action: str, now: datetime) -> None: ...

    async def recent_order_intents(self, limit: int) -> list[tuple[str, str, str]]: ...


class KalshiRequestError(ExchangeError):
    """Kalshi answered with an error status; `status` and `code` are Kalshi's."""

    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class OrderStateUnknown(ExchangeError):
    """A create may or may not have reached the book and it could not be checked."""


@dataclass(frozen=True)
class KalshiTuning:
    """Knobs with production defaults; tests shrink the waits."""

    request_timeout_s: float = 10.0
    max_attempts: int = 5
    backoff: Backoff = field(default_factory=Backoff)
    read_burst: float | None = None
    write_burst: float | None = None
    time_in_force: TimeInForce = "good_till_canceled"
    self_trade_prevention: SelfTradePrevention = "taker_at_cross"
    seed: int | None = None
    monotonic: Monotonic = time.monotonic
    sleep: Sleep = asyncio.sleep

    def __post_init__(self) -> None:
        if not self.request_timeout_s > 0:
            raise ValueError("request_timeout_s must be positive")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")


@dataclass
class KalshiStats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    timeouts: int = 0
    server_errors: int = 0
    orders_placed: int = 0
    orders_recovered: int = 0

    def as_counters(self) -> dict[str, int]:
        return dict(vars(self))


class _Post(Enum):
    CREATED = "created"
    EXISTS = "exists"
    REFUSED_RETRYABLE = "refused"  # definitely not placed (429, never connected)
    UNKNOWN = "unknown"  # may have been placed (timeout, 5xx, connection dropped)


@dataclass(frozen=True)
class _PostResult:
    outcome: _Post
    detail: str = ""
    created: CreatedOrder | None = None


def format_price(value: Decimal) -> str:
    """A request price: 2 decimals on the cent grid, else up to 4."""
    if value == value.quantize(CENT):
        return f"{value:.2f}"
    return f"{value.quantize(PRICE_PLACES):.4f}"


def book_order(action: OrderAction, side: Side, price: Decimal) -> tuple[str, Decimal]:
    """(V2 side, price on the YES book) for an order stated as action × outcome side."""
    if side is Side.YES:
        return ("bid" if action is OrderAction.BUY else "ask"), price
    return ("ask" if action is OrderAction.BUY else "bid"), ONE - price


def book_side_of(order: Order) -> str:
    return book_order(order.action, order.side, order.price)[0]


def _check_identifier(value: str, what: str, limit: int = 200) -> str:
    if (
        not value
        or len(value) > limit
        or any(ch.isspace() or not ch.isprintable() or ch in "/?#%" for ch in value)
    ):
        raise ExchangeError(f"invalid {what} {value[:40]!r}")
    return value


def order_body(
    request: OrderRequest,
    *,
    time_in_force: TimeInForce,
    self_trade_prevention: SelfTradePrevention,
) -> dict[str, Any]:
    """The CreateOrderV2Request for `request`, after checking everything Kalshi would."""
    _check_identifier(request.market, "market ticker")
    _check_identifier(request.client_order_id, "client_order_id", MAX_CLIENT_ORDER_ID)
    price = request.price
    if not price.is_finite() or not Decimal(0) < price < ONE:
        raise ExchangeError(f"price {price} must be between 0 and 1 dollars")
    if price != price.quantize(PRICE_PLACES):
        raise ExchangeError(f"price {price} has more than 4 decimal places")
    if request.quantity <= 0:
        raise ExchangeError("quantity must be a positive number of contracts")
    side, book_price = book_order(request.action, request.side, price)
    body: dict[str, Any] = {
        "ticker": request.market,
        "client_order_id": request.client_order_id,
        "side": side,
        "count": str(request.quantity),
        "price": format_price(book_price),
        "time_in_force": time_in_force,
        "self_trade_prevention_type": self_trade_prevention,
    }
    # Kalshi accepts reduce_only only with immediate_or_cancel; resting sells are checked
    # against the position client-side instead (see KalshiExchange._check_sell_covered).
    if request.action is OrderAction.SELL and time_in_force == "immediate_or_cancel":
        body["reduce_only"] = True
    return body


class KalshiExchange:
    """The Kalshi venue. Use `from_settings`; close it (or `async with`) when done."""

    name = "kalshi"

    def __init__(
        self,
        *,
        base_url: str,
        signer: KalshiSigner,
        clock: Clock = utc_now,
        http: httpx.AsyncClient | None = None,
        reads_per_second: float = 20.0,
        writes_per_second: float = 10.0,
        tuning: KalshiTuning | None = None,
        environment: str | None = None,
        journal: IntentJournal | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"KALSHI_API_BASE: not an http(s) URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._base_path = parts.path.rstrip("/")
        self.environment = environment or environment_of(base_url)
        self.tuning = tuning or KalshiTuning()
        self._signer = signer
        self._clock = clock
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            timeout=self.tuning.request_timeout_s,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
            headers={"User-Agent": "omega-director"},
        )
        self.reads = TokenBucket(
            reads_per_second,
            burst=self.tuning.read_burst,
            monotonic=self.tuning.monotonic,
            sleep=self.tuning.sleep,
        )
        self.writes = TokenBucket(
            writes_per_second,
            burst=self.tuning.write_burst,
            monotonic=self.tuning.monotonic,
            sleep=self.tuning.sleep,
        )
        self._rng = random.Random(self.tuning.seed)
        self._sleep = self.tuning.sleep
        self._timeout = httpx.Timeout(self.tuning.request_timeout_s)
        # What we meant by the orders we placed (a sell YES and a buy NO are the same order on
        # the V2 book); keyed by client_order_id and by order_id. The journal keeps the sells
        # across a restart (restore_intents); a buy reads right from its book side anyway.
        self._intents: OrderedDict[str, Intent] = OrderedDict()
        self._journal = journal
        self.stats = KalshiStats()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        clock: Clock = utc_now,
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
        )

    async def __aenter__(self) -> KalshiExchange:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def describe(self) -> str:
        """The start-up line, e.g. "Kalshi DEMO (https://…) · balance $1,234.56".
        Raises ExchangeError when the balance can't be read (bad key, wrong environment)."""
        balance = await self.get_balance()
        return f"Kalshi {self.environment} ({self.base_url}) · balance ${balance:,.2f}"

    def counters(self) -> dict[str, int]:
        return self.stats.as_counters()

    # --- transport ----------------------------------------------------------------------

    def _timestamp_ms(self) -> int:
        return int(self._clock().timestamp() * 1000)

    async def _send(
        self,
        method: str,
        path: str,
        bucket: TokenBucket,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """One signed attempt, after waiting for a token."""
        await bucket.acquire()
        headers = self._signer.headers(method, self._base_path + path, self._timestamp_ms())
        content: bytes | None = None
        if body is not None:
            content = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        self.stats.requests += 1
        return await self._http.request(
            method,
            self.base_url + path,
            params=dict(params) if params else None,
            content=content,
            headers=headers,
            timeout=self._timeout,
        )

    def _backoff(self, attempt: int) -> float:
        return self.tuning.backoff.delay(attempt, self._rng)

    async def _pause(self, attempt: int, bucket: TokenBucket, *, rate_limited: bool) -> None:
        self.stats.retries += 1
        delay = self._backoff(attempt)
        if rate_limited:
            # Everyone sharing the bucket slows down, not just this caller; the retry's own
            # acquire() then waits out the pause.
            bucket.defer(delay)
        else:
            await self._sleep(delay)

    def _decode(self, response: httpx.Response, what: str) -> Mapping[str, Any]:
        try:
            body = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            raise KalshiParseError(f"{what}: response is not JSON") from None
        return mapping(body, what)

    def _error(self, response: httpx.Response, what: str) -> ExchangeError:
        try:
            body: Any = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            body = None
        code, message = error_info(body)
        code, message = _clean(code, 60), _clean(message)
        status = response.status_code
        detail = f"{code}: {message}" if code and message else (code or message or "no detail")
        text = f"Kalshi {status} on {what} ({detail})"
        if status in (401, 403):
            return KalshiRequestError(
                f"{text}: check KALSHI_API_KEY_ID and KALSHI_PRIVATE_KEY_PATH",
                status=status,
                code=code,
            )
        if code in INSUFFICIENT_FUNDS_CODES:
            return InsufficientFunds(text)
        if code in MARKET_CLOSED_CODES:
            return MarketClosed(text)
        if status == 404 and "/orders/" in what:
            return OrderNotFound(text)
        return KalshiRequestError(text, status=status, code=code)

    async def _get(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        """GET with retries on 429, 5xx, timeouts and connection failures."""
        what = f"GET {path}"
        last = ""
        attempts = self.tuning.max_attempts
        for attempt in range(attempts):
            rate_limited = False
            try:
                response = await self._send("GET", path, self.reads, params=params)
            except httpx.TimeoutException:
                self.stats.timeouts += 1
                last = "timed out"
            except httpx.RequestError as exc:
                last = f"request failed ({type(exc).__name__})"
            else:
                status = response.status_code
                if status == 200:
                    return self._decode(response, what)
                if status == 429:
                    self.stats.rate_limited += 1
                    rate_limited = True
                    last = "rate limited (429)"
                elif status >= 500:
                    self.stats.server_errors += 1
                    last = f"server error {status}"
                else:
                    raise self._error(response, what)
            if attempt + 1 < attempts:
                log.info("kalshi %s: %s; retrying (%d/%d)", what, last, attempt + 1, attempts)
                await self._pause(attempt, self.reads, rate_limited=rate_limited)
        raise ExchangeError(f"Kalshi {what} failed after {attempts} attempts: {last}")

    async def _pages(
        self,
        path: str,
        params: Mapping[str, str | int],
        *,
        cursor: str = "",
        max_pages: int = MAX_PAGES,
    ) -> AsyncGenerator[Mapping[str, Any], None]:
        """Every page of a cursor-paginated list, in order."""
        seen: set[str] = set()
        for _ in range(max_pages):
            query = dict(params)
            if cursor:
                query["cursor"] = cursor
            body = mapping(await self._get(path, query), f"GET {path}")
            yield body
            next_cursor = body.get("cursor")
            if not next_cursor:
                return
            if not isinstance(next_cursor, str) or next_cursor in seen:
                raise KalshiParseError(f"GET {path}: pagination cursor repeats")
            seen.add(next_cursor)
            cursor = next_cursor
        raise ExchangeError(f"GET {path}: more than {max_pages} pages")

    async def _collect(
        self,
        path: str,
        params: Mapping[str, str | int],
        key: str,
        parse: Callable[[Any], T],
        *,
        strict: bool,
    ) -> list[T]:
        """All items of a paginated list. With `strict`, a malformed item fails the read: a
        position or resting order we cannot read must not vanish from the guard's view of
        exposure. Otherwise (fills, settlements: history) it is logged and skipped."""
        items: list[T] = []
        async with aclosing(self._pages(path, params)) as pages:
            async for body in pages:
                for raw in sequence(body.get(key), key, allow_null=True):
                    try:
                        items.append(parse(raw))
                    except KalshiParseError as exc:
                        if strict:
                            raise
                        log.warning("kalshi %s: skipped a malformed item: %s", path, exc)
        return items

    # --- intents ------------------------------------------------------------------------

    async def restore_intents(self) -> int:
        """Reload, from the journal, what the orders placed before a restart meant."""
        if self._journal is None:
            return 0
        restored = 0
        for key, side, action in await self._journal.recent_order_intents(MAX_REMEMBERED_INTENTS):
            try:
                self._keep(key, (Side(side), OrderAction(action)))
            except ValueError:
                log.warning("kalshi: skipped an unreadable order intent for %s", key)
                continue
            restored += 1
        return restored

    async def _remember(self, key: str, intent: Intent) -> None:
        self._keep(key, intent)
        if self._journal is None or intent[1] is OrderAction.BUY:
            return
        try:
            await self._journal.save_order_intent(
                key, intent[0].value, intent[1].value, self._clock()
            )
        except Exception:
            # The order matters more than its bookkeeping: go on, and say what it costs.
            log.exception(
                "kalshi: could not record that %s is a sell; after a restart it reads as a buy "
                "of the other side",
                key,
            )

    def _keep(self, key: str, intent: Intent) -> None:
        self._intents[key] = intent
        self._intents.move_to_end(key)
        while len(self._intents) > MAX_REMEMBERED_INTENTS:
            self._intents.popitem(last=False)

    def _intent_for(self, raw: Any) -> Intent | None:
        if not isinstance(raw, Mapping):
            return None
        for key in ("order_id", "client_order_id"):
            value = raw.get(key)
            if isinstance(value, str) and value in self._intents:
                return self._intents[value]
        return None

    def _order(self, raw: Any) -> Order:
        return parse_order(raw, self._intent_for(raw))

    def _fill(self, raw: Any) -> Fill:
        return parse_fill(raw, self._intent_for(raw))

    # --- reads --------------------------------------------------------------------------

    async def get_balance(self) -> Decimal:
        return parse_balance(await self._get("/portfolio/balance"))

    async def get_kalshi_positions(self, ticker: str | None = None) -> list[KalshiPosition]:
        """Non-zero market positions as Kalshi reports them (signed, fractional)."""
        params: dict[str, str | int] = {"count_filter": "position", "limit": PORTFOLIO_PAGE_LIMIT}
        if ticker is not None:
            params["ticker"] = _check_identifier(ticker, "market ticker")
        found = await self._collect(
            "/portfolio/positions", params, "market_positions", parse_position, strict=True
        )
        return [p for p in found if p.position != 0]

    async def get_positions(self) -> list[Position]:
        held = [p for p in await self.get_kalshi_positions() if p.quantity > 0]
        marks: dict[str, Market] = {}
        if held:
            try:
                marks = {m.ticker: m for m in await self.get_markets([p.ticker for p in held])}
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
        params: dict[str, str | int] = {"status": "resting", "limit": PORTFOLIO_PAGE_LIMIT}
        if ticker is not None:
            params["ticker"] = _check_identifier(ticker, "market ticker")
        orders = await self._collect(
            "/portfolio/orders", params, "orders", self._order, strict=True
        )
        return [o for o in orders if o.status is OrderStatus.RESTING]

    async def get_order(self, order_id: str) -> Order:
        _check_identifier(order_id, "order id")
        body = await self._get(f"/portfolio/orders/{quote(order_id, safe='')}")
        return self._order(mapping(body, "order response").get("order"))

    async def get_fills(self, since: datetime | None = None) -> list[Fill]:
        params: dict[str, str | int] = {"limit": PORTFOLIO_PAGE_LIMIT}
        if since is not None:
            params["min_ts"] = int(since.timestamp())
        fills = await self._collect("/portfolio/fills", params, "fills", self._fill, strict=False)
        return [f for f in fills if since is None or f.created_at >= since]

    async def get_settlements(self, since: datetime | None = None) -> list[Settlement]:
        params: dict[str, str | int] = {"limit": PORTFOLIO_PAGE_LIMIT}
        if since is not None:
            params["min_ts"] = int(since.timestamp())
        return await self._collect(
            "/portfolio/settlements", params, "settlements", parse_settlement, strict=False
        )

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
            params["event_ticker"] = _check_identifier(event_ticker, "event ticker")
        if cursor:
            params["cursor"] = cursor
        return parse_markets_page(await self._get("/markets", params))

    async def iter_markets(
        self, *, status: str | None = "open"
    ) -> AsyncGenerator[KalshiMarket, None]:
        """Every market (default: every open one), 1000 to a request."""
        params: dict[str, str | int] = {"limit": MARKETS_PAGE_LIMIT, "mve_filter": "exclude"}
        if status:
            params["status"] = status
        async with aclosing(self._pages("/markets", params)) as pages:
            async for body in pages:
                page = parse_markets_page(body)
                if page.errors:
                    log.warning(
                        "kalshi markets: %d malformed, e.g. %s", page.errors, page.first_error
                    )
                for market in page.items:
                    yield market

    async def get_markets(self, tickers: Sequence[str] | None = None) -> list[Market]:
        if tickers is None:
            return [m.to_market() async for m in self.iter_markets()]
        wanted: list[str] = []
        for ticker in dict.fromkeys(tickers):
            try:
                wanted.append(_check_identifier(ticker, "market ticker"))
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
                found.extend(m.to_market() for m in page.items if m.ticker in chunk)
                if not page.cursor or page.cursor == cursor:
                    break
                cursor = page.cursor
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
            params["series_ticker"] = _check_identifier(series_ticker, "series ticker")
        if cursor:
            params["cursor"] = cursor
        return parse_events_page(await self._get("/events", params))

    async def iter_event_pages(
        self, *, status: str | None = "open", max_pages: int = MAX_PAGES
    ) -> AsyncGenerator[Page[KalshiEvent], None]:
        """Every page of events with nested markets, in order; stops on a repeated cursor."""
        cursor = ""
        seen: set[str] = set()
        for _ in range(max_pages):
            page = await self.get_events(cursor=cursor, status=status)
            yield page
            if not page.cursor:
                return
            if page.cursor in seen:
                raise KalshiParseError("GET /events: pagination cursor repeats")
            seen.add(page.cursor)
            cursor = page.cursor
        raise ExchangeError(f"GET /events: more than {max_pages} pages")

    async def get_orderbook(self, ticker: str, *, depth: int | None = None) -> Orderbook:
        _check_identifier(ticker, "market ticker")
        params: dict[str, str | int] = {} if depth is None else {"depth": depth}
        body = await self._get(f"/markets/{quote(ticker, safe='')}/orderbook", params)
        return parse_orderbook(ticker, body)

    # --- orders -------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest) -> Order:
        body = order_body(
            request,
            time_in_force=self.tuning.time_in_force,
            self_trade_prevention=self.tuning.self_trade_prevention,
        )
        if request.action is OrderAction.SELL:
            await self._check_sell_covered(request)
        intent: Intent = (request.side, request.action)
        await self._remember(request.client_order_id, intent)
        since = self._clock() - LOOKUP_SLACK
        attempts = self.tuning.max_attempts
        last = ""
        outcome = _Post.UNKNOWN
        for attempt in range(attempts):
            result = await self._post_order(body)
            outcome, last = result.outcome, result.detail
            if result.created is not None:
                await self._remember(result.created.order_id, intent)
                self.stats.orders_placed += 1
                return self._order_from_created(request, result.created)
            if outcome is _Post.EXISTS:
                # The first use of this id may be old (an approval pressed hours later).
                existing = await self._find_order(request, None)
                if existing is None:
                    raise ExchangeError(
                        f"Kalshi says client_order_id {request.client_order_id} already "
                        "exists but it is not among the market's orders; not retrying"
                    )
                return existing
            if outcome is _Post.UNKNOWN:
                existing = await self._find_order(request, since)
                if existing is not None:
                    return existing
            if attempt + 1 < attempts:
                log.info(
                    "kalshi order %s: %s; retrying (%d/%d)",
                    request.client_order_id,
                    last,
                    attempt + 1,
                    attempts,
                )
                await self._pause(
                    attempt, self.writes, rate_limited=outcome is _Post.REFUSED_RETRYABLE
                )
        if outcome is _Post.UNKNOWN:
            # The last attempt may still be in flight at the exchange: look once more.
            await self._sleep(self._backoff(attempts))
            existing = await self._find_order(request, since)
            if existing is not None:
                return existing
        raise ExchangeError(
            f"order {request.client_order_id} not placed after {attempts} attempts: {last}"
        )

    async def _post_order(self, body: Mapping[str, Any]) -> _PostResult:
        """One create attempt, classified by what we know about its effect."""
        what = "POST /portfolio/events/orders"
        try:
            response = await self._send("POST", "/portfolio/events/orders", self.writes, body=body)
        except httpx.ConnectError as exc:
            return _PostResult(_Post.REFUSED_RETRYABLE, f"could not connect ({type(exc).__name__})")
        except httpx.TimeoutException:
            self.stats.timeouts += 1
            return _PostResult(_Post.UNKNOWN, "timed out")
        except httpx.RequestError as exc:
            # Sent, or partly sent, and no answer read: it may have landed.
            return _PostResult(_Post.UNKNOWN, f"connection lost ({type(exc).__name__})")
        status = response.status_code
        if status in (200, 201):
            try:
                created = parse_created(self._decode(response, what))
            except KalshiParseError as exc:
                # Accepted, but we can't read what was created: find it by its id instead.
                return _PostResult(_Post.UNKNOWN, f"unreadable create response ({exc})")
            return _PostResult(_Post.CREATED, created=created)
        if status == 409:
            code, _ = error_info(_safe_json(response))
            if code == "order_already_exists":
                return _PostResult(_Post.EXISTS, "order_already_exists")
        if status == 429:
            self.stats.rate_limited += 1
            return _PostResult(_Post.REFUSED_RETRYABLE, "rate limited (429)")
        if status >= 500:
            self.stats.server_errors += 1
            return _PostResult(_Post.UNKNOWN, f"server error {status}")
        raise self._error(response, what)

    async def _find_order(self, request: OrderRequest, since: datetime | None) -> Order | None:
        """The order with request.client_order_id on request.market, if Kalshi has it."""
        params: dict[str, str | int] = {"ticker": request.market, "limit": PORTFOLIO_PAGE_LIMIT}
        if since is not None:
            params["min_ts"] = int(since.timestamp())
        intent = (request.side, request.action)
        try:
            raw = await self._first_order_with(request.client_order_id, params)
            if raw is None:
                return None
            order = parse_order(raw, intent)
        except ExchangeError as exc:
            raise OrderStateUnknown(
                f"order {request.client_order_id} may or may not have been placed and the "
                f"check failed ({exc}); look at resting orders before placing it again"
            ) from exc
        await self._remember(order.order_id, intent)
        self.stats.orders_recovered += 1
        log.info(
            "kalshi order %s found as %s after an unclear create",
            request.client_order_id,
            order.order_id,
        )
        return order

    async def _first_order_with(
        self, client_order_id: str, params: Mapping[str, str | int]
    ) -> Mapping[str, Any] | None:
        async with aclosing(self._pages("/portfolio/orders", params)) as pages:
            async for body in pages:
                for raw in sequence(body.get("orders"), "orders", allow_null=True):
                    if isinstance(raw, Mapping) and raw.get("client_order_id") == client_order_id:
                        return raw
        return None

    def _order_from_created(self, request: OrderRequest, created: CreatedOrder) -> Order:
        filled = min(request.quantity, whole(created.fill_count, up=False))
        resting = whole(created.remaining_count, up=True)
        if self.tuning.time_in_force != "good_till_canceled":
            resting = 0  # immediate orders never rest: what did not fill is canceled
        if resting > 0:
            status, remaining = OrderStatus.RESTING, min(resting, request.quantity)
        else:
            status = OrderStatus.FILLED if filled >= request.quantity else OrderStatus.CANCELED
            remaining = request.quantity - filled
        return Order(
            order_id=created.order_id,
            client_order_id=request.client_order_id,
            market=request.market,
            side=request.side,
            action=request.action,
            price=request.price,
            quantity=request.quantity,
            remaining=remaining,
            status=status,
            created_at=created.processed_at or self._clock(),
        )

    async def _check_sell_covered(self, request: OrderRequest) -> None:
        """A resting sell that outgrows the position would open the opposite side, so a sell
        must fit in what is held minus what already rests on the same side of the book."""
        held = next(
            (
                p
                for p in await self.get_kalshi_positions(request.market)
                if p.ticker == request.market
            ),
            None,
        )
        held_qty = held.quantity if held is not None and held.side is request.side else 0
        book_side = book_order(request.action, request.side, request.price)[0]
        resting = sum(
            o.remaining
            for o in await self.get_resting_orders(request.market)
            if o.market == request.market and book_side_of(o) == book_side
        )
        if request.quantity > held_qty - resting:
            raise ExchangeError(
                f"sell of {request.quantity} {request.side.value.upper()} on {request.market} "
                f"exceeds the {held_qty} held ({resting} already resting on that side)"
            )

    async def cancel_order(self, order_id: str) -> Order:
        """Cancel a resting order. Canceling a canceled order returns it; a filled one is an
        ExchangeError; an unknown id is OrderNotFound (the paper exchange's contract)."""
        order = await self.get_order(order_id)
        if order.status is OrderStatus.CANCELED:
            return order
        if order.status is OrderStatus.FILLED:
            raise ExchangeError(f"order {order_id} is filled: nothing to cancel")
        path = f"/portfolio/events/orders/{quote(order_id, safe='')}"
        params: dict[str, str | int] = {"market_ticker": order.market}
        what = f"DELETE {path}"
        attempts = self.tuning.max_attempts
        last = ""
        refused = ""
        for attempt in range(attempts):
            rate_limited = False
            try:
                response = await self._send("DELETE", path, self.writes, params=params)
            except httpx.TimeoutException:
                self.stats.timeouts += 1
                last = "timed out"
            except httpx.RequestError as exc:
                last = f"request failed ({type(exc).__name__})"
            else:
                status = response.status_code
                if status == 200:
                    parse_canceled(self._decode(response, what))
                    break
                if status in (400, 404, 409):
                    # Already gone (filled or canceled by an earlier attempt): the order's own
                    # record below says which.
                    refused = str(self._error(response, what))
                    log.info("kalshi cancel %s: %s", order_id, refused)
                    break
                if status == 429:
                    self.stats.rate_limited += 1
                    rate_limited = True
                    last = "rate limited (429)"
                elif status >= 500:
                    self.stats.server_errors += 1
                    last = f"server error {status}"
                else:
                    raise self._error(response, what)
            if attempt + 1 < attempts:
                await self._pause(attempt, self.writes, rate_limited=rate_limited)
        else:
            raise ExchangeError(f"cancel of {order_id} failed after {attempts} attempts: {last}")
        after = await self.get_order(order_id)
        if after.status is OrderStatus.FILLED:
            raise ExchangeError(f"order {order_id} filled before the cancel reached it")
        if after.status is OrderStatus.RESTING:
            raise ExchangeError(
                f"order {order_id} is still resting after the cancel"
                + (f": {refused}" if refused else "")
            )
        return after


def _safe_json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None
