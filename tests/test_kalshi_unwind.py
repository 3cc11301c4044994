"""An uneven basket's sell-back when its answer is lost: looked up by client order id, never
sent again blind, and reported UNKNOWN (ATTENTION) while what it sold stays unknown."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from director.act import execute
from director.baskets import BasketStatus
from director.exchanges.base import ExchangeError
from director.exchanges.kalshi import KalshiExchange
from director.exchanges.kalshi.baskets import KalshiBaskets
from director.guard import Verdict
from director.models import Order
from tests.clocks import ManualClock
from tests.kalshi_standin import Canned, Fault, KalshiStandin, new_rsa_key
from tests.kalshi_venue import ATTEMPTS, TLS, fast_tuning, venue
from tests.test_kalshi_baskets import COID, NOW, D, add_basket_event, basket, legs_sent

SELLS = [f"{COID}-u0", f"{COID}-u2"]  # legs A and C sell 15 back each; B filled only 5


@pytest.fixture(scope="module")
def rsa_key() -> RSAPrivateKey:
    return new_rsa_key()


def shrink_b(server: KalshiStandin) -> None:
    """Between the client's read and its send, leg B's bid shrinks to 5 contracts."""
    server.update_market("KXPRES-28-B", bid_size=D(5))


@pytest.fixture
def standin(rsa_key: RSAPrivateKey) -> Iterator[KalshiStandin]:
    with KalshiStandin(rsa_key.public_key(), clock=lambda: NOW) as server:
        add_basket_event(server)
        server.before_batch = shrink_b
        yield server


@pytest.fixture
async def exchange(standin: KalshiStandin, rsa_key: RSAPrivateKey) -> AsyncIterator[KalshiExchange]:
    async with httpx.AsyncClient(verify=TLS) as http:
        yield venue(standin, rsa_key, http, clock=ManualClock(NOW), tuning=fast_tuning())


def hiding_sells(exchange: KalshiExchange, *, fail: bool = False) -> list[str]:
    """Make the venue's lookups never show (or, with `fail`, never answer for) a sell; the
    sell-back ids asked about, in order."""
    asked: list[str] = []

    async def find(market: str, client_order_id: str) -> Order | None:
        if "-u" not in client_order_id:
            return await exchange.finder.by_client_id(market, client_order_id)
        asked.append(client_order_id)
        if fail:
            raise ExchangeError("Kalshi GET /portfolio/orders failed after 4 attempts")
        return None

    exchange.baskets = KalshiBaskets(exchange.http, find=find)
    return asked


def sells_created_once(standin: KalshiStandin) -> bool:
    return all(len(standin.orders_with_client_id(sell)) == 1 for sell in SELLS)


@pytest.mark.parametrize("fault", [Fault.ACCEPT_THEN_500, Fault.ACCEPT_THEN_DROP])
async def test_an_unclear_sell_back_is_looked_up_not_sent_again(
    exchange: KalshiExchange, standin: KalshiStandin, fault: Fault
) -> None:
    standin.inject("batch-create", Fault.PASS, fault)  # the buys answered, the sells not
    result = await exchange.place_basket(basket(), COID)
    assert result.status is BasketStatus.UNWOUND and result.baskets == 5
    assert [(s.market, s.client_order_id, s.filled) for s in result.unwound] == [
        ("KXPRES-28-A", SELLS[0], 15),
        ("KXPRES-28-C", SELLS[1], 15),
    ]
    assert all(s.order_id for s in result.unwound)
    assert len(standin.calls("batch-create")) == 2  # found, so never sent a second time
    assert sells_created_once(standin)


async def test_a_sell_back_nobody_can_find_is_unknown_and_reaches_the_operator(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    asked = hiding_sells(exchange)
    standin.inject("batch-create", Fault.PASS, *[Fault.ACCEPT_THEN_500] * ATTEMPTS)
    verdict = Verdict(allowed=True, reason="ok", basket=basket(), cost=D(1))
    execution = await execute(exchange, verdict, COID)
    assert not execution.ok and execution.unknown
    assert execution.detail.startswith("ATTENTION")
    assert "sell-back of KXPRES-28-A, KXPRES-28-C" in execution.detail
    assert SELLS[0] in execution.detail and "naked" not in execution.detail
    assert execution.outcome is not None
    assert execution.outcome["basket_status"] == BasketStatus.UNKNOWN.value
    assert execution.outcome["baskets"] == 5
    assert [u["client_order_id"] for u in execution.outcome["unwound"]] == SELLS
    # Every attempt was preceded by a lookup; the copies carried the same ids, so Kalshi
    # holds one sell per leg however often the batch went out.
    sends = len(standin.calls("batch-create")) - 1
    assert 1 <= sends <= ATTEMPTS and asked[0] == SELLS[0]
    assert sells_created_once(standin)


async def test_a_failed_lookup_after_an_unclear_sell_back_stops_the_sending(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    hiding_sells(exchange, fail=True)
    standin.inject("batch-create", Fault.PASS, *[Fault.ACCEPT_THEN_500] * ATTEMPTS)
    result = await exchange.place_basket(basket(), COID)
    assert result.status is BasketStatus.UNKNOWN and result.needs_attention
    assert len(standin.calls("batch-create")) == 2  # not re-sent without a check
    assert [s.filled for s in result.unwound] == [0, 0]


async def test_a_409_on_the_sell_back_is_looked_up(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    def conflict_next(server: KalshiStandin) -> None:
        shrink_b(server)
        conflict = {"error": {"code": "conflict", "message": "try again"}}
        server.script("batch-create", Canned.json(conflict, 409))

    standin.before_batch = conflict_next
    result = await exchange.place_basket(basket(), COID)
    # A 409 means "may exist": looked up (nothing there, so its sells' fate stays open).
    assert result.status is BasketStatus.UNKNOWN and result.needs_attention
    assert len(standin.calls("batch-create")) == 2
    lookups = [c.query.get("ticker") for c in standin.calls("orders")]
    assert lookups.count("KXPRES-28-A") == ATTEMPTS and lookups.count("KXPRES-28-C") == ATTEMPTS


@pytest.mark.parametrize("duplicate_code", ["order_already_exists", "reduce_only_violated"])
async def test_a_basket_sent_again_finds_the_sells_of_the_first(
    exchange: KalshiExchange, standin: KalshiStandin, duplicate_code: str
) -> None:
    first = await exchange.place_basket(basket(), COID)
    assert first.status is BasketStatus.UNWOUND
    # Sent again (a restart, a second press): every copy is refused, by its id or, for a
    # sell, by a rule Kalshi may check first (the position it would reduce is gone).
    batches = itertools.count()

    def refuse_copies(server: KalshiStandin) -> None:
        shrink_b(server)
        if next(batches) == 1:  # the sell-back's batch
            server.duplicate_code = duplicate_code

    standin.before_batch = refuse_copies
    again = await exchange.place_basket(basket(), COID)
    assert again.status is BasketStatus.UNWOUND and again.baskets == 5
    assert [(s.order_id, s.filled) for s in again.unwound] == [
        (s.order_id, 15) for s in first.unwound
    ]
    assert {item["client_order_id"] for item in legs_sent(standin, 3)} == set(SELLS)
    assert sells_created_once(standin)


async def test_an_uneven_basket_sent_again_counts_the_first_buys_not_refusals(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    first = await exchange.place_basket(basket(), COID)
    assert first.status is BasketStatus.UNWOUND and [leg.filled for leg in first.legs] == [
        20,
        5,
        20,
    ]
    # Sent again after a restart: every buy copy is refused by a rule Kalshi checks before the
    # id (the balance the first send spent), every sell copy by its id. Counting the refusals
    # as nothing filled would report an even basket of none; Kalshi holds the first's fills.
    standin.duplicate_code = "insufficient_balance"
    again = await exchange.place_basket(basket(), COID)
    assert [(leg.order_id, leg.filled) for leg in again.legs] == [
        (leg.order_id, leg.filled) for leg in first.legs
    ]
    assert again.status is BasketStatus.UNWOUND and again.baskets == 5
    assert [(s.order_id, s.filled) for s in again.unwound] == [
        (s.order_id, 15) for s in first.unwound
    ]
    assert len(standin.orders) == 5 and sells_created_once(standin)
