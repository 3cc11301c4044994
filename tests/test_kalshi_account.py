"""Kalshi on a real account (issue 13): exchange status, 409s that are not "already exists",
the historical cutoff, the subaccount, one-request cancels, strict response validation. Every
test asserts what reached the stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from director.brains.rules import RulesBrain
from director.exchanges.base import InsufficientFunds
from director.exchanges.kalshi import (
    ExchangeInactive,
    KalshiExchange,
    KalshiParseError,
    OrderStateUnknown,
)
from director.exchanges.status import HaltNotice
from director.guard import Limits, check_action
from director.models import (
    Autonomy,
    CancelOrder,
    CancelOrderDetails,
    OrderStatus,
    PlaceOrder,
    PlaceOrderDetails,
    Side,
    SystemState,
)
from director.rulebook import DEFAULT_RULESET
from director.sense import RiskSettings, Senser
from director.settings import Settings
from tests import builders
from tests.kalshi_standin import Canned, Fault, KalshiStandin, SMarket, new_rsa_key
from tests.kalshi_venue import NOW, order, venue

D = Decimal
RESUME = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def rsa_key() -> RSAPrivateKey:
    return new_rsa_key()


@pytest.fixture
def standin(rsa_key: RSAPrivateKey) -> Iterator[KalshiStandin]:
    with KalshiStandin(rsa_key.public_key()) as server:
        server.add_event("KXFED-26MAR", title="Fed decision", mutually_exclusive=True)
        server.add_market(
            SMarket("KXFED-26MAR-HOLD", "KXFED-26MAR", yes_bid=D("0.50"), yes_ask=D("0.54"))
        )
        server.balance = D("500")
        server.subaccount = 0  # every portfolio call must name it
        yield server


@pytest.fixture
async def exchange(standin: KalshiStandin, rsa_key: RSAPrivateKey) -> AsyncIterator[KalshiExchange]:
    async with httpx.AsyncClient() as http:
        yield venue(standin, rsa_key, http)


def senser(exchange: KalshiExchange) -> Senser:
    risk = RiskSettings(max_exposure=D("0.5"), daily_loss_limit=D("0.05"))
    return Senser(exchange, [], None, timeout=5, risk_settings=risk)


async def sense(exchange: KalshiExchange) -> SystemState:
    return await senser(exchange).gather(
        NOW, safe_mode=False, autonomy=Autonomy.AUTO, equity_24h_ago=None
    )


# --- exchange status ------------------------------------------------------------------------


async def test_while_trading_is_paused_nothing_is_sent_and_health_says_until_when(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    resting = await exchange.place_order(order("KXFED-26MAR-HOLD", "rest-1"))
    standin.exchange.trading_active = False
    standin.exchange.resume_at = RESUME
    state = await sense(exchange)
    health = state.system_health.sources["exchange"]
    assert not health.ok and not health.critical
    assert health.detail == "trading paused; expected back 2026-03-02 18:00 UTC"
    assert state.trading_halt == health.detail
    assert not state.safe_mode  # a pause is not a fault; the halt itself stops every send
    limits = Limits(max_order_contracts=100, max_order_cost=D(50), max_exposure=D("0.5"))
    buy = PlaceOrder(
        details=PlaceOrderDetails(
            market="KXFED-26MAR-HOLD", side=Side.YES, price=D("0.45"), quantity=1
        )
    )
    drop = CancelOrder(details=CancelOrderDetails(order_id=resting.order_id))
    for action in (buy, drop):
        verdict = check_action(action, state, limits)
        assert not verdict.allowed and "exchange not trading" in verdict.reason
    # And if something calls the venue anyway (an approval pressed mid-pause), it refuses.
    with pytest.raises(ExchangeInactive, match="trading paused") as caught:
        await exchange.place_order(order("KXFED-26MAR-HOLD", "paused-1"))
    assert caught.value.resume_at == RESUME
    assert [r.route for r in standin.requests].count("create") == 1  # only the first order
    assert standin.exchange.refused_while_paused == 0  # nothing even arrived
    assert standin.orders[resting.order_id].status == "resting"  # left alone


def test_the_rules_brain_proposes_nothing_while_the_exchange_is_halted() -> None:
    s = builders.state(
        opportunities=[builders.opportunity("KXA")],
        orders=[builders.order("o-1", "KXA", age_hours=5)],  # stale: rule 3 would cancel it
    )
    assert RulesBrain(Settings()).plan(s, DEFAULT_RULESET).actions  # the control
    halted = s.model_copy(update={"trading_halt": "trading paused"})
    plan = RulesBrain(Settings()).plan(halted, DEFAULT_RULESET)
    assert plan.actions == [] and "Exchange not trading (trading paused)" in plan.reasoning


async def test_maintenance_is_told_once_and_so_is_the_return(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    notice = HaltNotice()
    lines = []
    for active in (True, False, False, False, True, True):
        standin.exchange.exchange_active = active
        lines.append(notice.update((await sense(exchange)).trading_halt))
    told = [line for line in lines if line]
    assert told == [
        "Exchange: exchange under maintenance; no time given for its return. Nothing is sent "
        "until trading resumes; resting orders stay.",
        "Exchange: trading is active again.",
    ]


async def test_an_unreadable_status_is_a_failed_critical_source(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    standin.inject("exchange-status", *[Fault.GARBAGE])
    state = await sense(exchange)
    assert not state.system_health.sources["exchange"].ok
    assert state.system_health.degraded and state.safe_mode


async def test_orders_ask_to_be_canceled_on_a_pause_when_configured(
    standin: KalshiStandin, rsa_key: RSAPrivateKey
) -> None:
    async with httpx.AsyncClient() as http:
        flagged = venue(standin, rsa_key, http, cancel_order_on_pause=True)
        await flagged.place_order(order("KXFED-26MAR-HOLD", "cop-1"))
        plain = venue(standin, rsa_key, http)
        await plain.place_order(order("KXFED-26MAR-HOLD", "cop-2"))
    first, second = standin.calls("create")
    assert first.body is not None and first.body["cancel_order_on_pause"] is True
    assert second.body is not None and "cancel_order_on_pause" not in second.body


# --- any 409 means "may exist" ------------------------------------------------------------


async def test_a_409_with_another_code_after_an_unclear_create_finds_the_lagging_order(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    standin.duplicate_code = "duplicate_client_order_id"
    standin.listing_lag = 2  # the first two listings after the create do not show it yet
    standin.inject("create", Fault.ACCEPT_THEN_500)
    placed = await exchange.place_order(order("KXFED-26MAR-HOLD", "lag-1"))
    [only] = standin.orders_with_client_id("lag-1")
    assert placed.order_id == only.order_id and placed.status is OrderStatus.RESTING
    assert len(standin.calls("create")) == 2  # the retry met the 409; nothing more was sent
    assert len(standin.calls("orders")) == 3  # looked until the listing caught up


async def test_a_409_whose_order_stays_unlisted_is_unknown_never_refused(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    standin.duplicate_code = "conflict"
    standin.listing_lag = 100
    standin.inject("create", Fault.ACCEPT_THEN_HANG)
    with pytest.raises(OrderStateUnknown, match="409 conflict"):
        await exchange.place_order(order("KXFED-26MAR-HOLD", "lag-2"))
    assert len(standin.orders_with_client_id("lag-2")) == 1  # one order, never a second


async def test_a_refusal_after_an_unclear_attempt_is_not_taken_as_not_placed(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    # The first attempt landed; the retry is refused for funds (the first spent them). The
    # order is live: it must be found, not reported refused.
    standin.duplicate_status, standin.duplicate_code = 400, "insufficient_balance"
    standin.listing_lag = 1
    standin.inject("create", Fault.ACCEPT_THEN_500)
    placed = await exchange.place_order(order("KXFED-26MAR-HOLD", "funds-1", qty=5))
    assert [o.order_id for o in standin.orders_with_client_id("funds-1")] == [placed.order_id]
    assert len(standin.calls("create")) == 2


async def test_a_plain_refusal_is_a_refusal(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    standin.balance = D("1.00")
    with pytest.raises(InsufficientFunds):
        await exchange.place_order(order("KXFED-26MAR-HOLD", "poor-1", qty=5))
    assert standin.orders == {} and len(standin.calls("create")) == 1


async def test_an_id_past_the_historical_cutoff_is_found_there(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    first = await exchange.place_order(order("KXFED-26MAR-HOLD", "old-1", price="0.60", qty=1))
    assert first.status is OrderStatus.FILLED
    assert standin.archive_orders() == 1  # months later: only /historical/orders has it
    again = await exchange.place_order(order("KXFED-26MAR-HOLD", "old-1", price="0.60", qty=1))
    assert again.order_id == first.order_id
    assert standin.calls("historical-orders")[-1].query["subaccount"] == "0"
    found = await exchange.order_by_client_id("KXFED-26MAR-HOLD", "old-1")
    assert found is not None and found.order_id == first.order_id
    assert await exchange.order_by_client_id("KXFED-26MAR-HOLD", "never-sent") is None


async def test_order_lookup_fails_loudly_when_it_cannot_tell(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    standin.inject("orders", *[Fault.ERROR_500] * 4)
    with pytest.raises(Exception, match="failed after 4 attempts"):
        await exchange.order_by_client_id("KXFED-26MAR-HOLD", "x")


# --- the subaccount and the cancel ------------------------------------------------------------


async def test_every_portfolio_call_names_the_subaccount(
    standin: KalshiStandin, rsa_key: RSAPrivateKey
) -> None:
    standin.subaccount = 3
    async with httpx.AsyncClient() as http:
        exchange = venue(standin, rsa_key, http, subaccount=3)
        await exchange.get_balance()
        await exchange.get_positions()
        await exchange.get_fills()
        await exchange.get_settlements()
        placed = await exchange.place_order(order("KXFED-26MAR-HOLD", "sub-1"))
        await exchange.get_resting_orders()
        await exchange.cancel_order(placed.order_id)
    portfolio = [r for r in standin.requests if r.path.startswith("/portfolio/")]
    assert portfolio and all(
        (r.body or {}).get("subaccount") == 3
        if r.method == "POST"
        else r.query["subaccount"] == "3"
        for r in portfolio
    )
    assert standin.auth_failures == 0


async def test_a_cancel_of_a_listed_order_is_one_request(
    exchange: KalshiExchange, standin: KalshiStandin, rsa_key: RSAPrivateKey
) -> None:
    placed = await exchange.place_order(order("KXFED-26MAR-HOLD", "c-1", qty=6))
    async with httpx.AsyncClient() as http:
        fresh = venue(standin, rsa_key, http)  # a restarted process: it lists, then cancels
        [listed] = await fresh.get_resting_orders()
        before = len(standin.requests)
        canceled = await fresh.cancel_order(listed.order_id)
    assert [r.route for r in standin.requests[before:]] == ["cancel"]
    assert (canceled.status, canceled.filled) == (OrderStatus.CANCELED, 0)
    assert standin.orders[placed.order_id].status == "canceled"


# --- strict validation: a bad answer is a failed source, never an empty one ---------------------


@pytest.mark.parametrize(
    ("route", "body", "error"),
    [
        ("balance", {}, "balance_dollars"),
        ("balance", {"error": {"code": "internal", "message": "x"}}, "error body"),
        ("balance", {"balance_dollars": 12}, "balance_dollars"),
        ("positions", {"cursor": ""}, "market_positions: Field required"),
        ("orders", {"orders": "none"}, "orders"),
        ("orders", {"error": "upstream timeout"}, "error body"),
        ("fills", {}, "fills"),
    ],
)
async def test_a_malformed_answer_is_an_error_not_an_empty_portfolio(
    exchange: KalshiExchange,
    standin: KalshiStandin,
    route: str,
    body: dict[str, object],
    error: str,
) -> None:
    standin.script(route, Canned.json(body))
    read = {
        "balance": exchange.get_balance,
        "positions": exchange.get_positions,
        "orders": exchange.get_resting_orders,
        "fills": exchange.get_fills,
    }[route]
    with pytest.raises(KalshiParseError, match=error):
        await read()


async def test_a_status_without_its_flags_is_refused(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    standin.script("exchange-status", Canned.json({"exchange_active": True}))
    with pytest.raises(KalshiParseError, match="trading_active"):
        await exchange.trading_status()
    standin.script(
        "exchange-status", Canned.json({"exchange_active": "yes", "trading_active": True})
    )
    with pytest.raises(KalshiParseError, match="exchange_active"):
        await exchange.trading_status()
