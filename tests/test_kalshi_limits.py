"""Rate limits as the account has them: token buckets and endpoint costs read at start-up,
against a stand-in that enforces them (429 when a bucket cannot cover a request's cost).

Client and stand-in share one virtual clock: the server's buckets refill only while the client
sleeps for its own, so "no 429" and "how close to the floor" are exact, not timing luck.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from director.exchanges.base import ExchangeError
from director.exchanges.kalshi import KalshiExchange, KalshiSigner, KalshiTuning
from director.exchanges.kalshi.batch import batch_fits, post_batch
from director.exchanges.kalshi.errors import KalshiParseError
from director.exchanges.kalshi.execution import order_body
from director.exchanges.kalshi.limits import RATE_MARGIN, basic_tier, from_account, is_write
from director.exchanges.kalshi.ratelimit import Backoff
from director.exchanges.kalshi.responses import AccountLimits, EndpointCosts, validate
from director.models import OrderRequest, Side
from director.settings import SettingsError, load_settings
from tests.clocks import ManualClock
from tests.kalshi_standin import Fault, KalshiStandin, SMarket, VirtualTime, new_rsa_key
from tests.kalshi_standin_account import RateLimits

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def rsa_key() -> RSAPrivateKey:
    return new_rsa_key()


@pytest.fixture
def virtual() -> VirtualTime:
    return VirtualTime()


@pytest.fixture
def standin(rsa_key: RSAPrivateKey, virtual: VirtualTime) -> Iterator[KalshiStandin]:
    with KalshiStandin(rsa_key.public_key(), clock=ManualClock(NOW)) as server:
        server.generate_universe(1_200, seed=3, now=NOW)
        server.rate_limits = RateLimits(tier="basic", monotonic=virtual.monotonic)
        yield server


@pytest.fixture
async def venue(
    standin: KalshiStandin, rsa_key: RSAPrivateKey, virtual: VirtualTime
) -> AsyncIterator[KalshiExchange]:
    tuning = KalshiTuning(
        request_timeout_s=2,
        max_attempts=3,
        backoff=Backoff(0.05, 0.2),
        seed=7,
        monotonic=virtual.monotonic,
        sleep=virtual.sleep,
    )
    async with (
        httpx.AsyncClient() as http,
        KalshiExchange(
            base_url=standin.base_url,
            signer=KalshiSigner(standin.key_id, rsa_key),
            clock=ManualClock(NOW),
            http=http,
            tuning=tuning,
        ) as exchange,
    ):
        yield exchange


async def full_scan(exchange: KalshiExchange) -> int:
    """Every open event page with nested markets, every market's quote by ticker and the
    books of the first 60: the reads of a universe scan, one after another. Returns the
    requests made."""
    before = exchange.stats.requests
    tickers: list[str] = []
    async for page in exchange.iter_event_pages():
        tickers += [m.ticker for event in page.items for m in event.markets]
    quotes = await exchange.get_markets(tickers)
    assert len(quotes) == len(tickers) == 1_200
    for ticker in tickers[:60]:
        await exchange.get_orderbook(ticker)
    return exchange.stats.requests - before


async def test_the_accounts_buckets_and_costs_are_read_at_start_up(
    venue: KalshiExchange, standin: KalshiStandin, caplog: pytest.LogCaptureFixture
) -> None:
    standin.rate_limits = RateLimits(tier="advanced", read_rate=300, read_capacity=300)
    with caplog.at_level(logging.INFO, logger="director.exchanges.kalshi.http"):
        limits = await venue.load_limits()
    assert limits.tier == "advanced" and not limits.assumed
    assert (limits.read.refill_rate, limits.read.capacity) == (300, 300)
    assert limits.cost_of("DELETE", "/portfolio/events/orders/ord-1") == 2
    assert limits.cost_of("GET", "/portfolio/orders/ord-1") == 2
    assert limits.cost_of("GET", "/portfolio/orders") == 10
    assert venue.reads.rate == pytest.approx(300 * RATE_MARGIN)
    assert venue.reads.burst == 300 - 2 * 10  # a margin of two requests under the server's
    assert "tier advanced from the account" in caplog.text
    assert [r.route for r in standin.requests] == ["account-limits", "endpoint-costs"]


async def test_limits_that_cannot_be_read_mean_the_basic_tier_and_a_warning(
    venue: KalshiExchange, standin: KalshiStandin, caplog: pytest.LogCaptureFixture
) -> None:
    standin.inject("account-limits", *[Fault.ERROR_500] * 3)
    with caplog.at_level(logging.WARNING, logger="director.exchanges.kalshi.http"):
        limits = await venue.load_limits()
    assert limits.assumed and limits.tier == "basic"
    assert (limits.read.refill_rate, limits.write.refill_rate) == (200, 100)
    assert "assuming the Basic tier" in caplog.text


async def test_a_full_scan_at_basic_tier_takes_no_429_and_stays_near_the_floor(
    venue: KalshiExchange, standin: KalshiStandin, virtual: VirtualTime
) -> None:
    assert standin.rate_limits is not None
    await venue.load_limits()
    venue.reads.drain()  # the worst case: the bucket is empty when the scan starts
    started = virtual.now
    requests = await full_scan(venue)
    took = virtual.now - started
    assert standin.rate_limits.refused == 0
    assert venue.stats.rate_limited == 0
    floor = requests * 10 / 200  # tokens over the refill rate
    assert floor <= took <= 1.15 * floor


async def test_a_client_pacing_by_requests_not_tokens_is_refused(
    venue: KalshiExchange, standin: KalshiStandin
) -> None:
    # The stand-in's enforcement is what makes the test above meaningful: a client that
    # charges a token a request (pacing by requests, not by endpoint costs) is refused.
    assert standin.rate_limits is not None
    naive = replace(basic_tier(), default_cost=1)  # 200 requests a second, not 20
    venue.http.apply_limits(naive)
    with contextlib.suppress(ExchangeError):  # retries may run out: either way, refused
        await full_scan(venue)
    assert standin.rate_limits.refused > 0
    assert venue.stats.rate_limited == standin.rate_limits.refused


async def test_a_cancel_costs_two_tokens_of_the_write_bucket(
    venue: KalshiExchange, standin: KalshiStandin
) -> None:
    assert standin.rate_limits is not None
    await venue.load_limits()
    standin.add_market(
        SMarket("KXT-1-A", "KXT-1", yes_bid=Decimal("0.40"), yes_ask=Decimal("0.45"))
    )
    order = await venue.place_order(
        OrderRequest(
            market="KXT-1-A",
            side=Side.YES,
            price=Decimal("0.30"),
            quantity=2,
            client_order_id="lim-1",
        )
    )
    spent = standin.rate_limits.tokens_spent
    await venue.cancel_order(order.order_id)
    assert standin.rate_limits.tokens_spent - spent == 2
    assert [r.route for r in standin.requests][-1] == "cancel"


def test_costs_match_exact_paths_before_templates() -> None:
    costs = EndpointCosts.model_validate(
        {
            "default_cost": 10,
            "endpoint_costs": [
                {"method": "GET", "path": "/portfolio/orders/{order_id}", "cost": 2},
                {"method": "GET", "path": "/portfolio/orders/queue_positions", "cost": 3},
                {
                    "method": "DELETE",
                    "path": "/trade-api/v2/portfolio/events/orders/{order_id}",
                    "cost": 2,
                },
            ],
        }
    )
    account = AccountLimits.model_validate(
        {
            "usage_tier": "basic",
            "read": {"refill_rate": 200, "bucket_capacity": 200},
            "write": {"refill_rate": 100, "bucket_capacity": 100},
        }
    )
    limits = from_account(account, costs)
    assert limits.cost_of("GET", "/portfolio/orders/queue_positions") == 3
    assert limits.cost_of("GET", "/portfolio/orders/ord-9") == 2
    assert limits.cost_of("DELETE", "/portfolio/events/orders/ord-9") == 2
    assert limits.cost_of("POST", "/portfolio/events/orders") == 10
    assert is_write("DELETE", "/portfolio/events/orders/ord-9")
    assert is_write("POST", "/portfolio/order_groups/create")
    assert not is_write("GET", "/portfolio/orders") and not is_write("POST", "/account/x")


def test_an_account_answer_missing_a_bucket_is_refused() -> None:
    with pytest.raises(KalshiParseError, match="write"):
        validate(
            AccountLimits,
            {"usage_tier": "basic", "read": {"refill_rate": 200, "bucket_capacity": 200}},
            "GET /account/limits",
        )


@pytest.mark.parametrize("value", ["-1", "64", "primary"])
def test_a_bad_subaccount_stops_start_up(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KALSHI_SUBACCOUNT", value)
    with pytest.raises(SettingsError, match="KALSHI_SUBACCOUNT"):
        load_settings()


async def test_a_batch_costing_more_than_the_clients_burst_is_debited_in_full(
    venue: KalshiExchange, standin: KalshiStandin, virtual: VirtualTime
) -> None:
    # Kalshi's write bucket holds two seconds of the Basic budget (200 tokens); the client
    # keeps two requests under it (180). A 20-order batch costs 200: admitted by Kalshi from a
    # full bucket, more than the client's burst. Debited only 180, the next batch would go out
    # when Kalshi's bucket holds 184 and meet a 429.
    assert standin.rate_limits is not None
    standin.max_batch_orders = 20
    standin.add_market(
        SMarket("KXT-1-A", "KXT-1", yes_bid=Decimal("0.40"), yes_ask=Decimal("0.45"))
    )
    await venue.load_limits()
    assert venue.http.writes.burst == 180 and batch_fits(venue.http, 20)
    started = virtual.now
    for batch in range(3):
        bodies = [
            order_body(
                OrderRequest(
                    market="KXT-1-A",
                    side=Side.YES,
                    price=Decimal("0.30"),
                    quantity=1,
                    client_order_id=f"big-{batch}-{n}",
                ),
                time_in_force="immediate_or_cancel",
                self_trade_prevention="taker_at_cross",
            )
            | {"subaccount": 0}
            for n in range(20)
        ]
        items = await post_batch(venue.http, bodies)
        assert len(items) == 20 and not any(i.error_code for i in items.values())
    assert standin.rate_limits.refused == 0 and venue.stats.rate_limited == 0
    assert standin.rate_limits.tokens_spent >= 600
    # Three batches of 200 tokens from a full 200-token bucket: at least 400 / 100 seconds.
    assert virtual.now - started >= 400 / 100
