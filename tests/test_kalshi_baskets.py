"""Baskets against the Kalshi stand-in: one batch or nothing, and no uneven fill left unreported."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from director.act import execute
from director.baskets import BasketIntent, BasketStatus, LegOrder
from director.exchanges.base import ExchangeError
from director.exchanges.kalshi import KalshiExchange, KalshiTuning
from director.exchanges.kalshi.baskets import KalshiBaskets
from director.exchanges.kalshi.errors import ExchangeInactive
from director.exchanges.kalshi.ratelimit import Backoff
from director.guard import Verdict
from director.models import Order, Side
from tests.clocks import ManualClock
from tests.kalshi_standin import Fault, KalshiStandin, SMarket, new_rsa_key
from tests.kalshi_venue import TLS, venue

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
D = Decimal
COID = "omega-abcd1234-7-0"
# YES bids 0.40, 0.35, 0.33 (sum 1.08): NO asks 0.60, 0.65, 0.67, a basket pays 2.
QUOTES = [("0.40", "0.45"), ("0.35", "0.40"), ("0.33", "0.38")]
LIMITS = [D("0.60"), D("0.65"), D("0.67")]


@pytest.fixture(scope="module")
def rsa_key() -> RSAPrivateKey:
    return new_rsa_key()


def add_basket_event(server: KalshiStandin) -> None:
    """KXPRES-28, exclusive, its three legs quoted at QUOTES."""
    server.balance = D("10000")
    server.add_event("KXPRES-28", title="Who wins?", mutually_exclusive=True)
    for n, (bid, ask) in enumerate(QUOTES):
        server.add_market(
            SMarket(
                f"KXPRES-28-{'ABC'[n]}",
                "KXPRES-28",
                yes_bid=D(bid),
                yes_ask=D(ask),
                close_time=NOW + timedelta(days=30),
            )
        )


@pytest.fixture
def standin(rsa_key: RSAPrivateKey) -> Iterator[KalshiStandin]:
    with KalshiStandin(rsa_key.public_key(), clock=lambda: NOW) as server:
        add_basket_event(server)
        yield server


@pytest.fixture
async def exchange(standin: KalshiStandin, rsa_key: RSAPrivateKey) -> AsyncIterator[KalshiExchange]:
    tuning = KalshiTuning(request_timeout_s=5, max_attempts=3, backoff=Backoff(0.001, 0.002))
    async with httpx.AsyncClient(verify=TLS) as http:
        yield venue(standin, rsa_key, http, clock=ManualClock(NOW), tuning=tuning)


def basket(quantity: int = 20, limits: list[Decimal] = LIMITS) -> BasketIntent:
    legs = tuple(
        LegOrder(f"KXPRES-28-{'ABC'[n]}", Side.NO, price, quantity)
        for n, price in enumerate(limits)
    )
    return BasketIntent("KXPRES-28", Side.NO, legs, quantity, D(0), D(0))


def legs_sent(standin: KalshiStandin, call: int = 0) -> list[dict[str, object]]:
    payload = standin.calls("batch-create")[call].body
    assert payload is not None
    orders: list[dict[str, object]] = payload["orders"]
    return orders


async def test_a_basket_goes_out_as_one_batch_inside_an_order_group(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    result = await exchange.place_basket(basket(), COID)
    assert result.status is BasketStatus.FILLED and result.baskets == 20
    assert [leg.filled for leg in result.legs] == [20, 20, 20]
    assert standin.calls("create") == []  # never leg by leg
    [group] = standin.calls("group-create")
    assert group.body == {"contracts_limit": 60, "subaccount": 0}  # one basket's contracts
    orders = legs_sent(standin)
    assert len(standin.calls("batch-create")) == 1
    assert [o["client_order_id"] for o in orders] == [f"{COID}-b0", f"{COID}-b1", f"{COID}-b2"]
    assert {o["time_in_force"] for o in orders} == {"immediate_or_cancel"}
    assert {o["order_group_id"] for o in orders} == {result.order_group_id}
    # Buying NO at q is an ask on the YES book at 1 − q.
    assert [(o["side"], o["price"], o["count"]) for o in orders] == [
        ("ask", "0.40", "20"),
        ("ask", "0.35", "20"),
        ("ask", "0.33", "20"),
    ]
    assert len(standin.calls("group-delete")) == 1 and standin.order_groups == {}
    [books] = standin.calls("orderbooks")  # re-priced from fresh books, in one read
    assert books.query["tickers"].split("\n") == basket().markets


async def test_a_basket_the_fresh_books_no_longer_pay_is_not_sent(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    standin.update_market("KXPRES-28-A", yes_bid=D("0.30"))  # NO now costs 0.70 > its limit
    result = await exchange.place_basket(basket(), COID)
    assert result.status is BasketStatus.ABORTED and "no longer offers" in result.detail
    assert standin.calls("batch-create") == [] and standin.calls("group-create") == []


async def test_limits_that_lose_money_are_not_sent(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    result = await exchange.place_basket(basket(limits=[D("0.70"), D("0.70"), D("0.70")]), COID)
    assert result.status is BasketStatus.ABORTED and "would net $-" in result.detail
    assert standin.calls("batch-create") == []


async def test_fresh_books_shrink_the_basket_to_what_every_leg_offers(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    standin.update_market("KXPRES-28-B", bid_size=D(7))
    result = await exchange.place_basket(basket(), COID)
    assert result.status is BasketStatus.FILLED and result.baskets == 7
    assert {o["count"] for o in legs_sent(standin)} == {"7"}
    assert standin.calls("group-create")[0].body == {"contracts_limit": 21, "subaccount": 0}


async def test_an_uneven_fill_is_sold_back_so_only_whole_baskets_are_held(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    # Between the client's read and its send, leg B's bid shrinks to 5 contracts.
    standin.before_batch = lambda server: server.update_market("KXPRES-28-B", bid_size=D(5))
    result = await exchange.place_basket(basket(), COID)
    assert result.status is BasketStatus.UNWOUND and result.baskets == 5
    assert [leg.filled for leg in result.legs] == [20, 5, 20]
    assert [(leg.market, leg.filled) for leg in result.unwound] == [
        ("KXPRES-28-A", 15),
        ("KXPRES-28-C", 15),
    ]
    sells = legs_sent(standin, 1)
    assert [o["client_order_id"] for o in sells] == [f"{COID}-u0", f"{COID}-u2"]
    assert all(o["reduce_only"] is True for o in sells)
    assert all("order_group_id" not in o for o in sells)  # a sell must not trigger the group
    assert {o["time_in_force"] for o in sells} == {"immediate_or_cancel"}
    # Selling NO at the NO bid (1 − YES ask) is a bid on the YES book at the YES ask.
    assert [(o["side"], o["price"], o["count"]) for o in sells] == [
        ("bid", "0.45", "15"),
        ("bid", "0.38", "15"),
    ]


async def test_an_excess_that_cannot_be_sold_back_reaches_the_operator(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    def thin(server: KalshiStandin) -> None:
        server.update_market("KXPRES-28-B", bid_size=D(5))
        server.update_market("KXPRES-28-A", yes_ask=None)  # nobody buys A's NO back

    standin.before_batch = thin
    intent = basket()
    verdict = Verdict(allowed=True, reason="ok", basket=intent, cost=D(1))
    execution = await execute(exchange, verdict, COID)
    assert not execution.ok
    assert execution.detail.startswith("ATTENTION")
    assert "KXPRES-28-A 15" in execution.detail and "naked" in execution.detail
    assert execution.outcome is not None
    assert execution.outcome["basket_status"] == BasketStatus.UNHEDGED.value
    assert execution.outcome["baskets"] == 5


@pytest.mark.parametrize("fault", [Fault.ACCEPT_THEN_500, Fault.ACCEPT_THEN_DROP])
async def test_an_unclear_batch_is_looked_up_and_never_doubled(
    exchange: KalshiExchange, standin: KalshiStandin, fault: Fault
) -> None:
    standin.inject("batch-create", fault)
    result = await exchange.place_basket(basket(), COID)
    assert result.status is BasketStatus.FILLED and result.baskets == 20
    for n in range(3):
        assert len(standin.orders_with_client_id(f"{COID}-b{n}")) == 1
    assert len(standin.calls("orders")) == 3  # each leg found by its client order id
    assert len(standin.calls("batch-create")) == 1  # looked up, so never sent again


@pytest.mark.parametrize("duplicate_code", ["order_already_exists", "insufficient_balance"])
async def test_the_same_basket_sent_again_is_the_same_orders(
    exchange: KalshiExchange, standin: KalshiStandin, duplicate_code: str
) -> None:
    first = await exchange.place_basket(basket(), COID)
    # Kalshi may refuse a copy by another rule first (its balance already spent).
    standin.duplicate_code = duplicate_code
    again = await exchange.place_basket(basket(), COID)
    assert [leg.order_id for leg in again.legs] == [leg.order_id for leg in first.legs]
    assert [leg.filled for leg in again.legs] == [20, 20, 20]
    assert again.status is BasketStatus.FILLED and again.baskets == 20
    assert len(standin.orders) == 3


async def test_a_retried_batch_whose_copies_are_refused_counts_the_first(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    # The first copy lands but its answer is lost; the first look misses it (a lagging
    # listing), so the batch goes again and every copy is refused under another code.
    standin.inject("batch-create", Fault.ACCEPT_THEN_500)
    standin.listing_lag = 1
    standin.duplicate_code = "insufficient_balance"
    result = await exchange.place_basket(basket(), COID)
    assert result.status is BasketStatus.FILLED and result.baskets == 20
    assert [leg.filled for leg in result.legs] == [20, 20, 20]
    assert all(leg.order_id for leg in result.legs)
    assert len(standin.calls("batch-create")) == 2
    for n in range(3):
        assert len(standin.orders_with_client_id(f"{COID}-b{n}")) == 1


async def test_a_refused_leg_leaves_the_others_sold_back(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    standin.before_batch = lambda server: server.update_market("KXPRES-28-C", status="closed")
    result = await exchange.place_basket(basket(), COID)
    assert result.status is BasketStatus.UNWOUND and result.baskets == 0
    assert "market_closed" in result.legs[2].error
    assert [leg.filled for leg in result.unwound] == [20, 20]


async def test_a_basket_wider_than_a_batch_is_not_sent(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    exchange.baskets.max_legs = 2
    result = await exchange.place_basket(basket(), COID)
    assert result.status is BasketStatus.ABORTED and standin.requests == []


async def test_a_venue_without_baskets_refuses_them() -> None:
    class Plain:
        name = "paper"

    verdict = Verdict(allowed=True, reason="ok", basket=basket(), cost=D(1))
    execution = await execute(Plain(), verdict, COID)  # type: ignore[arg-type]
    assert not execution.ok and "cannot trade a basket as one unit" in execution.detail


async def test_nothing_is_sent_while_trading_is_paused(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    async def paused() -> None:
        raise ExchangeInactive("Kalshi: trading is paused; nothing was sent", resume_at=None)

    exchange.baskets = KalshiBaskets(
        exchange.http, find=exchange.finder.by_client_id, before_send=paused
    )
    result = await exchange.place_basket(basket(), COID)
    assert result.status is BasketStatus.ABORTED and "paused" in result.detail
    assert standin.calls("batch-create") == [] and standin.calls("group-create") == []


async def test_legs_are_looked_up_through_the_venues_finder(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    asked: list[tuple[str, str]] = []

    async def find(market: str, client_order_id: str) -> Order | None:
        asked.append((market, client_order_id))
        return None  # Kalshi does not show it (yet): the basket's outcome is unknown

    exchange.baskets = KalshiBaskets(exchange.http, find=find)
    standin.inject("batch-create", *[Fault.ACCEPT_THEN_500] * 3)
    verdict = Verdict(allowed=True, reason="ok", basket=basket(), cost=D(1))
    execution = await execute(exchange, verdict, COID)
    assert not execution.ok and execution.unknown and execution.detail.startswith("ATTENTION")
    assert execution.outcome is not None
    assert execution.outcome["basket_status"] == BasketStatus.UNKNOWN.value
    # Every send after the first was preceded by a look (the first leg, not found), and the
    # legs were each looked up again before the outcome was given up on.
    sends = len(standin.calls("batch-create"))
    assert sends == 3 and asked[: sends + 1] == [("KXPRES-28-A", f"{COID}-b0")] * (sends + 1)
    assert {coid for _, coid in asked} == {f"{COID}-b{n}" for n in range(3)}
    for n in range(3):  # sent three times, created once: the ids make the copies duplicates
        assert len(standin.orders_with_client_id(f"{COID}-b{n}")) == 1


async def test_a_failed_lookup_after_an_unclear_batch_stops_the_sending(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    async def find(market: str, client_order_id: str) -> Order | None:
        raise ExchangeError("Kalshi GET /portfolio/orders failed after 3 attempts")

    exchange.baskets = KalshiBaskets(exchange.http, find=find)
    standin.inject("batch-create", *[Fault.ACCEPT_THEN_500] * 3)
    result = await exchange.place_basket(basket(), COID)
    assert result.status is BasketStatus.UNKNOWN and result.needs_attention
    assert len(standin.calls("batch-create")) == 1  # not re-sent without a check
