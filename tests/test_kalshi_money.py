"""Exact money (issue 13): each market's fees from its series and event, rounded as Kalshi
documents, and each market's own tick grid; the guard prices and checks with both."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from director.exchanges.kalshi import KalshiExchange
from director.fees import FeeSchedule, FeeType, UnmodelledFee, maker_fee, taker_fee, trade_fee
from director.guard import Limits, check_action
from director.models import Market, OrderStatus
from director.ticks import PriceRange, on_grid, price_bounds
from tests.builders import buy, opportunity, state
from tests.kalshi_standin import KalshiStandin, SMarket, iso, new_rsa_key
from tests.kalshi_venue import NOW, order, venue

D = Decimal
MAKER = FeeSchedule(fee_type=FeeType.QUADRATIC_WITH_MAKER_FEES, multiplier=D("0.5"))
TAPERED = (
    PriceRange(start=D(0), end=D("0.1"), step=D("0.001")),
    PriceRange(start=D("0.1"), end=D("0.9"), step=D("0.01")),
    PriceRange(start=D("0.9"), end=D(1), step=D("0.001")),
)
LIMITS = Limits(max_order_contracts=1000, max_order_cost=D(50), max_exposure=D("0.9"))


# --- the fee function -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("contracts", "price", "schedule", "maker", "fee"),
    [
        (10, "0.60", None, False, "0.17"),  # 0.07 × 10 × 0.6 × 0.4 = 0.168 → up to the cent
        (1, "0.50", None, False, "0.02"),
        (10, "0.50", None, True, "0.00"),  # plain quadratic series: makers pay nothing
        (10, "0.50", FeeSchedule(fee_type=FeeType.QUADRATIC_WITH_MAKER_FEES), True, "0.05"),
        (10, "0.50", FeeSchedule(fee_type=FeeType.QUADRATIC_WITH_COMBO_MAKER_FEES), True, "0.09"),
        (10, "0.50", MAKER, True, "0.03"),  # 0.0175 × 0.5 × 10 × 0.25 = 0.021875
        (10, "0.50", MAKER, False, "0.09"),  # 0.07 × 0.5 × 2.5 = 0.0875
        (3, "0.055", None, False, "0.015"),  # sub-penny: cost 0.165 + 0.0110 → 0.18 charged
        (100, "0.995", None, False, "0.04"),  # 99.5 + 0.034825→0.0349 = 99.5349 → 99.54
    ],
)
def test_fees_are_rounded_as_kalshi_charges_them(
    contracts: int, price: str, schedule: FeeSchedule | None, maker: bool, fee: str
) -> None:
    assert trade_fee(contracts, D(price), schedule, maker=maker) == D(fee)


def test_the_old_helpers_are_the_same_function() -> None:
    assert taker_fee(10, D("0.60"), D("0.5")) == trade_fee(
        10, D("0.60"), FeeSchedule(multiplier=D("0.5"))
    )
    assert maker_fee(10, D("0.50")) == D("0.05")


def test_a_waived_market_pays_nothing_until_the_waiver_ends() -> None:
    waived = FeeSchedule(waived_until=NOW + timedelta(hours=1))
    assert trade_fee(10, D("0.50"), waived, at=NOW) == 0
    assert trade_fee(10, D("0.50"), waived, at=NOW + timedelta(hours=2)) == D("0.18")


def test_a_flat_series_is_not_guessed() -> None:
    with pytest.raises(UnmodelledFee):
        trade_fee(1, D("0.50"), FeeSchedule(fee_type=FeeType.FLAT))
    assert FeeType.of("something_new") is FeeType.UNKNOWN


# --- tick grids --------------------------------------------------------------------------------


def test_tick_grids() -> None:
    assert on_grid(D("0.42")) and not on_grid(D("0.425")) and not on_grid(D("1"))
    assert on_grid(D("0.055"), TAPERED) and on_grid(D("0.995"), TAPERED)
    assert not on_grid(D("0.555"), TAPERED)
    assert price_bounds() == (D("0.01"), D("0.99"))
    assert price_bounds(TAPERED) == (D("0.001"), D("0.999"))


# --- the guard uses both ------------------------------------------------------------------------


def test_the_guard_checks_the_markets_grid_not_whole_cents() -> None:
    tapered = Market(ticker="KXSUB", yes_bid=D("0.05"), yes_ask=D("0.06"), price_ranges=TAPERED)
    s = state(markets=[tapered], opportunities=[opportunity("KXSUB")], cash="1000")
    assert check_action(buy("KXSUB", "0.055", 10), s, LIMITS).allowed
    off = check_action(buy("KXSUB", "0.555", 10), s, LIMITS)
    assert not off.allowed and "tick grid" in off.reason
    cents = state(markets=[Market(ticker="KXC")], opportunities=[opportunity("KXC")], cash="1000")
    assert "whole cents" in check_action(buy("KXC", "0.055", 10), cents, LIMITS).reason


def test_the_guards_cost_is_the_markets_fee() -> None:
    pricey = Market(
        ticker="KXM", yes_bid=D("0.49"), yes_ask=D("0.51"), fees=FeeSchedule(multiplier=D(2))
    )
    s = state(markets=[pricey], opportunities=[opportunity("KXM")], cash="1000")
    verdict = check_action(buy("KXM", "0.50", 10), s, LIMITS)
    assert verdict.allowed and verdict.cost == D("5.00") + D("0.35")  # 0.07 × 2 × 2.5
    flat = pricey.model_copy(update={"fees": FeeSchedule(fee_type=FeeType.FLAT)})
    s = state(markets=[flat], opportunities=[opportunity("KXM")], cash="1000")
    refused = check_action(buy("KXM", "0.50", 10), s, LIMITS)
    assert not refused.allowed and "not modelled" in refused.reason


# --- what the Kalshi adapter reads and sends -------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> RSAPrivateKey:
    return new_rsa_key()


@pytest.fixture
def standin(rsa_key: RSAPrivateKey) -> Iterator[KalshiStandin]:
    with KalshiStandin(rsa_key.public_key()) as server:
        server.add_series("KXNBA", fee_type="quadratic_with_maker_fees", fee_multiplier=0.5)
        server.add_event("KXNBA-26MAR02", series_ticker="KXNBA", mutually_exclusive=True)
        server.add_market(
            SMarket("KXNBA-26MAR02-BOS", "KXNBA-26MAR02", yes_bid=D("0.40"), yes_ask=D("0.44"))
        )
        server.add_event("KXFED-26MAR", fee_multiplier_override=0.25)
        server.add_market(
            SMarket("KXFED-26MAR-HOLD", "KXFED-26MAR", yes_bid=D("0.50"), yes_ask=D("0.54"))
        )
        server.add_market(
            SMarket(
                "KXGDP-26-T3",
                "KXGDP-26",
                yes_bid=D("0.050"),
                yes_ask=D("0.060"),
                price_level_structure="tapered_deci_cent",
                overrides={"fee_waiver_expiration_time": iso(NOW + timedelta(days=1))},
            )
        )
        yield server


@pytest.fixture
async def exchange(standin: KalshiStandin, rsa_key: RSAPrivateKey) -> AsyncIterator[KalshiExchange]:
    async with httpx.AsyncClient() as http:
        yield venue(standin, rsa_key, http)


async def test_each_market_carries_its_series_and_event_fees_and_its_grid(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    got = {m.ticker: m for m in await exchange.get_markets(list(standin.markets))}
    nba, fed, gdp = got["KXNBA-26MAR02-BOS"], got["KXFED-26MAR-HOLD"], got["KXGDP-26-T3"]
    assert nba.fees == FeeSchedule(fee_type=FeeType.QUADRATIC_WITH_MAKER_FEES, multiplier=D("0.5"))
    assert fed.fees == FeeSchedule(fee_type=FeeType.QUADRATIC, multiplier=D("0.25"))
    assert gdp.fees is not None and gdp.fees.waived(NOW)
    assert gdp.price_ranges == TAPERED and nba.price_ranges[0].step == D("0.01")
    # One listing of every series, one look at each event; cached after that.
    assert len(standin.calls("series-list")) == 1 and len(standin.calls("event")) == 3
    await exchange.get_markets(list(standin.markets))
    assert len(standin.calls("series-list")) == 1 and len(standin.calls("event")) == 3


async def test_a_sub_penny_order_reaches_the_book_on_its_grid(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    placed = await exchange.place_order(order("KXGDP-26-T3", "sub-1", price="0.055", qty=3))
    assert placed.status is OrderStatus.RESTING
    [create] = standin.calls("create")
    assert create.body is not None and create.body["price"] == "0.0550"
    with pytest.raises(Exception, match="invalid_price"):
        await exchange.place_order(order("KXFED-26MAR-HOLD", "sub-2", price="0.455"))


async def test_a_market_whose_fees_are_unreadable_is_left_out(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    standin.add_event("KXLOST-1", series_ticker="KXLOST")
    standin.add_market(SMarket("KXLOST-1-A", "KXLOST-1", yes_bid=D("0.2"), yes_ask=D("0.3")))
    standin.events["KXLOST-1"].series_ticker = ""  # an event naming no series
    got = await exchange.get_markets(["KXLOST-1-A", "KXFED-26MAR-HOLD"])
    assert [m.ticker for m in got] == ["KXFED-26MAR-HOLD"]


async def test_after_a_scan_pricing_needs_no_request_per_event(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    async for _ in exchange.iter_event_pages():
        pass
    got = await exchange.get_markets(["KXNBA-26MAR02-BOS", "KXFED-26MAR-HOLD"])
    assert [m.fees for m in got] == [
        FeeSchedule(fee_type=FeeType.QUADRATIC_WITH_MAKER_FEES, multiplier=D("0.5")),
        FeeSchedule(multiplier=D("0.25")),
    ]
    assert standin.calls("event") == []
