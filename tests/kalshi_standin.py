"""A local stand-in for Kalshi's Trade API v2, driven by the real KalshiExchange in tests.

It listens on 127.0.0.1 (port 0) in a background thread, under the /trade-api/v2 prefix, and:

- checks every request's RSA-PSS signature (SHA-256, MGF1-SHA256, salt = digest length) over
  timestamp + METHOD + path, with the public half of a key the test generated;
- serves markets (GET /markets, cursor pages of up to 1000) and events with nested markets
  (GET /events, pages of up to 200), order books, balance, positions, orders, fills and
  settlements, in the field shapes of Kalshi's SDK models (`*_dollars`, `*_fp` strings);
- takes orders only through the V2 endpoints (POST /portfolio/events/orders, DELETE
  /portfolio/events/orders/{id}); the legacy POST /portfolio/orders is refused and counted;
- answers 409 order_already_exists for a reused client_order_id (the code and status are
  settable: `duplicate_code`, `duplicate_status`), and can keep a new order out of the next
  `listing_lag` order listings, as a lagging replica would;
- enforces the account rules of tests/kalshi_standin_account.py (issue 13): token buckets with
  per-endpoint costs served by /account/limits and /account/endpoint_costs (429 past them, when
  `rate_limits` is set), /exchange/status (no create or cancel while trading is not active),
  series fees (GET /series, /series/{t}) with event overrides, each market's price grid (creates
  off it are refused), the historical cutoff (`archive_orders`, GET /historical/orders), and
  `subaccount` on every portfolio call (when `subaccount` is set);
- injects faults per route, each used once, in order: 429 without Retry-After, 500, a hang,
  a dropped connection, and "do the work, then 500 / hang / drop".

Every request is recorded (method, path, query) so tests can assert what the client did.
Run as a script (`python tests/kalshi_standin.py --markets 15000 --public-key key.pub
[--limits basic]`) it
serves a generated universe from its own process and prints its base URL: the benchmark uses
that so the server's memory and CPU are not charged to the client.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import random
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

if __package__ in (None, ""):  # run as a script (the benchmark): make `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.kalshi_standin_account import (
    PRICE_LEVELS,
    ExchangeState,
    RateLimits,
    SSeries,
)

PREFIX = "/trade-api/v2"
ONE = Decimal(1)
ZERO = Decimal(0)
MARKETS_MAX = 1000
EVENTS_MAX = 200
PORTFOLIO_MAX = 1000
MAX_BODY = 1 << 20
PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
TIME_IN_FORCE = {"fill_or_kill", "good_till_canceled", "immediate_or_cancel"}
SELF_TRADE = {"taker_at_cross", "maker"}
LEGACY_ORDER_FIELDS = {
    "action",
    "yes_price",
    "no_price",
    "type",
    "buy_max_cost",
    "sell_position_floor",
}


class Fault(StrEnum):
    PASS = "pass"  # no fault: lets one request through, to aim a later fault
    RATE_LIMIT = "429"  # 429 without Retry-After; nothing done
    ERROR_500 = "500"  # 500; nothing done
    HANG = "hang"  # no answer; nothing done
    DROP = "drop"  # connection closed without an answer; nothing done
    GARBAGE = "garbage"  # 200 with a body that is not JSON; nothing done
    ACCEPT_THEN_500 = "accept-500"  # done, then 500
    ACCEPT_THEN_HANG = "accept-hang"  # done, then no answer
    ACCEPT_THEN_DROP = "accept-drop"  # done, then the connection is closed
    ERROR_BODY = "error-body"  # 200 whose body is an error object; nothing done (issue 12)


Handler = Callable[[str, dict[str, str], "dict[str, Any] | None"], "tuple[int, bytes]"]
Route = tuple[str, Handler]

_BEFORE = {
    Fault.RATE_LIMIT,
    Fault.ERROR_500,
    Fault.HANG,
    Fault.DROP,
    Fault.GARBAGE,
    Fault.ERROR_BODY,
}


def dollars(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.0001'), rounding=ROUND_HALF_UP):.4f}"


def fp(value: Decimal | int) -> str:
    return f"{Decimal(value).quantize(Decimal('0.01')):.2f}"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class SMarket:
    ticker: str
    event_ticker: str
    title: str = ""
    yes_sub_title: str = ""
    status: str = "active"
    yes_bid: Decimal | None = None
    yes_ask: Decimal | None = None
    bid_size: Decimal = Decimal(100)
    ask_size: Decimal = Decimal(100)
    last_price: Decimal | None = None
    volume: int = 0
    volume_24h: int = 0
    close_time: datetime = datetime(2030, 1, 1, tzinfo=UTC)
    result: str = ""
    market_type: str = "binary"
    # One of kalshi_standin_account.PRICE_LEVELS; creates off the grid are refused.
    price_level_structure: str = "linear_cent"
    # When set, GET .../orderbook serves these (YES bids, NO bids) instead of the quote, so a
    # test can make the book disagree with the market listing.
    book_override: tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]] | None = None
    # Raw JSON fields laid over the generated ones, to serve malformed data on purpose.
    overrides: dict[str, Any] = field(default_factory=dict)
    cache: bytes | None = None

    def body(self) -> dict[str, Any]:
        body = self._body()
        body.update(self.overrides)
        return body

    def _body(self) -> dict[str, Any]:
        bid, ask = self.yes_bid, self.yes_ask
        opened = self.close_time - timedelta(days=30)
        return {
            "ticker": self.ticker,
            "event_ticker": self.event_ticker,
            "market_type": self.market_type,
            "title": self.title,
            "subtitle": "",
            "yes_sub_title": self.yes_sub_title,
            "no_sub_title": self.yes_sub_title,
            "created_time": iso(opened),
            "updated_time": iso(opened),
            "open_time": iso(opened),
            "close_time": iso(self.close_time),
            "expected_expiration_time": iso(self.close_time),
            "expiration_time": iso(self.close_time),
            "latest_expiration_time": iso(self.close_time + timedelta(days=7)),
            "settlement_timer_seconds": 300,
            "status": self.status,
            "yes_bid_dollars": dollars(bid if bid is not None else ZERO),
            "yes_bid_size_fp": fp(self.bid_size if bid is not None else ZERO),
            "yes_ask_dollars": dollars(ask if ask is not None else ONE),
            "yes_ask_size_fp": fp(self.ask_size if ask is not None else ZERO),
            "no_bid_dollars": dollars(ONE - ask if ask is not None else ZERO),
            "no_ask_dollars": dollars(ONE - bid if bid is not None else ONE),
            "last_price_dollars": dollars(self.last_price or ZERO),
            "volume_fp": fp(self.volume),
            "volume_24h_fp": fp(self.volume_24h),
            "result": self.result,
            "can_close_early": True,
            "open_interest_fp": fp(self.volume // 2),
            "notional_value_dollars": "1.0000",
            "previous_yes_bid_dollars": dollars(bid if bid is not None else ZERO),
            "previous_yes_ask_dollars": dollars(ask if ask is not None else ONE),
            "previous_price_dollars": dollars(self.last_price or ZERO),
            "settlement_bounds_type": "default",
            "expiration_value": "",
            "rules_primary": (
                f"If {self.yes_sub_title or self.title} is the outcome as reported by the "
                "source agency on the expiration date, then the market resolves to Yes."
            ),
            "rules_secondary": "Outcomes are verified against the official source.",
            "price_level_structure": self.price_level_structure,
            "price_ranges": [
                {"start": start, "end": end, "step": step}
                for start, end, step in PRICE_LEVELS[self.price_level_structure]
            ],
        }

    def encoded(self) -> bytes:
        if self.cache is None:
            self.cache = json.dumps(self.body(), separators=(",", ":")).encode()
        return self.cache


@dataclass
class SEvent:
    event_ticker: str
    series_ticker: str
    title: str
    mutually_exclusive: bool = False
    tickers: list[str] = field(default_factory=list)
    fee_multiplier_override: float | None = None
    cache: dict[bool, bytes] = field(default_factory=dict)
    fee_type_override: str | None = None

    def head(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "event_ticker": self.event_ticker,
            "series_ticker": self.series_ticker,
            "sub_title": self.title[:40],
            "title": self.title,
            "collateral_return_type": "MECNET" if self.mutually_exclusive else "",
            "mutually_exclusive": self.mutually_exclusive,
            "category": "Test",
            "settlement_sources": [{"name": "Stand-in", "url": "https://example.invalid"}],
        }
        if self.fee_multiplier_override is not None:
            body["fee_type_override"] = self.fee_type_override or "quadratic"
            body["fee_multiplier_override"] = self.fee_multiplier_override
        return body


@dataclass
class SOrder:
    order_id: str
    client_order_id: str
    ticker: str
    book_side: str
    price: Decimal  # YES-book price
    initial: Decimal
    filled: Decimal
    remaining: Decimal
    status: str
    created: datetime
    time_in_force: str
    self_trade_prevention_type: str

    def body(self) -> dict[str, Any]:
        yes = self.price
        return {
            "order_id": self.order_id,
            "user_id": "standin-user",
            "client_order_id": self.client_order_id,
            "ticker": self.ticker,
            "outcome_side": "yes" if self.book_side == "bid" else "no",
            "book_side": self.book_side,
            "type": "limit",
            "status": self.status,
            "yes_price_dollars": dollars(yes),
            "no_price_dollars": dollars(ONE - yes),
            "fill_count_fp": fp(self.filled),
            "remaining_count_fp": fp(self.remaining),
            "initial_count_fp": fp(self.initial),
            "taker_fill_cost_dollars": dollars(self.filled * yes),
            "maker_fill_cost_dollars": "0.0000",
            "taker_fees_dollars": "0.0000",
            "maker_fees_dollars": "0.0000",
            "created_time": iso(self.created),
            "last_update_time": iso(self.created),
            "self_trade_prevention_type": self.self_trade_prevention_type,
        }


@dataclass
class OrderGroup:
    group_id: str
    limit: Decimal
    matched: Decimal = ZERO
    triggered: bool = False


@dataclass
class SPosition:
    ticker: str
    position: Decimal
    exposure: Decimal

    def body(self) -> dict[str, Any]:
        return {
            "ticker": self.ticker,
            "exchange_index": 0,
            "total_traded_dollars": dollars(self.exposure),
            "position_fp": fp(self.position),
            "market_exposure_dollars": dollars(self.exposure),
            "realized_pnl_dollars": "0.0000",
            "fees_paid_dollars": "0.0000",
            "last_updated_ts": "2026-01-01T00:00:00Z",
        }


@dataclass(frozen=True)
class Canned:
    """A scripted answer (issue 12's fault scripts): status and raw body, nothing done."""

    status: int
    body: bytes

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Canned:
        return cls(status, json.dumps(value).encode())


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str  # without the /trade-api/v2 prefix
    query: dict[str, str]
    body: dict[str, Any] | None
    route: str


class _Hang(Exception):
    pass


class _Drop(Exception):
    pass


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class KalshiStandin:
    """The stand-in. Use as a context manager; `base_url` is what KALSHI_API_BASE would be."""

    def __init__(
        self,
        public_key: RSAPublicKey | Ed25519PublicKey,
        *,
        key_id: str = "test-key-id",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        hang_seconds: float = 5.0,
        max_skew_ms: int | None = None,
        record: bool = True,
    ) -> None:
        self.public_key = public_key
        self.key_id = key_id
        self.clock = clock
        self.hang_seconds = hang_seconds
        self.max_skew_ms = max_skew_ms
        self.record = record
        self.lock = threading.RLock()
        self.markets: dict[str, SMarket] = {}
        self.events: dict[str, SEvent] = {}
        self.orders: dict[str, SOrder] = {}
        self.positions: dict[str, SPosition] = {}
        self.fills: list[dict[str, Any]] = []
        self.settlements: list[dict[str, Any]] = []
        self.balance = Decimal("1000.00")
        self.requests: list[Recorded] = []
        self.auth_failures = 0
        self.legacy_order_calls = 0
        self.faults: dict[str, deque[Fault]] = {}
        # Issue 12's fault hooks (see `script` and `create_latency_s`).
        self.canned: dict[str, deque[Canned]] = {}
        self.canned_always: dict[str, Canned] = {}
        self.create_latency_s = 0.0
        self.chaos: tuple[float, tuple[Fault, ...], random.Random] | None = None
        self.chaos_hits: list[tuple[str, Fault]] = []
        self.create_received = threading.Event()
        self.creates_received = 0
        self._ids = itertools.count(1)
        # Baskets: order groups, the batched create's per-batch limit, and a hook a test uses
        # to move the books between the client's read and its send.
        self.order_groups: dict[str, OrderGroup] = {}
        self.max_batch_orders = 10
        self.before_batch: Callable[[KalshiStandin], None] | None = None
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        # Account rules (tests/kalshi_standin_account.py). Rate limits are enforced only when
        # set; /account/limits serves the Basic tier otherwise.
        self.rate_limits: RateLimits | None = None
        self.exchange = ExchangeState()
        self.series: dict[str, SSeries] = {}
        # Orders canceled or executed before Kalshi's historical cutoff live here only.
        self.historical_orders: dict[str, SOrder] = {}
        self.historical_cutoff = datetime(2020, 1, 1, tzinfo=UTC)
        # The code of the 409 for a reused client_order_id (Kalshi's codes may change).
        self.duplicate_code = "order_already_exists"
        # And its status: 400 with a funds code plays an exchange that checks the balance
        # (already spent by the first create) before the id.
        self.duplicate_status = 409
        # How many order listings a new order stays out of (a lagging read replica).
        self.listing_lag = 0
        self._hidden: dict[str, int] = {}
        # When set, every portfolio call must name this subaccount (query or body).
        self.subaccount: int | None = None

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> KalshiStandin:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        # A short poll keeps stop() quick; the default half second adds up over many tests.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, name="kalshi-standin"
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> KalshiStandin:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{PREFIX}"

    # --- set-up -------------------------------------------------------------------------

    def add_event(
        self,
        event_ticker: str,
        *,
        title: str = "",
        mutually_exclusive: bool = False,
        series_ticker: str = "",
        fee_multiplier_override: float | None = None,
    ) -> SEvent:
        with self.lock:
            event = SEvent(
                event_ticker=event_ticker,
                series_ticker=series_ticker or event_ticker.split("-")[0],
                title=title or f"Event {event_ticker}",
                mutually_exclusive=mutually_exclusive,
                fee_multiplier_override=fee_multiplier_override,
            )
            self.events[event_ticker] = event
            return event

    def add_market(self, market: SMarket) -> SMarket:
        with self.lock:
            if market.event_ticker not in self.events:
                self.add_event(market.event_ticker)
            self.markets[market.ticker] = market
            self.events[market.event_ticker].tickers.append(market.ticker)
            self.events[market.event_ticker].cache.clear()
            return market

    def update_market(self, ticker: str, **changes: Any) -> None:
        with self.lock:
            market = self.markets[ticker]
            for name, value in changes.items():
                setattr(market, name, value)
            market.cache = None
            self.events[market.event_ticker].cache.clear()

    def set_position(self, ticker: str, position: int, exposure: Decimal) -> None:
        with self.lock:
            self.positions[ticker] = SPosition(ticker, Decimal(position), exposure)

    def inject(self, route: str, *faults: Fault) -> None:
        """Queue faults for a route: create, cancel, markets, events, orderbook, balance,
        positions, orders, order, fills, settlements."""
        with self.lock:
            self.faults.setdefault(route, deque()).extend(faults)

    def script(self, route: str, *replies: Canned, always: bool = False) -> None:
        """Answer the next requests of a route (after the signature check) with these canned
        replies, in order, instead of doing the work: a 200 with an error body, `{}`, wrong
        types. With `always`, the one reply answers every request until `unscript`."""
        with self.lock:
            if always:
                [self.canned_always[route]] = replies
            else:
                self.canned.setdefault(route, deque()).extend(replies)

    def unscript(self, route: str) -> None:
        with self.lock:
            self.canned.pop(route, None)
            self.canned_always.pop(route, None)

    def _canned_reply(self, route: str) -> Canned | None:
        with self.lock:
            queued = self.canned.get(route)
            if queued:
                return queued.popleft()
            return self.canned_always.get(route)

    def faults_at_random(self, rate: float, faults: Iterable[Fault], *, seed: int) -> None:
        """From now on each request, with probability `rate`, meets one of `faults` (seeded,
        so a soak is repeatable); `chaos_hits` lists what was dealt. rate 0 stops it."""
        with self.lock:
            self.chaos = (rate, tuple(faults), random.Random(seed)) if rate > 0 else None

    def _random_fault(self, route: str) -> Fault | None:
        """Called with the lock held."""
        if self.chaos is None:
            return None
        rate, faults, rng = self.chaos
        if rng.random() >= rate:
            return None
        fault = rng.choice(faults)
        self.chaos_hits.append((route, fault))
        return fault

    def _create_arrived(self) -> None:
        """A create came in: tell a waiting test (`create_received`), then take
        `create_latency_s` to apply it, like a busy exchange. The order lands after that even
        if the client is gone (killed) — and stays invisible to every read until then."""
        with self.lock:
            self.creates_received += 1
        self.create_received.set()
        if self.create_latency_s > 0:
            threading.Event().wait(self.create_latency_s)

    def release_hangs(self) -> None:
        self._release.set()

    def calls(self, route: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.route == route]

    def generate_universe(
        self,
        n_markets: int,
        *,
        seed: int = 1,
        now: datetime | None = None,
        mean_event_size: int = 5,
        exclusive_share: float = 0.6,
    ) -> None:
        """`n_markets` open markets in events of 1..2·mean−1 markets, quoted without arbitrage
        (each exclusive event's asks sum above 1 and its bids below 1)."""
        rng = random.Random(seed)
        start = now or self.clock()
        made = 0
        number = 0
        with self.lock:
            while made < n_markets:
                size = min(n_markets - made, rng.randint(1, 2 * mean_event_size - 1))
                number += 1
                event_ticker = f"KXGEN{number % 97:02d}-{number:05d}"
                exclusive = size > 1 and rng.random() < exclusive_share
                self.add_event(
                    event_ticker,
                    title=f"Generated event {number}: which outcome happens?",
                    mutually_exclusive=exclusive,
                )
                close = start + timedelta(hours=rng.randint(1, 24 * 60))
                weights = [rng.random() + 0.05 for _ in range(size)]
                total = sum(weights)
                quotes = []
                for leg in range(size):
                    fair = weights[leg] / total if exclusive else rng.uniform(0.05, 0.95)
                    mid = min(Decimal("0.94"), max(Decimal("0.06"), Decimal(f"{fair:.2f}")))
                    half = Decimal(rng.choice((1, 2, 3, 4))) / 100
                    bid = max(Decimal("0.01"), mid - half)
                    ask = min(Decimal("0.99"), mid + half + Decimal("0.02"))
                    quotes.append([bid, mid, ask])
                if exclusive:
                    _without_arbitrage(quotes)
                for leg, (bid, mid, ask) in enumerate(quotes):
                    self.add_market(
                        SMarket(
                            ticker=f"{event_ticker}-O{leg}",
                            event_ticker=event_ticker,
                            title=f"Generated event {number}",
                            yes_sub_title=f"Outcome {leg}",
                            yes_bid=bid,
                            yes_ask=ask,
                            bid_size=Decimal(rng.randint(1, 500)),
                            ask_size=Decimal(rng.randint(1, 500)),
                            last_price=mid,
                            volume=rng.randint(0, 100_000),
                            volume_24h=rng.randint(0, 5_000),
                            close_time=close,
                        )
                    )
                    made += 1

    # --- request handling (called on server threads) ------------------------------------

    def _verify(self, method: str, raw_path: str, headers: Any) -> None:
        key = headers.get("KALSHI-ACCESS-KEY")
        stamp = headers.get("KALSHI-ACCESS-TIMESTAMP")
        signature = headers.get("KALSHI-ACCESS-SIGNATURE")
        if not key or not stamp or not signature:
            raise ApiError(401, "authentication_error", "missing authentication headers")
        if key != self.key_id:
            raise ApiError(401, "authentication_error", "unknown API key")
        if not stamp.isdigit():
            raise ApiError(401, "authentication_error", "bad timestamp")
        if self.max_skew_ms is not None:
            now_ms = int(self.clock().timestamp() * 1000)
            if abs(now_ms - int(stamp)) > self.max_skew_ms:
                raise ApiError(401, "authentication_error", "timestamp outside the window")
        message = f"{stamp}{method}{raw_path.split('?', 1)[0]}".encode()
        try:
            decoded = base64.b64decode(signature, validate=True)
            if isinstance(self.public_key, RSAPublicKey):
                self.public_key.verify(decoded, message, PSS, hashes.SHA256())
            else:
                self.public_key.verify(decoded, message)
        except (InvalidSignature, ValueError):
            raise ApiError(401, "authentication_error", "signature does not verify") from None

    def handle(
        self, method: str, raw_path: str, headers: Any, body: bytes
    ) -> tuple[int, bytes, Fault | None]:
        parts = urlsplit(raw_path)
        if not parts.path.startswith(PREFIX + "/"):
            return 404, _error_body("not_found", "unknown path"), None
        path = parts.path[len(PREFIX) :]
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        # A repeated parameter (GET /markets/orderbooks?tickers=A&tickers=B) arrives joined by
        # newlines, which a URL-decoded ticker never contains.
        query.update({k: "\n".join(v) for k, v in parse_qs(parts.query).items() if len(v) > 1})
        route, handler = self._route(method, path)
        payload: dict[str, Any] | None = None
        if body:
            try:
                loaded = json.loads(body)
            except ValueError:
                return 400, _error_body("invalid_json", "body is not JSON"), None
            payload = loaded if isinstance(loaded, dict) else {"_": loaded}
        with self.lock:
            if self.record:
                self.requests.append(Recorded(method, path, query, payload, route))
            queued = self.faults.get(route)
            fault = queued.popleft() if queued else self._random_fault(route)
        if fault is Fault.PASS:
            fault = None
        try:
            self._verify(method, raw_path, headers)
        except ApiError as exc:
            with self.lock:
                self.auth_failures += 1
            return exc.status, _error_body(exc.code, exc.message), None
        limits = self.rate_limits
        if limits is not None and not limits.admit(
            method, path, self._batch_cost(method, path, payload)
        ):
            return 429, _json({"error": "too many requests"}), None
        canned = self._canned_reply(route)
        if canned is not None:
            return canned.status, canned.body, None
        if route == "create":
            self._create_arrived()
        if fault in _BEFORE:
            return _fault_reply(fault)
        try:
            self._check_subaccount(method, path, query, payload)
            with self.lock:
                status, answer = handler(path, query, payload)
        except ApiError as exc:
            status, answer = exc.status, _error_body(exc.code, exc.message)
        if fault is not None:
            return _fault_reply(fault)
        return status, answer, None

    def _route(
        self, method: str, path: str
    ) -> tuple[str, Callable[[str, dict[str, str], dict[str, Any] | None], tuple[int, bytes]]]:
        segments = path.strip("/").split("/")
        if method == "GET":
            if path == "/markets":
                return "markets", self._get_markets
            if path == "/events":
                return "events", self._get_events
            if len(segments) == 3 and segments[0] == "markets" and segments[2] == "orderbook":
                return "orderbook", self._get_orderbook
            if path == "/portfolio/balance":
                return "balance", self._get_balance
            if path == "/portfolio/positions":
                return "positions", self._get_positions
            if path == "/portfolio/orders":
                return "orders", self._get_orders
            if len(segments) == 3 and segments[:2] == ["portfolio", "orders"]:
                return "order", self._get_order
            if path == "/portfolio/fills":
                return "fills", self._get_fills
            if path == "/portfolio/settlements":
                return "settlements", self._get_settlements
            account = self._account_route(path, segments)
            if account is not None:
                return account
        if method == "POST" and path == "/portfolio/events/orders":
            return "create", self._create_order
        if method == "POST" and path == "/portfolio/orders":
            return "legacy-create", self._legacy_create
        if (
            method == "DELETE"
            and len(segments) == 4
            and segments[:3]
            == [
                "portfolio",
                "events",
                "orders",
            ]
        ):
            return "cancel", self._cancel_order
        basket_route = self._basket_route(method, path, segments)
        if basket_route is not None:
            return basket_route
        return "unknown", _unknown

    # --- reads --------------------------------------------------------------------------

    @staticmethod
    def _limit(query: dict[str, str], default: int, maximum: int) -> int:
        text = query.get("limit", str(default))
        if not text.isdigit() or not 1 <= int(text) <= maximum:
            raise ApiError(400, "invalid_parameters", f"limit must be 1..{maximum}")
        return int(text)

    @staticmethod
    def _offset(query: dict[str, str]) -> int:
        cursor = query.get("cursor", "")
        if not cursor:
            return 0
        try:
            return int(base64.urlsafe_b64decode(cursor.encode()).decode().removeprefix("o:"))
        except ValueError:
            raise ApiError(400, "invalid_cursor", "bad cursor") from None

    @staticmethod
    def _next_cursor(offset: int, limit: int, total: int) -> str:
        end = offset + limit
        return base64.urlsafe_b64encode(f"o:{end}".encode()).decode() if end < total else ""

    def _get_markets(self, path: str, query: dict[str, str], _: Any) -> tuple[int, bytes]:
        limit = self._limit(query, 100, MARKETS_MAX)
        offset = self._offset(query)
        markets: Iterable[SMarket] = self.markets.values()
        if query.get("tickers"):
            wanted = query["tickers"].split(",")
            markets = [self.markets[t] for t in wanted if t in self.markets]
        if query.get("event_ticker"):
            markets = [m for m in markets if m.event_ticker == query["event_ticker"]]
        status = query.get("status", "")
        if status == "open":
            markets = [m for m in markets if m.status == "active"]
        elif status:
            raise ApiError(400, "invalid_parameters", "status filter not supported here")
        chosen = list(markets)
        page = chosen[offset : offset + limit]
        cursor = self._next_cursor(offset, limit, len(chosen))
        return 200, _page(b"markets", [m.encoded() for m in page], cursor)

    def _event_bytes(self, event: SEvent, nested: bool) -> bytes:
        cached = event.cache.get(nested)
        if cached is None:
            head = json.dumps(event.head(), separators=(",", ":")).encode()
            if nested:
                inner = b",".join(self.markets[t].encoded() for t in event.tickers)
                cached = head[:-1] + b',"markets":[' + inner + b"]}"
            else:
                cached = head
            event.cache[nested] = cached
        return cached

    def _get_events(self, path: str, query: dict[str, str], _: Any) -> tuple[int, bytes]:
        limit = self._limit(query, 200, EVENTS_MAX)
        offset = self._offset(query)
        nested = query.get("with_nested_markets", "false") == "true"
        events = list(self.events.values())
        status = query.get("status", "")
        if status == "open":
            events = [
                e for e in events if any(self.markets[t].status == "active" for t in e.tickers)
            ]
        elif status:
            raise ApiError(400, "invalid_parameters", "status filter not supported here")
        page = events[offset : offset + limit]
        cursor = self._next_cursor(offset, limit, len(events))
        return 200, _page(b"events", [self._event_bytes(e, nested) for e in page], cursor)

    def _get_orderbook(self, path: str, query: dict[str, str], _: Any) -> tuple[int, bytes]:
        ticker = unquote(path.split("/")[2])
        market = self.markets.get(ticker)
        if market is None:
            raise ApiError(404, "market_not_found", f"no market {ticker}")
        if market.book_override is not None:
            yes, no = list(market.book_override[0]), list(market.book_override[1])
        else:
            yes, no = [], []
            if market.yes_bid is not None:
                yes.append((market.yes_bid, market.bid_size))
            if market.yes_ask is not None:
                no.append((ONE - market.yes_ask, market.ask_size))
        yes.sort()
        no.sort()
        # `depth` (Kalshi's docs: 0 = every level, 1-100 = that many best levels per side).
        depth = query.get("depth", "0")
        if not depth.isdigit() or int(depth) > 100:
            raise ApiError(400, "invalid_parameters", "depth: an integer 0..100")
        if int(depth):
            yes, no = yes[-int(depth) :], no[-int(depth) :]  # ascending: the best are last
        book = {
            "yes_dollars": [[dollars(p), fp(s)] for p, s in yes],
            "no_dollars": [[dollars(p), fp(s)] for p, s in no],
        }
        return 200, _json({"orderbook_fp": book})

    def _get_balance(self, path: str, query: dict[str, str], _: Any) -> tuple[int, bytes]:
        cents = int(self.balance * 100)
        return 200, _json(
            {
                "balance": cents,
                "balance_dollars": dollars(self.balance),
                "portfolio_value": cents,
                "updated_ts": int(self.clock().timestamp()),
            }
        )

    def _listing(
        self, key: str, items: list[dict[str, Any]], query: dict[str, str], **extra: Any
    ) -> bytes:
        limit = self._limit(query, 100, PORTFOLIO_MAX)
        offset = self._offset(query)
        page = items[offset : offset + limit]
        return _json({key: page, "cursor": self._next_cursor(offset, limit, len(items)), **extra})

    def _get_positions(self, path: str, query: dict[str, str], _: Any) -> tuple[int, bytes]:
        found = [p for p in self.positions.values() if p.position != 0]
        if query.get("ticker"):
            found = [p for p in found if p.ticker == query["ticker"]]
        return 200, self._listing(
            "market_positions", [p.body() for p in found], query, event_positions=[]
        )

    def _get_orders(self, path: str, query: dict[str, str], _: Any) -> tuple[int, bytes]:
        found = [o for o in self.orders.values() if not self._still_hidden(o.order_id)]
        if query.get("status"):
            found = [o for o in found if o.status == query["status"]]
        if query.get("ticker"):
            found = [o for o in found if o.ticker == query["ticker"]]
        if query.get("min_ts"):
            floor = datetime.fromtimestamp(int(query["min_ts"]), UTC)
            found = [o for o in found if o.created >= floor]
        return 200, self._listing("orders", [o.body() for o in found], query)

    def _get_order(self, path: str, query: dict[str, str], _: Any) -> tuple[int, bytes]:
        order = self.orders.get(unquote(path.split("/")[3]))
        if order is None:
            raise ApiError(404, "not_found", "no such order")
        return 200, _json({"order": order.body()})

    def _get_fills(self, path: str, query: dict[str, str], _: Any) -> tuple[int, bytes]:
        found = self.fills
        if query.get("min_ts"):
            floor = int(query["min_ts"])
            found = [f for f in found if f["ts"] >= floor]
        return 200, self._listing("fills", found, query)

    def _get_settlements(self, path: str, query: dict[str, str], _: Any) -> tuple[int, bytes]:
        return 200, self._listing("settlements", self.settlements, query)

    # --- orders -------------------------------------------------------------------------

    def _legacy_create(self, path: str, query: dict[str, str], _: Any) -> tuple[int, bytes]:
        self.legacy_order_calls += 1
        raise ApiError(400, "deprecated_endpoint", "use POST /portfolio/events/orders")

    def _create_order(
        self, path: str, query: dict[str, str], body: dict[str, Any] | None
    ) -> tuple[int, bytes]:
        if body is None:
            raise ApiError(400, "invalid_parameters", "body required")
        legacy = LEGACY_ORDER_FIELDS & body.keys()
        if legacy:
            raise ApiError(400, "invalid_parameters", f"legacy fields {sorted(legacy)}")
        ticker = body.get("ticker")
        side = body.get("side")
        count_text = body.get("count")
        price_text = body.get("price")
        tif = body.get("time_in_force")
        stp = body.get("self_trade_prevention_type")
        client_id = body.get("client_order_id") or ""
        if side not in ("bid", "ask"):
            raise ApiError(400, "invalid_parameters", "side must be bid or ask")
        if not isinstance(count_text, str) or not _is_fixed(count_text, 0, 2):
            raise ApiError(400, "invalid_parameters", "count must be a fixed-point string")
        if not isinstance(price_text, str) or not _is_fixed(price_text, 2, 4):
            raise ApiError(400, "invalid_parameters", "price must be a dollar string")
        if tif not in TIME_IN_FORCE:
            raise ApiError(400, "invalid_parameters", "bad time_in_force")
        if stp not in SELF_TRADE:
            raise ApiError(400, "invalid_parameters", "self_trade_prevention_type required")
        if body.get("reduce_only") and tif != "immediate_or_cancel":
            raise ApiError(400, "invalid_parameters", "reduce_only needs immediate_or_cancel")
        count, price = Decimal(count_text), Decimal(price_text)
        if count <= 0 or not ZERO < price < ONE:
            raise ApiError(400, "invalid_parameters", "count or price out of range")
        if not isinstance(client_id, str) or len(client_id) > 64:
            raise ApiError(400, "invalid_parameters", "bad client_order_id")
        self._require_trading()
        known = list(self.orders.values()) + list(self.historical_orders.values())
        if client_id and any(o.client_order_id == client_id for o in known):
            raise ApiError(self.duplicate_status, self.duplicate_code, "refused")
        market = self.markets.get(str(ticker))
        if market is None:
            raise ApiError(404, "market_not_found", f"no market {ticker}")
        if market.status != "active":
            raise ApiError(400, "market_closed", "market is not open")
        if not on_price_grid(price, market.price_level_structure):
            raise ApiError(400, "invalid_price", f"price {price} is not on the market's grid")
        collateral = (price if side == "bid" else ONE - price) * count
        if collateral > self.balance:
            raise ApiError(400, "insufficient_balance", "insufficient balance")
        now = self.clock()
        order = SOrder(
            order_id=f"ord-{next(self._ids):06d}",
            client_order_id=client_id,
            ticker=market.ticker,
            book_side=side,
            price=price,
            initial=count,
            filled=ZERO,
            remaining=count,
            status="resting",
            created=now,
            time_in_force=tif,
            self_trade_prevention_type=stp,
        )
        self._match(order, market, now)
        if order.remaining and tif != "good_till_canceled":
            order.remaining, order.status = ZERO, "canceled" if order.filled == 0 else "executed"
        self.orders[order.order_id] = order
        if self.listing_lag:
            self._hidden[order.order_id] = self.listing_lag
        return 201, _json(
            {
                "order_id": order.order_id,
                "client_order_id": client_id,
                "fill_count": fp(order.filled),
                "remaining_count": fp(order.remaining),
                "average_fill_price": None,
                "average_fee_paid": None,
                "ts_ms": int(now.timestamp() * 1000),
            }
        )

    def _match(self, order: SOrder, market: SMarket, now: datetime) -> None:
        """Fill against the market's best quote when the order crosses it."""
        if order.book_side == "bid" and market.yes_ask is not None:
            crosses, level, size = order.price >= market.yes_ask, market.yes_ask, market.ask_size
        elif order.book_side == "ask" and market.yes_bid is not None:
            crosses, level, size = order.price <= market.yes_bid, market.yes_bid, market.bid_size
        else:
            return
        if not crosses or size <= 0:
            return
        qty = min(order.remaining, size)
        order.filled += qty
        order.remaining -= qty
        if order.remaining == 0:
            order.status = "executed"
        signed = qty if order.book_side == "bid" else -qty
        paid = (level if order.book_side == "bid" else ONE - level) * qty
        self.balance -= paid
        held = self.positions.get(market.ticker) or SPosition(market.ticker, ZERO, ZERO)
        held.position += signed
        held.exposure = abs(held.position) * (paid / qty)
        self.positions[market.ticker] = held
        fill_id = f"fill-{next(self._ids):06d}"
        self.fills.append(
            {
                "fill_id": fill_id,
                "exchange_index": 0,
                "trade_id": fill_id,
                "order_id": order.order_id,
                "ticker": market.ticker,
                "market_ticker": market.ticker,
                "outcome_side": "yes" if order.book_side == "bid" else "no",
                "book_side": order.book_side,
                "count_fp": fp(qty),
                "yes_price_dollars": dollars(level),
                "no_price_dollars": dollars(ONE - level),
                "is_taker": True,
                "created_time": iso(now),
                "fee_cost": "0.0100",
                "ts": int(now.timestamp()),
            }
        )

    def _cancel_order(self, path: str, query: dict[str, str], _: Any) -> tuple[int, bytes]:
        self._require_trading()
        order = self.orders.get(unquote(path.split("/")[4]))
        if order is None or order.status != "resting":
            raise ApiError(404, "not_found", "no resting order with this id")
        reduced = order.remaining
        order.remaining = ZERO
        order.status = "canceled"
        return 200, _json(
            {
                "order_id": order.order_id,
                "client_order_id": order.client_order_id,
                "reduced_by": fp(reduced),
                "ts_ms": int(self.clock().timestamp() * 1000),
            }
        )

    # --- account rules (tests/kalshi_standin_account.py) --------------------------------

    def add_series(
        self, ticker: str, *, fee_type: str = "quadratic", fee_multiplier: float = 1.0
    ) -> SSeries:
        with self.lock:
            series = SSeries(ticker, fee_type, fee_multiplier)
            self.series[ticker] = series
            return series

    def archive_orders(self) -> int:
        """Move every order that is no longer resting past the historical cutoff: from then
        on only GET /historical/orders lists it."""
        with self.lock:
            done = [o for o in self.orders.values() if o.status != "resting"]
            for order in done:
                self.historical_orders[order.order_id] = self.orders.pop(order.order_id)
            self.historical_cutoff = self.clock()
            return len(done)

    def _account_route(self, path: str, segments: list[str]) -> Route | None:
        fixed: dict[str, Route] = {
            "/account/limits": ("account-limits", self._get_account_limits),
            "/account/endpoint_costs": ("endpoint-costs", self._get_endpoint_costs),
            "/exchange/status": ("exchange-status", self._get_exchange_status),
            "/historical/orders": ("historical-orders", self._get_historical_orders),
            "/historical/cutoff": ("historical-cutoff", self._get_historical_cutoff),
            "/series": ("series-list", self._get_series_list),
        }
        if path in fixed:
            return fixed[path]
        if len(segments) == 2 and segments[0] == "series":
            return "series", self._get_series
        if len(segments) == 2 and segments[0] == "events":
            return "event", self._get_event
        return None

    def _account_limits(self) -> RateLimits:
        # Not enforcing: serve Kalshi's fastest tier, so tests about other things are not
        # paced by the Basic tier.
        return self.rate_limits or RateLimits(
            tier="prime", read_rate=4000, read_capacity=4000, write_rate=4000, write_capacity=8000
        )

    def _get_account_limits(self, path: str, query: dict[str, str], _: Any) -> tuple[int, bytes]:
        return 200, _json(self._account_limits().limits_body())

    def _get_endpoint_costs(self, path: str, query: dict[str, str], _: Any) -> tuple[int, bytes]:
        return 200, _json(self._account_limits().costs_body())

    def _get_exchange_status(self, path: str, query: dict[str, str], _: Any) -> tuple[int, bytes]:
        return 200, _json(self.exchange.body())

    def _get_series(self, path: str, query: dict[str, str], _: Any) -> tuple[int, bytes]:
        ticker = unquote(path.split("/")[2])
        series = self.series.get(ticker)
        if series is None and any(e.series_ticker == ticker for e in self.events.values()):
            series = SSeries(ticker)
        if series is None:
            raise ApiError(404, "not_found", f"no series {ticker}")
        return 200, _json({"series": series.body()})

    def _get_series_list(self, path: str, query: dict[str, str], _: Any) -> tuple[int, bytes]:
        tickers = {e.series_ticker for e in self.events.values()} | set(self.series)
        listed = [(self.series.get(t) or SSeries(t)).body() for t in sorted(tickers)]
        return 200, _json({"series": listed})

    def _get_event(self, path: str, query: dict[str, str], _: Any) -> tuple[int, bytes]:
        event = self.events.get(unquote(path.split("/")[2]))
        if event is None:
            raise ApiError(404, "not_found", "no such event")
        markets = [self.markets[t].body() for t in event.tickers]
        return 200, _json({"event": event.head(), "markets": markets})

    def _get_historical_orders(self, path: str, query: dict[str, str], _: Any) -> tuple[int, bytes]:
        found = list(self.historical_orders.values())
        if query.get("ticker"):
            found = [o for o in found if o.ticker == query["ticker"]]
        return 200, self._listing("orders", [o.body() for o in found], query)

    def _get_historical_cutoff(self, path: str, query: dict[str, str], _: Any) -> tuple[int, bytes]:
        stamp = iso(self.historical_cutoff)
        return 200, _json(
            {"market_settled_ts": stamp, "trades_created_ts": stamp, "orders_updated_ts": stamp}
        )

    def _require_trading(self) -> None:
        if not self.exchange.trading:
            self.exchange.refused_while_paused += 1
            raise ApiError(409, "trading_is_paused", "trading is paused on the exchange")

    def _still_hidden(self, order_id: str) -> bool:
        left = self._hidden.get(order_id, 0)
        if left <= 0:
            return False
        self._hidden[order_id] = left - 1
        return True

    def _check_subaccount(
        self, method: str, path: str, query: dict[str, str], body: dict[str, Any] | None
    ) -> None:
        if self.subaccount is None or not path.startswith("/portfolio/"):
            return
        if method == "GET" and path.startswith("/portfolio/orders/"):
            return  # GET /portfolio/orders/{id} takes no subaccount
        named = (body or {}).get("subaccount") if method == "POST" else query.get("subaccount")
        if str(named) != str(self.subaccount):
            raise ApiError(400, "invalid_parameters", f"subaccount {named!r} is not the account's")

    def _batch_cost(self, method: str, path: str, body: dict[str, Any] | None) -> float | None:
        """A batch costs what its items would one by one (Kalshi: "batch endpoints don't
        save tokens"); a batch cancel's item costs what a cancel does."""
        if not path.endswith("/orders/batched") or body is None or self.rate_limits is None:
            return None
        items = body.get("orders", body.get("ids"))
        return self.rate_limits.batch_cost(method, len(items) if isinstance(items, list) else 1)

    # --- baskets: many books, order groups, batched create ------------------------------

    def _basket_route(
        self, method: str, path: str, segments: list[str]
    ) -> (
        tuple[str, Callable[[str, dict[str, str], dict[str, Any] | None], tuple[int, bytes]]] | None
    ):
        if method == "GET" and path == "/markets/orderbooks":
            return "orderbooks", self._get_orderbooks
        if method == "POST" and path == "/portfolio/events/orders/batched":
            return "batch-create", self._batch_create
        if method == "POST" and path == "/portfolio/order_groups/create":
            return "group-create", self._create_group
        if (
            method == "DELETE"
            and len(segments) == 3
            and segments[:2] == ["portfolio", "order_groups"]
        ):
            return "group-delete", self._delete_group
        return None

    def _get_orderbooks(self, path: str, query: dict[str, str], _: Any) -> tuple[int, bytes]:
        tickers = [t for t in query.get("tickers", "").split("\n") if t]
        if not 1 <= len(tickers) <= 100:
            raise ApiError(400, "invalid_parameters", "tickers: 1 to 100 market tickers")
        if any("," in t for t in tickers):
            raise ApiError(400, "invalid_parameters", "tickers: repeat the parameter per ticker")
        books = []
        for ticker in dict.fromkeys(tickers):
            if ticker not in self.markets:
                continue  # an unknown ticker has no book; the client must notice the gap
            _, single = self._get_orderbook(f"/markets/{ticker}/orderbook", {}, None)
            books.append({"ticker": ticker, **json.loads(single)})
        return 200, _json({"orderbooks": books})

    def _create_group(
        self, path: str, query: dict[str, str], body: dict[str, Any] | None
    ) -> tuple[int, bytes]:
        limit = (body or {}).get("contracts_limit")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1_000_000:
            raise ApiError(400, "invalid_parameters", "contracts_limit: 1..1,000,000")
        group_id = f"og-{next(self._ids):06d}"
        self.order_groups[group_id] = OrderGroup(group_id, Decimal(limit))
        return 201, _json({"order_group_id": group_id, "subaccount": 0})

    def _delete_group(self, path: str, query: dict[str, str], _: Any) -> tuple[int, bytes]:
        group_id = unquote(path.split("/")[3])
        if self.order_groups.pop(group_id, None) is None:
            raise ApiError(404, "not_found", "no such order group")
        return 200, _json({})

    def _batch_create(
        self, path: str, query: dict[str, str], body: dict[str, Any] | None
    ) -> tuple[int, bytes]:
        orders = (body or {}).get("orders")
        if not isinstance(orders, list) or not orders:
            raise ApiError(400, "invalid_parameters", "orders: a non-empty list")
        if len(orders) > self.max_batch_orders:
            raise ApiError(400, "invalid_parameters", f"at most {self.max_batch_orders} orders")
        if self.before_batch is not None:
            self.before_batch(self)
        answers = [self._batch_item(item) for item in orders]
        return 201, _json({"orders": answers})

    def _batch_item(self, item: Any) -> dict[str, Any]:
        """One item, processed on its own like Kalshi's: an order, or its error."""
        client_id = item.get("client_order_id", "") if isinstance(item, dict) else ""
        try:
            if not isinstance(item, dict):
                raise ApiError(400, "invalid_parameters", "order: an object")
            group = self._group_for(item)
            _, created = self._create_order("/portfolio/events/orders", {}, item)
            answer: dict[str, Any] = json.loads(created)
            if group is not None:
                group.matched += Decimal(answer["fill_count"])
                group.triggered = group.matched > group.limit
            return answer
        except ApiError as exc:
            error = {"code": exc.code, "message": exc.message, "details": ""}
            return {"client_order_id": client_id, "error": error}

    def _group_for(self, item: dict[str, Any]) -> OrderGroup | None:
        group_id = item.get("order_group_id")
        if group_id is None:
            return None
        group = self.order_groups.get(str(group_id))
        if group is None:
            raise ApiError(404, "order_group_not_found", "no such order group")
        if group.triggered:
            raise ApiError(400, "order_group_triggered", "the order group's limit was hit")
        return group

    # --- helpers for assertions ---------------------------------------------------------

    def orders_with_client_id(self, client_order_id: str) -> list[SOrder]:
        with self.lock:
            return [o for o in self.orders.values() if o.client_order_id == client_order_id]


def _without_arbitrage(quotes: list[list[Decimal]]) -> None:
    """Nudge an exclusive event's [bid, mid, ask] legs until its YES bids sum to at most 0.97
    and its YES asks to at least 1.03 (rounding and clamping can break either)."""
    step = Decimal("0.01")
    while sum(q[0] for q in quotes) > Decimal("0.97"):
        highest = max(quotes, key=lambda q: q[0])
        highest[0] -= step
    while sum(q[2] for q in quotes) < Decimal("1.03"):
        lowest = min(quotes, key=lambda q: q[2])
        lowest[2] += step
    for quote in quotes:
        quote[1] = min(max(quote[1], quote[0]), quote[2])


def on_price_grid(price: Decimal, structure: str) -> bool:
    for start, end, step in PRICE_LEVELS[structure]:
        low, high, tick = Decimal(start), Decimal(end), Decimal(step)
        if low <= price <= high and (price - low) % tick == 0:
            return True
    return False


def _unknown(path: str, query: dict[str, str], _: Any) -> tuple[int, bytes]:
    raise ApiError(404, "not_found", f"no route {path}")


def _is_fixed(text: str, min_places: int, max_places: int) -> bool:
    whole, dot, frac = text.partition(".")
    if not whole.isdigit() or (dot and not frac.isdigit()):
        return False
    places = len(frac) if dot else 0
    return min_places <= places <= max_places


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _error_body(code: str, message: str) -> bytes:
    # The flat ErrorResponse of the SDK models.
    return _json({"code": code, "message": message})


def _page(key: bytes, items: list[bytes], cursor: str) -> bytes:
    tail = b'],"cursor":' + json.dumps(cursor).encode() + b"}"
    return b'{"' + key + b'":[' + b",".join(items) + tail


def _fault_reply(fault: Fault | None) -> tuple[int, bytes, Fault | None]:
    if fault is Fault.RATE_LIMIT:
        return 429, _error_body("too_many_requests", "rate limit exceeded"), None
    if fault in (Fault.ERROR_500, Fault.ACCEPT_THEN_500):
        return 500, _error_body("internal_server_error", "internal error"), None
    if fault is Fault.GARBAGE:
        return 200, b"<html>gateway</html>", None
    if fault is Fault.ERROR_BODY:
        return 200, _json({"error": {"code": "internal_error", "message": "try later"}}), None
    return 0, b"", fault


def _handler_for(standin: KalshiStandin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body in one segment, sent at once: otherwise Nagle's algorithm and
        # delayed ACKs add ~40 ms to every keep-alive request.
        disable_nagle_algorithm = True
        wbufsize = 1 << 16

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._reply(413, _error_body("too_large", "body too large"))
                return
            body = self.rfile.read(length) if length else b""
            status, answer, fault = standin.handle(self.command, self.path, self.headers, body)
            if fault in (Fault.HANG, Fault.ACCEPT_THEN_HANG):
                standin._release.wait(standin.hang_seconds)
                self.close_connection = True
                return
            if fault in (Fault.DROP, Fault.ACCEPT_THEN_DROP):
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            self._reply(status, answer)

        def _reply(self, status: int, answer: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        do_GET = do_POST = do_DELETE = _serve

    return Handler


# --- helpers shared by the Kalshi tests and the benchmark ---------------------------------


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_private_key(key: rsa.RSAPrivateKey | Ed25519PrivateKey, path: Path) -> Path:
    """The key as Kalshi hands it out: unencrypted PEM, readable by its owner only."""
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return path


def write_public_key(key: rsa.RSAPrivateKey | Ed25519PrivateKey, path: Path) -> Path:
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


class VirtualTime:
    """A monotonic clock and a sleep for the rate limiter: sleeping advances the clock
    instantly and is recorded, so tests check pacing without real waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Serve a generated Kalshi universe.")
    parser.add_argument("--public-key", type=Path, required=True)
    parser.add_argument("--key-id", default="bench-key")
    parser.add_argument("--markets", type=int, default=15_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--limits",
        choices=("none", "basic"),
        default="none",
        help="enforce Kalshi's Basic-tier token buckets and endpoint costs (429 past them)",
    )
    args = parser.parse_args(argv)
    public = serialization.load_pem_public_key(args.public_key.read_bytes())
    if not isinstance(public, RSAPublicKey | Ed25519PublicKey):
        print("public key must be RSA or Ed25519", file=sys.stderr)
        return 2
    standin = KalshiStandin(public, key_id=args.key_id, record=False)
    standin.generate_universe(args.markets, seed=args.seed)
    if args.limits == "basic":
        standin.rate_limits = RateLimits(tier="basic")
    with standin:
        # Warm the encoding caches so the first scan measures the client, not the server.
        for event in standin.events.values():
            standin._event_bytes(event, True)
        print(standin.base_url, flush=True)
        sys.stdin.read()  # serve until the parent closes our stdin
    if standin.rate_limits is not None:
        # The parent reads this last line: what the server refused, as the server counted.
        print(f"refused {standin.rate_limits.refused}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
