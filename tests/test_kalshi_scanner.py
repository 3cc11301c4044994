"""The universe scanner against the Kalshi stand-in."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from director.exchanges.kalshi import KalshiExchange, KalshiTuning
from director.exchanges.kalshi_auth import KalshiSigner
from director.exchanges.ratelimit import Backoff
from director.models import OrderRequest, Side
from director.scanners.kalshi_scanner import (
    ARB_SOURCE,
    EXPIRY_SOURCE,
    UniverseScanner,
    basket_net,
    taker_fee,
)
from tests.kalshi_standin import FakeClock, Fault, KalshiStandin, SMarket, new_rsa_key

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
ATTEMPTS = 3
D = Decimal
TLS = httpx.create_ssl_context()  # shared: loading the CA bundle per test is slow


@pytest.fixture(scope="module")
def rsa_key() -> RSAPrivateKey:
    return new_rsa_key()


@pytest.fixture
def standin(rsa_key: RSAPrivateKey) -> Iterator[KalshiStandin]:
    with KalshiStandin(rsa_key.public_key(), clock=lambda: NOW) as server:
        yield server


@pytest.fixture
async def exchange(standin: KalshiStandin, rsa_key: RSAPrivateKey) -> AsyncIterator[KalshiExchange]:
    tuning = KalshiTuning(
        request_timeout_s=5, max_attempts=ATTEMPTS, backoff=Backoff(0.001, 0.002), seed=3
    )
    async with httpx.AsyncClient(verify=TLS) as http:
        yield KalshiExchange(
            base_url=standin.base_url,
            signer=KalshiSigner(standin.key_id, rsa_key),
            clock=FakeClock(NOW),
            http=http,
            reads_per_second=1000,
            writes_per_second=1000,
            tuning=tuning,
        )


def scanner(exchange: KalshiExchange, **options: object) -> UniverseScanner:
    return UniverseScanner(exchange, clock=lambda: NOW, **options)  # type: ignore[arg-type]


def add_event(
    server: KalshiStandin,
    ticker: str,
    quotes: list[tuple[str, str]],
    *,
    exclusive: bool = True,
    close: datetime = NOW + timedelta(days=2),
    size: int = 100,
    fee_multiplier: float | None = None,
) -> list[str]:
    server.add_event(
        ticker,
        title=f"Who wins {ticker}?",
        mutually_exclusive=exclusive,
        fee_multiplier_override=fee_multiplier,
    )
    tickers = []
    for n, (bid, ask) in enumerate(quotes):
        market = SMarket(
            f"{ticker}-L{n}",
            ticker,
            title=f"Who wins {ticker}?",
            yes_sub_title=f"Leg {n}",
            yes_bid=D(bid),
            yes_ask=D(ask),
            bid_size=D(size),
            ask_size=D(size),
            last_price=(D(bid) + D(ask)) / 2,
            close_time=close,
        )
        server.add_market(market)
        tickers.append(market.ticker)
    return tickers


# --- baskets ------------------------------------------------------------------------------

NO_BASKET = [("0.40", "0.45"), ("0.35", "0.40"), ("0.33", "0.38")]  # bids sum to 1.08
YES_BASKET = [("0.25", "0.30"), ("0.25", "0.30"), ("0.27", "0.32")]  # asks sum to 0.92


def test_fees_are_kalshis_rounded_up_per_order() -> None:
    assert taker_fee(10, D("0.60")) == D("0.17")  # 0.07 × 10 × 0.6 × 0.4 = 0.168
    assert taker_fee(1, D("0.50")) == D("0.02")
    assert taker_fee(10, D("0.60"), D("0.5")) == D("0.09")
    assert taker_fee(10, D("0.60"), D(0)) == 0
    # The NO basket from NO_BASKET: pays at least 2, costs 1.92 and 0.049 of fees.
    assert basket_net(Side.NO, [D("0.60"), D("0.65"), D("0.67")], 10, D(1)) == D("0.031")


async def test_bids_above_one_make_a_no_basket(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    legs = add_event(standin, "KXWIN-A", NO_BASKET)
    result = await scanner(exchange).scan()
    assert (result.events_scanned, result.markets_scanned, result.errors) == (1, 3, 0)
    assert result.complete and result.baskets_confirmed == 1
    found = {o.market: o for o in result.opportunities}
    assert set(found) == set(legs)
    leg = found[legs[0]]
    assert (leg.side, leg.source, leg.edge, leg.confidence) == (
        Side.NO,
        ARB_SOURCE,
        D("0.0103"),  # 0.031 per basket over 3 legs
        D("0.90"),
    )
    assert leg.expires_at == NOW + timedelta(hours=1)
    assert "buy NO on all 3 legs" in leg.title and "$0.0310 net of fees" in leg.title
    assert sorted(c.path for c in standin.calls("orderbook")) == sorted(
        f"/markets/{t}/orderbook" for t in legs
    )


async def test_asks_below_one_make_a_yes_basket_with_less_confidence(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    add_event(standin, "KXWIN-B", YES_BASKET)
    result = await scanner(exchange).scan()
    assert {o.side for o in result.opportunities} == {Side.YES}
    assert len(result.opportunities) == 3
    # Pays only if one leg wins: an event that can end with no winner would lose it all.
    assert all(o.confidence == D("0.60") for o in result.opportunities)
    assert result.opportunities[0].edge == D("0.0113")  # (1 − 0.92 − 0.046) / 3


async def test_events_that_are_not_exclusive_have_no_baskets(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    add_event(standin, "KXWIN-C", YES_BASKET, exclusive=False)
    add_event(standin, "KXWIN-D", NO_BASKET, exclusive=False)
    result = await scanner(exchange).scan()
    assert result.opportunities == []
    assert standin.calls("orderbook") == []


async def test_fees_can_eat_the_edge_unless_waived(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    thin = [("0.25", "0.32"), ("0.25", "0.32"), ("0.27", "0.33")]  # asks sum to 0.97
    add_event(standin, "KXWIN-E", thin)
    assert (await scanner(exchange).scan()).opportunities == []
    add_event(standin, "KXWIN-F", thin, fee_multiplier=0)
    result = await scanner(exchange).scan()
    assert {o.market.rsplit("-", 1)[0] for o in result.opportunities} == {"KXWIN-F"}
    assert result.opportunities[0].edge == D("0.0100")


async def test_baskets_are_repriced_from_fresh_books(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    legs = add_event(standin, "KXWIN-G", YES_BASKET)
    # The listing still shows 0.30, but the book has moved: NO bids at 0.60 mean a 0.40 ask.
    standin.update_market(legs[0], book_override=([(D("0.25"), D(100))], [(D("0.60"), D(100))]))
    result = await scanner(exchange).scan()
    assert result.opportunities == []
    assert result.baskets_rejected == 1


async def test_thin_books_lower_confidence(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    add_event(standin, "KXWIN-H", NO_BASKET, size=4)
    result = await scanner(exchange).scan()
    assert {o.confidence for o in result.opportunities} == {D("0.67")}  # 0.9 × 0.75
    assert "depth 4" in result.opportunities[0].title


async def test_an_unreadable_book_leaves_the_basket_unconfirmed(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    add_event(standin, "KXWIN-I", NO_BASKET)
    standin.inject("orderbook", *[Fault.ERROR_500] * ATTEMPTS)
    result = await scanner(exchange, book_concurrency=1).scan()
    assert len(result.opportunities) == 3
    assert {o.confidence for o in result.opportunities} == {D("0.76")}  # 0.9 × 0.85
    assert "(order books not checked)" in result.opportunities[0].title
    assert result.errors == 1 and "order book" in result.first_error


async def test_closed_legs(exchange: KalshiExchange, standin: KalshiStandin) -> None:
    legs = add_event(standin, "KXWIN-J", [*NO_BASKET, ("0.01", "0.02")])
    # A leg that lost is out of the event: the basket of the others stands.
    standin.update_market(legs[3], status="finalized", result="no")
    result = await scanner(exchange).scan()
    assert {o.market for o in result.opportunities} == set(legs[:3])
    # A closed leg that has not lost could still win: no basket is sure.
    standin.update_market(legs[3], status="closed", result="")
    assert (await scanner(exchange).scan()).opportunities == []


async def test_confirmation_can_be_turned_off(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    add_event(standin, "KXWIN-K", NO_BASKET)
    result = await scanner(exchange, confirm_with_books=False).scan()
    assert len(result.opportunities) == 3 and result.baskets_confirmed == 0
    assert standin.calls("orderbook") == []


async def test_opportunities_expire_with_the_market(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    add_event(standin, "KXWIN-L", NO_BASKET, close=NOW + timedelta(minutes=20))
    result = await scanner(exchange).scan()
    assert {o.expires_at for o in result.opportunities} == {NOW + timedelta(minutes=20)}


# --- near-expiry stale quotes -------------------------------------------------------------


def stale_market(ticker: str, **changes: object) -> SMarket:
    values: dict[str, object] = {
        "ticker": ticker,
        "event_ticker": ticker.rsplit("-", 1)[0],
        "title": "Will it be hot?",
        "yes_bid": D("0.30"),
        "yes_ask": D("0.40"),
        "last_price": D("0.55"),
        "volume_24h": 50,
        "close_time": NOW + timedelta(hours=3),
    }
    values.update(changes)
    return SMarket(**values)  # type: ignore[arg-type]


async def test_a_stale_ask_near_expiry(exchange: KalshiExchange, standin: KalshiStandin) -> None:
    standin.add_market(stale_market("KXHOT-1-A"))
    [found] = (await scanner(exchange).scan()).opportunities
    assert (found.market, found.side, found.source) == ("KXHOT-1-A", Side.YES, EXPIRY_SOURCE)
    assert found.edge == D("0.1330")  # 0.55 − 0.40 − 0.017 fee
    assert found.confidence == D("0.5")
    assert found.expires_at == NOW + timedelta(hours=1)
    assert "last traded at 0.55" in found.title


@pytest.mark.parametrize(
    "changes",
    [
        {"close_time": NOW + timedelta(days=5)},  # not near expiry
        {"yes_bid": D("0.38")},  # tight spread: the market moved, the trade is the stale one
        {"volume_24h": 0},  # no trade in the last day
        {"last_price": D("0.42")},  # the edge is under the fee
        {"status": "closed"},
    ],
)
async def test_no_stale_quote(
    exchange: KalshiExchange, standin: KalshiStandin, changes: dict[str, object]
) -> None:
    standin.add_market(stale_market("KXHOT-2-A", **changes))
    assert (await scanner(exchange).scan()).opportunities == []


async def test_a_stale_no_side(exchange: KalshiExchange, standin: KalshiStandin) -> None:
    standin.add_market(
        stale_market("KXHOT-3-A", yes_bid=D("0.60"), yes_ask=D("0.75"), last_price=D("0.40"))
    )
    [found] = (await scanner(exchange).scan()).opportunities
    assert found.side is Side.NO
    assert found.edge == D("0.1830")  # NO at 0.40 when NO last traded at 0.60, 0.017 fee


# --- the whole universe -------------------------------------------------------------------


async def test_a_full_scan_of_15000_markets(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    standin.generate_universe(15_000, seed=11, now=NOW)
    result = await scanner(exchange).scan()
    events = len(standin.events)
    assert result.markets_scanned == 15_000
    assert result.events_scanned == events
    assert result.pages == math.ceil(events / 200)
    assert (result.errors, result.complete) == (0, True)
    assert result.opportunities == []  # the generated universe is priced without arbitrage
    pages = standin.calls("events")
    assert len(pages) == result.pages
    assert all(p.query["with_nested_markets"] == "true" for p in pages)
    assert all(p.query["limit"] == "200" and p.query["status"] == "open" for p in pages)


async def test_a_failed_page_ends_the_scan_with_what_was_read(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    standin.generate_universe(1_500, seed=12, now=NOW)
    add_event(standin, "KXZZZ-LAST", NO_BASKET)  # on a page the scan never reaches
    standin.inject("events", Fault.PASS, *[Fault.ERROR_500] * ATTEMPTS)
    result = await scanner(exchange).scan()
    assert not result.complete
    assert (result.pages, result.events_scanned, result.errors) == (1, 200, 1)
    assert "failed after 3 attempts" in result.first_error
    assert result.opportunities == []


async def test_malformed_records_are_skipped_and_counted(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    legs = add_event(standin, "KXWIN-M", NO_BASKET)
    add_event(standin, "KXWIN-N", YES_BASKET)
    standin.update_market(legs[1], overrides={"yes_bid_dollars": "1.7"})
    result = await scanner(exchange).scan()
    assert result.errors == 1 and "outside 0..1" in result.first_error
    assert result.markets_scanned == 5
    # The damaged event lost a leg, so it has no basket; the other one is intact.
    assert {o.market.rsplit("-", 1)[0] for o in result.opportunities} == {"KXWIN-N"}


async def test_concurrent_callers_share_one_scan(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    standin.generate_universe(1_000, seed=13, now=NOW)
    universe = scanner(exchange)
    first, second = await asyncio.gather(universe.scan(), universe.scan())
    assert first is second is universe.last
    assert len(standin.calls("events")) == first.pages


async def test_a_scan_runs_alongside_trading(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    standin.generate_universe(2_000, seed=14, now=NOW)
    ticker = next(iter(standin.markets))
    order = OrderRequest(
        market=ticker, side=Side.YES, price=D("0.01"), quantity=1, client_order_id="side-1"
    )
    result, placed, balance = await asyncio.gather(
        scanner(exchange).scan(), exchange.place_order(order), exchange.get_balance()
    )
    assert result.complete and result.markets_scanned == 2_000
    assert placed.market == ticker and balance == D("1000.00")
    assert exchange.reads.acquired == len(standin.requests) - 1  # every read went through it
    assert exchange.writes.acquired == 1
