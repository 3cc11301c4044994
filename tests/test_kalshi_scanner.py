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
from director.exchanges.kalshi.ratelimit import Backoff
from director.fees import taker_fee
from director.models import BasketOpportunity, OrderRequest, Side
from director.scanners.kalshi_scanner import ARB_SOURCE, UniverseScanner
from tests.clocks import ManualClock
from tests.kalshi_standin import Fault, KalshiStandin, SMarket, new_rsa_key
from tests.kalshi_venue import TLS, venue

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
ATTEMPTS = 3
D = Decimal


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
        yield venue(standin, rsa_key, http, clock=ManualClock(NOW), tuning=tuning)


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
    strikes: list[dict[str, object]] | None = None,
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
            overrides=dict(strikes[n]) if strikes else {},
        )
        server.add_market(market)
        tickers.append(market.ticker)
    return tickers


# --- baskets ------------------------------------------------------------------------------

NO_BASKET = [("0.40", "0.45"), ("0.35", "0.40"), ("0.33", "0.38")]  # YES bids sum to 1.08
YES_BASKET = [("0.25", "0.30"), ("0.25", "0.30"), ("0.27", "0.32")]  # YES asks sum to 0.92
# Three legs that tile the whole line: < 10, [10, 20], > 20.
TILED = [
    {"strike_type": "less", "cap_strike": 10},
    {"strike_type": "between", "floor_strike": 10, "cap_strike": 20},
    {"strike_type": "greater", "floor_strike": 20},
]


def only(result_baskets: list[BasketOpportunity]) -> BasketOpportunity:
    [basket] = result_baskets
    return basket


async def test_bids_above_one_make_one_no_basket_not_three_legs(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    legs = add_event(standin, "KXWIN-A", NO_BASKET, size=50)
    result = await scanner(exchange).scan()
    assert result.opportunities == []  # no leg is ever an opportunity on its own
    basket = only(result.baskets)
    assert (basket.event, basket.side, basket.source) == ("KXWIN-A", Side.NO, ARB_SOURCE)
    assert [leg.market for leg in basket.legs] == legs
    assert [leg.price for leg in basket.legs] == [D("0.60"), D("0.65"), D("0.67")]
    assert basket.contracts == 50
    assert basket.cost == D("96.00")  # (0.60 + 0.65 + 0.67) × 50
    fees = taker_fee(50, D("0.60")) + taker_fee(50, D("0.65")) + taker_fee(50, D("0.67"))
    assert basket.fees == fees
    assert basket.payout == D(100)  # n − 1 = 2 dollars a basket, sure
    assert basket.net_profit == D(100) - D("96.00") - fees
    assert basket.settles_at == NOW + timedelta(days=2)
    # The books were read many at once, with the tickers as a repeated parameter.
    [books] = standin.calls("orderbooks")
    assert books.query["tickers"].split("\n") == legs


async def test_asks_below_one_are_no_yes_basket_without_proof_of_exhaustive_outcomes(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    add_event(standin, "KXWIN-B", YES_BASKET)
    result = await scanner(exchange).scan()
    assert result.baskets == [] and result.candidates == 0
    assert standin.calls("orderbooks") == []


async def test_a_yes_basket_where_the_strikes_cover_every_value(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    add_event(standin, "KXTEMP-C", YES_BASKET, strikes=TILED)
    basket = only((await scanner(exchange).scan()).baskets)
    assert basket.side is Side.YES
    assert basket.payout == D(basket.contracts)  # exactly one leg pays 1 a basket
    assert basket.net_profit > 0


async def test_strikes_with_a_gap_prove_nothing(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    gap = [dict(TILED[0]), dict(TILED[1]), {"strike_type": "greater", "floor_strike": 21}]
    add_event(standin, "KXTEMP-D", YES_BASKET, strikes=gap)
    open_ended = [dict(TILED[0]), {"strike_type": "greater", "floor_strike": 10}]
    add_event(standin, "KXTEMP-E", YES_BASKET[:2], strikes=open_ended)  # strict at 10: a gap
    assert (await scanner(exchange).scan()).baskets == []


async def test_events_that_are_not_exclusive_have_no_baskets(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    add_event(standin, "KXMANY-F", NO_BASKET, exclusive=False)
    add_event(standin, "KXMANY-G", YES_BASKET, exclusive=False, strikes=TILED)
    assert (await scanner(exchange).scan()).baskets == []


async def test_fees_can_eat_the_profit(exchange: KalshiExchange, standin: KalshiStandin) -> None:
    # YES bids sum to 1.02: two cents a basket before fees, about five after. Detection
    # charges no fee (a series may waive them); pricing charges the market's own.
    add_event(standin, "KXTHIN-H", [("0.34", "0.40"), ("0.34", "0.40"), ("0.34", "0.40")])
    result = await scanner(exchange).scan()
    assert (result.baskets, result.candidates, result.baskets_rejected) == ([], 1, 1)


async def test_a_fee_waived_series_keeps_a_thin_basket(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    standin.add_series("KXWAIVED", fee_type="quadratic", fee_multiplier=0)
    add_event(standin, "KXWAIVED-H", [("0.34", "0.40"), ("0.34", "0.40"), ("0.34", "0.40")])
    basket = only((await scanner(exchange).scan()).baskets)
    assert basket.fees == 0 and basket.net_profit == D("0.02") * basket.contracts


async def test_the_size_walks_every_legs_depth(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    legs = add_event(standin, "KXDEEP-I", NO_BASKET)
    # Leg 0's NO is offered at 0.60 for 10, then 0.70 for 100 (YES bids 0.40 ×10, 0.30 ×100):
    # at 0.70 the basket costs 0.70 + 0.65 + 0.67 = 2.02 > 2, so only 10 baskets are sure.
    standin.update_market(
        legs[0], book_override=([(D("0.40"), D(10)), (D("0.30"), D(100))], [(D("0.55"), D(100))])
    )
    basket = only((await scanner(exchange).scan()).baskets)
    assert basket.contracts == 10
    assert basket.legs[0].price == D("0.60")


async def test_a_deeper_level_that_still_pays_is_taken(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    legs = add_event(standin, "KXDEEP-J", NO_BASKET, size=100)
    standin.update_market(
        legs[0], book_override=([(D("0.40"), D(10)), (D("0.39"), D(30))], [(D("0.55"), D(100))])
    )
    basket = only((await scanner(exchange).scan()).baskets)
    assert basket.contracts == 40
    assert basket.legs[0].price == D("0.61")  # the limit: the worst level walked
    assert basket.legs[0].cost == D("0.60") * 10 + D("0.61") * 30


async def test_books_that_no_longer_pay_reject_the_candidate(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    legs = add_event(standin, "KXGONE-K", NO_BASKET)
    standin.update_market(legs[0], book_override=([(D("0.20"), D(100))], [(D("0.55"), D(100))]))
    result = await scanner(exchange).scan()
    assert (result.baskets, result.candidates, result.baskets_rejected) == ([], 1, 1)


async def test_an_unreadable_book_reports_no_basket(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    add_event(standin, "KXERR-L", NO_BASKET)
    standin.inject("orderbooks", *[Fault.ERROR_500] * ATTEMPTS)
    result = await scanner(exchange).scan()
    assert result.baskets == [] and result.errors == 1


async def test_closed_legs(exchange: KalshiExchange, standin: KalshiStandin) -> None:
    lost = add_event(standin, "KXCLOSED-M", [*NO_BASKET, ("0.01", "0.02")])
    standin.update_market(lost[3], status="finalized", result="no")
    open_winner = add_event(standin, "KXCLOSED-N", [*NO_BASKET, ("0.01", "0.02")])
    standin.update_market(open_winner[3], status="closed")  # closed, not yet known to lose
    basket = only((await scanner(exchange).scan()).baskets)
    assert basket.event == "KXCLOSED-M" and len(basket.legs) == 3


async def test_a_basket_wider_than_one_batch_is_skipped_and_counted(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    add_event(standin, "KXWIDE-O", NO_BASKET)
    result = await scanner(exchange, max_legs=2).scan()
    assert result.baskets == [] and result.too_wide == 1


async def test_baskets_expire_with_their_first_leg(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    add_event(standin, "KXSOON-P", NO_BASKET, close=NOW + timedelta(minutes=20))
    add_event(standin, "KXLATE-Q", NO_BASKET, close=NOW + timedelta(days=3))
    result = await scanner(exchange, validity=timedelta(hours=1)).scan()
    expiry = {b.event: b.expires_at for b in result.baskets}
    assert expiry == {
        "KXSOON-P": NOW + timedelta(minutes=20),
        "KXLATE-Q": NOW + timedelta(hours=1),
    }


async def test_the_events_fee_multiplier_counts(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    add_event(standin, "KXFEE-R", NO_BASKET, size=50, fee_multiplier=0.5)
    add_event(standin, "KXFEE-S", NO_BASKET, size=50, fee_multiplier=2.0)  # fees eat it
    basket = only((await scanner(exchange).scan()).baskets)
    assert basket.event == "KXFEE-R"
    assert basket.fees == sum(
        (taker_fee(50, p, D("0.5")) for p in (D("0.60"), D("0.65"), D("0.67"))), D(0)
    )


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
    assert result.baskets == []  # the generated universe is priced without arbitrage
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
    assert result.baskets == []


async def test_malformed_records_are_skipped_and_counted(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    legs = add_event(standin, "KXWIN-M", NO_BASKET)
    add_event(standin, "KXWIN-N", NO_BASKET)
    standin.update_market(legs[1], overrides={"yes_bid_dollars": "1.7"})
    result = await scanner(exchange).scan()
    assert result.errors == 1 and "outside 0..1" in result.first_error
    assert result.markets_scanned == 5
    # The damaged event lost a leg, so it has no basket; the other one is intact.
    assert {b.event for b in result.baskets} == {"KXWIN-N"}


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
