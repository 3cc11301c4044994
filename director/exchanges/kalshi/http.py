"""The one way a request reaches Kalshi: signed, metered by the token buckets, retried.

Layered like httpx's own send path: `KalshiHttp.request` (retries) → one attempt (the
request's tokens from its bucket, then `httpx.AsyncClient.request`) → `KalshiAuth` (signs) →
the transport. Every Kalshi call goes through `request`: retries and counting live here once.

An attempt ends one of three ways:
- answered — a status worth handing to the caller (2xx, 4xx other than 429);
- not done — 429, or the connection never opened: nothing happened, try again;
- unclear — a timeout, a 5xx, a connection lost mid-request: it may have happened.
Idempotent calls simply retry the last two. A create passes `recover`, asked after every unclear
attempt (and once more after the last, following a pause) whether the effect landed anyway;
what it finds ends the request. Kalshi's 429 carries no Retry-After, so the pause comes from us
and slows everyone sharing the bucket (`TokenBucket.defer`).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from director.clock import Clock, wall_clock
from director.exchanges.base import ExchangeError
from director.exchanges.kalshi.auth import KalshiSigner
from director.exchanges.kalshi.errors import (
    KalshiParseError,
    KalshiRetriesExhausted,
    error_for,
)
from director.exchanges.kalshi.limits import RateLimits, basic_tier, from_account, is_write
from director.exchanges.kalshi.parsing import mapping
from director.exchanges.kalshi.ratelimit import TokenBucket
from director.exchanges.kalshi.responses import AccountLimits, EndpointCosts, Page, validate
from director.exchanges.kalshi.tuning import KalshiStats, KalshiTuning

log = logging.getLogger(__name__)

R = TypeVar("R")
T = TypeVar("T")
PageT = TypeVar("PageT", bound=Page)
Params = Mapping[str, str | int]
Recover = Callable[[], Awaitable[R | None]]

MAX_PAGES = 2000
LIMITS_PATH = "/account/limits"
COSTS_PATH = "/account/endpoint_costs"


def _tokens(burst_requests: float | None, cost: int) -> float | None:
    return None if burst_requests is None else burst_requests * cost


class KalshiAuth(httpx.Auth):
    """Signs each request as it is sent, over the exact path on the wire (query excluded),
    with the injected clock's time."""

    def __init__(self, signer: KalshiSigner, clock: Clock) -> None:
        self._signer = signer
        self._clock = clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        stamp = int(self._clock().timestamp() * 1000)
        path = request.url.raw_path.decode("ascii").split("?", 1)[0]
        request.headers.update(self._signer.headers(request.method, path, stamp))
        yield request


class Outcome(Enum):
    ANSWERED = "answered"
    NOT_DONE = "not done"
    UNCLEAR = "unclear"


@dataclass(frozen=True)
class Attempt:
    outcome: Outcome
    detail: str = ""
    response: httpx.Response | None = None


class KalshiHttp:
    """One httpx client and the read and write buckets, shared by everything in the process."""

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
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"KALSHI_API_BASE: not an http(s) URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.tuning = tuning or KalshiTuning()
        self.clock = clock
        self._auth = KalshiAuth(signer, clock)
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            timeout=self.tuning.request_timeout_s,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
            headers={"User-Agent": "omega-director"},
        )
        # Until the account's limits are read (load_limits), the configured requests per
        # second at the default cost, in tokens.
        self.limits = basic_tier(
            reads_per_second=reads_per_second, writes_per_second=writes_per_second
        )
        cost = self.limits.default_cost
        self.reads = self._bucket(reads_per_second * cost, _tokens(self.tuning.read_burst, cost))
        self.writes = self._bucket(writes_per_second * cost, _tokens(self.tuning.write_burst, cost))
        self._rng = random.Random(self.tuning.seed)
        self._timeout = httpx.Timeout(self.tuning.request_timeout_s)
        self.stats = KalshiStats()

    def _bucket(self, rate: float, burst: float | None) -> TokenBucket:
        return TokenBucket(
            rate, burst=burst, monotonic=self.tuning.monotonic, sleep=self.tuning.sleep
        )

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def load_limits(self) -> RateLimits:
        """Read the account's buckets and endpoint costs and pace every later request by
        them, a margin under the server's figures; the Basic tier's, with a warning, when they
        can't be read. Logs the tier."""
        spent = 0
        try:
            spent += self.limits.cost_of("GET", LIMITS_PATH)
            limits_body = await self.get(LIMITS_PATH)
            spent += self.limits.cost_of("GET", COSTS_PATH)
            costs_body = await self.get(COSTS_PATH)
            limits = from_account(
                validate(AccountLimits, limits_body, f"GET {LIMITS_PATH}"),
                validate(EndpointCosts, costs_body, f"GET {COSTS_PATH}"),
            )
        except ExchangeError as exc:
            limits = basic_tier()
            log.warning(
                "kalshi rate limits: could not read the account's (%s); assuming the Basic tier",
                exc,
            )
        self.apply_limits(limits, spent=spent)
        log.info("kalshi rate limits: %s", limits.describe())
        return limits

    def apply_limits(self, limits: RateLimits, *, spent: float = 0) -> None:
        """Pace by `limits` from now on; `spent` read tokens were used moments ago."""
        cost = limits.default_cost
        self.limits = limits
        self.reads = self._bucket(limits.read.client_rate(), limits.read.client_capacity(cost))
        self.writes = self._bucket(limits.write.client_rate(), limits.write.client_capacity(cost))
        if spent:
            self.reads.reserve(spent)

    def backoff(self, attempt: int) -> float:
        return self.tuning.backoff.delay(attempt, self._rng)

    async def sleep(self, seconds: float) -> None:
        await self.tuning.sleep(seconds)

    # --- one attempt --------------------------------------------------------------------

    async def _attempt(
        self,
        method: str,
        path: str,
        bucket: TokenBucket,
        tokens: float,
        params: Params | None,
        body: Mapping[str, Any] | None,
    ) -> Attempt:
        await bucket.acquire(tokens)
        self.stats.tokens += round(tokens)
        content: bytes | None = None
        headers: dict[str, str] = {}
        if body is not None:
            content = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        self.stats.requests += 1
        try:
            response = await self._http.request(
                method,
                self.base_url + path,
                params=dict(params) if params else None,
                content=content,
                headers=headers,
                timeout=self._timeout,
                auth=self._auth,
            )
        except httpx.ConnectError as exc:
            return Attempt(Outcome.NOT_DONE, f"could not connect ({type(exc).__name__})")
        except httpx.TimeoutException:
            self.stats.timeouts += 1
            return Attempt(Outcome.UNCLEAR, "timed out")
        except httpx.RequestError as exc:
            # Sent, or partly sent, and no answer read: it may have landed.
            return Attempt(Outcome.UNCLEAR, f"connection lost ({type(exc).__name__})")
        status = response.status_code
        if status == 429:
            self.stats.rate_limited += 1
            return Attempt(Outcome.NOT_DONE, "rate limited (429)", response)
        if status >= 500:
            self.stats.server_errors += 1
            return Attempt(Outcome.UNCLEAR, f"server error {status}", response)
        return Attempt(Outcome.ANSWERED, response=response)

    # --- the retry layer ----------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Mapping[str, Any] | None = None,
        recover: Recover[R] | None = None,
        cost: float | None = None,
    ) -> httpx.Response | R:
        """The first answered response, or what `recover` found after an unclear attempt.
        `cost` overrides the endpoint's token cost (a batch costs the sum of its items).
        Raises KalshiRetriesExhausted when every attempt failed."""
        bucket = self.writes if is_write(method, path) else self.reads
        tokens = self._tokens_for(method, path, cost)
        what = f"{method} {path}"
        attempts = self.tuning.max_attempts
        last = Attempt(Outcome.NOT_DONE)
        for attempt in range(attempts):
            last = await self._attempt(method, path, bucket, tokens, params, body)
            if last.outcome is Outcome.ANSWERED and last.response is not None:
                return last.response
            if last.outcome is Outcome.UNCLEAR and recover is not None:
                found = await recover()
                if found is not None:
                    return found
            if attempt + 1 < attempts:
                log.info(
                    "kalshi %s: %s; retrying (%d/%d)", what, last.detail, attempt + 1, attempts
                )
                limited = last.response is not None and last.response.status_code == 429
                await self._pause(attempt, bucket, rate_limited=limited)
        if last.outcome is Outcome.UNCLEAR and recover is not None:
            # The last attempt may still be in flight at the exchange: look once more.
            await self.sleep(self.backoff(attempts))
            found = await recover()
            if found is not None:
                return found
        raise KalshiRetriesExhausted(
            f"Kalshi {what} failed after {attempts} attempts: {last.detail}",
            detail=last.detail,
            attempts=attempts,
            # A read that failed changed nothing: only a write can be "unclear".
            unclear=last.outcome is Outcome.UNCLEAR and method != "GET",
        )

    def _tokens_for(self, method: str, path: str, cost: float | None) -> float:
        tokens = self.limits.cost_of(method, path) if cost is None else cost
        server = self.limits.bucket_for(method, path).capacity
        if tokens > server and not self.limits.assumed:
            raise ExchangeError(
                f"{method} {path} costs {tokens:g} tokens, more than the {server:g} the "
                f"account's bucket holds (tier {self.limits.tier}): Kalshi would refuse it"
            )
        # Between the client's burst and the server's capacity: the bucket waits until it is
        # full, then is debited the whole cost (Kalshi charges all of it), going into debt.
        return tokens

    async def _pause(self, attempt: int, bucket: TokenBucket, *, rate_limited: bool) -> None:
        self.stats.retries += 1
        delay = self.backoff(attempt)
        if rate_limited:
            # Everyone sharing the bucket slows down, not just this caller; the retry's own
            # acquire() then waits out the pause.
            bucket.defer(delay)
        else:
            await self.sleep(delay)

    # --- reading answers ----------------------------------------------------------------

    @staticmethod
    def decode(response: httpx.Response, what: str) -> Mapping[str, Any]:
        try:
            body = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            raise KalshiParseError(f"{what}: response is not JSON") from None
        return mapping(body, what)

    async def get(self, path: str, params: Params | None = None) -> Mapping[str, Any]:
        """GET, retried; a non-200 answer is its typed error."""
        what = f"GET {path}"
        response = await self.request("GET", path, params=params)
        if response.status_code != 200:
            raise error_for(response, what)
        return self.decode(response, what)

    async def pages(
        self,
        path: str,
        params: Params,
        model: type[PageT],
        *,
        cursor: str = "",
        max_pages: int = MAX_PAGES,
    ) -> AsyncGenerator[PageT, None]:
        """Every page of a cursor-paginated list, in order, each validated as `model`."""
        seen: set[str] = set()
        for _ in range(max_pages):
            query = dict(params)
            if cursor:
                query["cursor"] = cursor
            page = validate(model, await self.get(path, query), f"GET {path}")
            yield page
            if not page.cursor:
                return
            if page.cursor in seen:
                raise KalshiParseError(f"GET {path}: pagination cursor repeats")
            seen.add(page.cursor)
            cursor = page.cursor
        raise ExchangeError(f"GET {path}: more than {max_pages} pages")

    async def collect(
        self,
        path: str,
        params: Params,
        model: type[Page],
        parse: Callable[[Any], T],
        *,
        strict: bool,
    ) -> list[T]:
        """All items of a paginated list. With `strict`, a malformed item fails the read: a
        position or resting order we cannot read must not vanish from the guard's view of
        exposure. Otherwise (fills, settlements: history) it is logged and skipped."""
        items: list[T] = []
        async with aclosing(self.pages(path, params, model)) as pages:
            async for page in pages:
                for raw in page.records():
                    try:
                        items.append(parse(raw))
                    except KalshiParseError as exc:
                        if strict:
                            raise
                        log.warning("kalshi %s: skipped a malformed item: %s", path, exc)
        return items
