"""KalshiExchange against the local Kalshi stand-in: reads, orders, faults, idempotency."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from director.exchanges.base import (
    Exchange,
    ExchangeError,
    InsufficientFunds,
    MarketClosed,
    OrderNotFound,
)
from director.exchanges.kalshi import (
    IntentJournal,
    KalshiExchange,
    OrderStateUnknown,
    environment_of,
)
from director.exchanges.kalshi.auth import KalshiSigner
from director.exchanges.kalshi.batch import asks, bids
from director.exchanges.kalshi.errors import KalshiParseError
from director.models import OrderAction, OrderRequest, OrderStatus, Side
from director.settings import DEMO_KALSHI_BASE, PROD_KALSHI_BASE, Settings
from director.store import Store
from tests.clocks import ManualClock
from tests.kalshi_standin import (
    Fault,
    KalshiStandin,
    SMarket,
    VirtualTime,
    new_rsa_key,
    write_private_key,
)
from tests.kalshi_venue import ATTEMPTS, NOW, TLS, fast_tuning


@pytest.fixture(scope="module")
def rsa_key() -> RSAPrivateKey:
    return new_rsa_key()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def key_file(tmp_path: Path, rsa_key: RSAPrivateKey) -> Path:
    return write_private_key(rsa_key, tmp_path / "kalshi.key")


@pytest.fixture
def standin(rsa_key: RSAPrivateKey, clock: ManualClock) -> Iterator[KalshiStandin]:
    # The stand-in checks timestamps against the same fake clock: a request signed with the
    # real time instead of the injected clock would be refused.
    with KalshiStandin(rsa_key.public_key(), clock=clock, max_skew_ms=5_000) as server:
        server.add_event("KXFED-26MAR", title="Fed decision in March", mutually_exclusive=True)
        server.add_market(
            SMarket(
                "KXFED-26MAR-HOLD",
                "KXFED-26MAR",
                title="Fed decision in March",
                yes_sub_title="Hold",
                yes_bid=Decimal("0.50"),
                yes_ask=Decimal("0.54"),
                last_price=Decimal("0.52"),
            )
        )
        server.add_market(
            SMarket(
                "KXFED-26MAR-CUT",
                "KXFED-26MAR",
                title="Fed decision in March",
                yes_sub_title="Cut",
                yes_bid=Decimal("0.30"),
                yes_ask=Decimal("0.33"),
            )
        )
        server.add_market(
            SMarket("KXOLD-1", "KXOLD", status="closed", yes_bid=None, yes_ask=None, result="no")
        )
        server.balance = Decimal("1234.56")
        yield server
        assert server.legacy_order_calls == 0
        assert not any(r.route == "legacy-create" for r in server.requests)


def settings_for(server: KalshiStandin, key_file: Path, **changes: object) -> Settings:
    values: dict[str, object] = {
        "exchange": "kalshi",
        "kalshi_api_key_id": server.key_id,
        "kalshi_private_key_path": key_file,
        "kalshi_api_base": server.base_url,
        "kalshi_reads_per_second": 1000,
        "kalshi_writes_per_second": 1000,
    }
    values.update(changes)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def signer(rsa_key: RSAPrivateKey) -> KalshiSigner:
    return KalshiSigner("test-key-id", rsa_key)


def venue_on(
    standin: KalshiStandin,
    signer: KalshiSigner,
    clock: ManualClock,
    http: httpx.AsyncClient,
    journal: IntentJournal | None = None,
) -> KalshiExchange:
    # Built directly, on a client sharing one TLS context: loading the PEM and the CA bundle
    # costs ~100 ms a test. The tests of from_settings build their own.
    return KalshiExchange(
        base_url=standin.base_url,
        signer=signer,
        clock=clock,
        http=http,
        reads_per_second=1000,
        writes_per_second=1000,
        tuning=fast_tuning(),
        journal=journal,
    )


@pytest.fixture
async def exchange(
    standin: KalshiStandin, signer: KalshiSigner, clock: ManualClock
) -> AsyncIterator[KalshiExchange]:
    async with httpx.AsyncClient(verify=TLS) as http:
        yield venue_on(standin, signer, clock, http)


def buy(
    market: str, coid: str, price: str = "0.40", qty: int = 5, side: Side = Side.YES
) -> OrderRequest:
    return OrderRequest(
        market=market, side=side, price=Decimal(price), quantity=qty, client_order_id=coid
    )


# --- start-up and reads -------------------------------------------------------------------


async def test_describe_names_environment_and_balance(
    standin: KalshiStandin, key_file: Path, clock: ManualClock
) -> None:
    settings = settings_for(standin, key_file)
    async with KalshiExchange.from_settings(
        settings, clock=clock, tuning=fast_tuning()
    ) as exchange:
        assert isinstance(exchange, Exchange)
        assert exchange.name == "kalshi"
        line = await exchange.describe()
    assert line == f"Kalshi PROD ({standin.base_url}) · balance $1,234.56"
    assert standin.auth_failures == 0


def test_environment_comes_from_the_base_url() -> None:
    assert environment_of(DEMO_KALSHI_BASE) == "DEMO"
    assert environment_of(PROD_KALSHI_BASE) == "PROD"


async def test_a_wrong_key_is_refused_with_a_hint(
    standin: KalshiStandin, tmp_path: Path, clock: ManualClock
) -> None:
    other = write_private_key(new_rsa_key(), tmp_path / "other.key")
    async with KalshiExchange.from_settings(
        settings_for(standin, other), clock=clock, tuning=fast_tuning()
    ) as venue:
        with pytest.raises(ExchangeError, match="KALSHI_API_KEY_ID") as caught:
            await venue.get_balance()
    assert "401" in str(caught.value)
    assert standin.auth_failures == 1


async def test_a_stale_timestamp_is_refused(
    standin: KalshiStandin, key_file: Path, clock: ManualClock
) -> None:
    # Sign with a clock ten minutes behind the stand-in's: Kalshi refuses such requests.
    behind = ManualClock(NOW.replace(minute=50, hour=14))
    async with KalshiExchange.from_settings(
        settings_for(standin, key_file), clock=behind, tuning=fast_tuning()
    ) as venue:
        with pytest.raises(ExchangeError, match="401"):
            await venue.get_balance()


async def test_positions_are_marked_to_the_quote(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    standin.set_position("KXFED-26MAR-HOLD", 10, Decimal("4.50"))
    standin.set_position("KXFED-26MAR-CUT", -4, Decimal("2.80"))
    positions = {p.market: p for p in await exchange.get_positions()}
    hold, cut = positions["KXFED-26MAR-HOLD"], positions["KXFED-26MAR-CUT"]
    assert (hold.side, hold.quantity, hold.avg_price) == (Side.YES, 10, Decimal("0.45"))
    assert hold.mark_price == Decimal("0.52")
    assert (cut.side, cut.quantity, cut.avg_price) == (Side.NO, 4, Decimal("0.70"))
    assert cut.mark_price == Decimal("0.685")  # NO mid: between 1 − 0.33 and 1 − 0.30
    [quotes] = standin.calls("markets")  # one request marks every position
    assert set(quotes.query["tickers"].split(",")) == {"KXFED-26MAR-CUT", "KXFED-26MAR-HOLD"}


async def test_positions_survive_a_quote_failure_unmarked(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    standin.set_position("KXFED-26MAR-HOLD", 3, Decimal("1.50"))
    standin.inject("markets", *[Fault.ERROR_500] * ATTEMPTS)
    [held] = await exchange.get_positions()
    assert held.quantity == 3
    assert held.mark_price is None


async def test_an_unreadable_position_fails_the_read_but_a_bad_fill_is_skipped(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    # A position the guard cannot see is exposure it cannot limit: better a failed source
    # (safe mode) than a silent gap. Fills are history: one bad record is skipped.
    standin.set_position("KXFED-26MAR-HOLD", 5, Decimal("-1"))
    with pytest.raises(KalshiParseError, match="market_exposure_dollars: negative"):
        await exchange.get_positions()
    standin.fills.append({"fill_id": "broken", "ts": int(NOW.timestamp())})
    await exchange.place_order(buy("KXFED-26MAR-CUT", "f-ok", price="0.40", qty=1))
    assert [f.order_id for f in await exchange.get_fills()] == ["ord-000001"]


async def test_every_open_market_in_pages_of_1000(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    standin.generate_universe(2_500, seed=3, now=NOW)
    markets = await exchange.get_markets()
    assert len(markets) == 2_502  # the generated ones and the two open Fed markets
    assert all(m.is_open for m in markets)
    pages = standin.calls("markets")
    assert [p.query["limit"] for p in pages] == ["1000", "1000", "1000"]
    assert all(p.query["status"] == "open" for p in pages)
    assert "cursor" not in pages[0].query
    assert pages[1].query["cursor"] and pages[2].query["cursor"] != pages[1].query["cursor"]


async def test_markets_by_ticker_leave_unknown_ones_out(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    standin.generate_universe(150, seed=4, now=NOW)
    wanted = [t for t in standin.markets if t.startswith("KXGEN")] + ["NOPE-1", "bad ticker"]
    markets = await exchange.get_markets(wanted)
    assert {m.ticker for m in markets} == {t for t in wanted if t.startswith("KXGEN")}
    assert len(standin.calls("markets")) == 2  # 150 known + 1 unknown, 100 to a request
    closed = await exchange.get_markets(["KXOLD-1"])
    assert closed[0].result is Side.NO and not closed[0].is_open


async def test_orderbook_turns_no_bids_into_yes_asks(exchange: KalshiExchange) -> None:
    book = await exchange.get_orderbook("KXFED-26MAR-HOLD")
    assert bids(book, Side.YES)[0].price == Decimal("0.50")
    assert asks(book, Side.YES)[0].price == Decimal("0.54")
    assert asks(book, Side.NO)[0].price == Decimal("0.50")


@pytest.mark.parametrize("fault", [Fault.RATE_LIMIT, Fault.ERROR_500, Fault.HANG, Fault.DROP])
async def test_reads_retry_through_faults(
    exchange: KalshiExchange, standin: KalshiStandin, fault: Fault
) -> None:
    standin.inject("balance", fault, fault)
    assert await exchange.get_balance() == Decimal("1234.56")
    assert len(standin.calls("balance")) == 3
    assert exchange.stats.retries == 2


async def test_reads_give_up_after_the_last_attempt(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    standin.inject("balance", *[Fault.ERROR_500] * ATTEMPTS)
    with pytest.raises(ExchangeError, match=f"failed after {ATTEMPTS} attempts: server error"):
        await exchange.get_balance()


async def test_a_response_that_is_not_json_is_an_error(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    standin.inject("balance", Fault.GARBAGE)
    with pytest.raises(KalshiParseError, match="not JSON"):
        await exchange.get_balance()


async def test_fills_and_settlements(exchange: KalshiExchange, standin: KalshiStandin) -> None:
    order = await exchange.place_order(buy("KXFED-26MAR-HOLD", "fill-1", price="0.55", qty=4))
    assert order.status is OrderStatus.FILLED and order.filled == 4
    standin.settlements.append(
        {
            "ticker": "KXOLD-1",
            "exchange_index": 0,
            "event_ticker": "KXOLD",
            "market_result": "no",
            "yes_count_fp": "0.00",
            "yes_total_cost_dollars": "0.0000",
            "no_count_fp": "10.00",
            "no_total_cost_dollars": "6.0000",
            "revenue": 1000,
            "settled_time": "2026-03-01T12:00:00Z",
            "fee_cost": "0.1200",
        }
    )
    [fill] = await exchange.get_fills(since=NOW)
    assert (fill.market, fill.side, fill.action) == ("KXFED-26MAR-HOLD", Side.YES, OrderAction.BUY)
    assert (fill.price, fill.quantity, fill.order_id) == (Decimal("0.54"), 4, order.order_id)
    [settled] = await exchange.get_settlements()
    assert settled.pnl == Decimal("3.88")


# --- placing orders -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "side", "price", "book_side", "book_price"),
    [
        (OrderAction.BUY, Side.YES, "0.40", "bid", "0.40"),
        (OrderAction.BUY, Side.NO, "0.30", "ask", "0.70"),
        (OrderAction.SELL, Side.YES, "0.60", "ask", "0.60"),
        (OrderAction.SELL, Side.NO, "0.60", "bid", "0.40"),
    ],
)
async def test_orders_map_onto_the_yes_book(
    exchange: KalshiExchange,
    standin: KalshiStandin,
    action: OrderAction,
    side: Side,
    price: str,
    book_side: str,
    book_price: str,
) -> None:
    standin.set_position("KXFED-26MAR-HOLD", 20 if side is Side.YES else -20, Decimal("9"))
    request = OrderRequest(
        market="KXFED-26MAR-HOLD",
        side=side,
        action=action,
        price=Decimal(price),
        quantity=3,
        client_order_id=f"map-{action.value}-{side.value}",
    )
    order = await exchange.place_order(request)
    [create] = standin.calls("create")
    assert create.body is not None
    assert create.body["side"] == book_side
    assert create.body["price"] == book_price
    assert create.body["count"] == "3"
    assert create.body["time_in_force"] == "good_till_canceled"
    assert create.body["self_trade_prevention_type"] == "taker_at_cross"
    assert "reduce_only" not in create.body  # Kalshi allows it only with immediate_or_cancel
    assert (order.side, order.action, order.price) == (side, action, Decimal(price))
    assert order.status is OrderStatus.RESTING and order.remaining == 3
    # Read back, the order keeps the meaning it was placed with.
    [resting] = await exchange.get_resting_orders()
    assert (resting.side, resting.action, resting.price) == (side, action, Decimal(price))


async def test_a_sell_is_still_a_sell_after_a_restart(
    standin: KalshiStandin, signer: KalshiSigner, clock: ManualClock, tmp_path: Path
) -> None:
    store = await Store.open(tmp_path / "omega.db")
    standin.set_position("KXFED-26MAR-HOLD", 20, Decimal("9"))
    sell = buy("KXFED-26MAR-HOLD", "restart-sell", price="0.60", qty=3).model_copy(
        update={"action": OrderAction.SELL}
    )

    def venue(http: httpx.AsyncClient, journal: Store | None) -> KalshiExchange:
        return venue_on(standin, signer, clock, http, journal)

    async with httpx.AsyncClient(verify=TLS) as http:
        placed = await venue(http, store).place_order(sell)
        await venue(http, store).place_order(buy("KXFED-26MAR-HOLD", "restart-buy"))
        # Without the journal the sell reads as what it is on the book: an ask, a buy of NO.
        [forgetful_sell, _] = await venue(http, None).get_resting_orders()
        assert (forgetful_sell.side, forgetful_sell.action) == (Side.NO, OrderAction.BUY)
        restarted = venue(http, store)
        assert await restarted.restore_intents() == 2  # the sell's client and exchange ids
        [resting_sell, resting_buy] = await restarted.get_resting_orders()
    assert resting_sell.order_id == placed.order_id
    assert (resting_sell.side, resting_sell.action, resting_sell.price) == (
        Side.YES,
        OrderAction.SELL,
        Decimal("0.60"),
    )
    assert (resting_buy.side, resting_buy.action) == (Side.YES, OrderAction.BUY)
    await store.close()


class BrokenJournal:
    async def save_order_intent(self, *args: object) -> None:
        raise OSError("disk full")

    async def recent_order_intents(self, limit: int) -> list[tuple[str, str, str]]:
        return []


async def test_a_journal_that_cannot_write_never_stops_an_order(
    standin: KalshiStandin,
    signer: KalshiSigner,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    standin.set_position("KXFED-26MAR-HOLD", 20, Decimal("9"))
    sell = buy("KXFED-26MAR-HOLD", "journal-down", price="0.60", qty=3).model_copy(
        update={"action": OrderAction.SELL}
    )
    async with httpx.AsyncClient(verify=TLS) as http:
        venue = venue_on(standin, signer, clock, http, BrokenJournal())
        order = await venue.place_order(sell)
        [resting] = await venue.get_resting_orders()
    assert (
        (order.side, order.action)
        == (resting.side, resting.action)
        == (
            Side.YES,
            OrderAction.SELL,
        )
    )
    assert "could not record that journal-down is a sell" in caplog.text
    assert len(standin.calls("create")) == 1


async def test_immediate_sells_are_reduce_only(
    standin: KalshiStandin, key_file: Path, clock: ManualClock
) -> None:
    standin.set_position("KXFED-26MAR-HOLD", 5, Decimal("2"))
    async with KalshiExchange.from_settings(
        settings_for(standin, key_file),
        clock=clock,
        tuning=fast_tuning(time_in_force="immediate_or_cancel"),
    ) as venue:
        request = buy("KXFED-26MAR-HOLD", "ioc-sell", price="0.50", qty=5)
        order = await venue.place_order(request.model_copy(update={"action": OrderAction.SELL}))
    [create] = standin.calls("create")
    assert create.body is not None and create.body["reduce_only"] is True
    assert order.status is OrderStatus.FILLED and order.remaining == 0


async def test_a_crossing_buy_fills(exchange: KalshiExchange) -> None:
    order = await exchange.place_order(buy("KXFED-26MAR-CUT", "cross", price="0.35", qty=2))
    assert order.status is OrderStatus.FILLED
    assert (order.filled, order.remaining) == (2, 0)


async def test_a_reused_client_order_id_answers_the_first_order(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    first = await exchange.place_order(buy("KXFED-26MAR-HOLD", "same-id"))
    again = await exchange.place_order(buy("KXFED-26MAR-HOLD", "same-id"))
    assert again.order_id == first.order_id
    assert len(standin.orders_with_client_id("same-id")) == 1
    assert len(standin.calls("create")) == 2  # the second got 409 order_already_exists


RESTING, FILLED = "0.40", "0.60"  # a bid below the 0.54 ask rests; one above it fills


async def test_an_id_reused_much_later_still_answers_the_first_order(
    exchange: KalshiExchange, standin: KalshiStandin, clock: ManualClock
) -> None:
    first = await exchange.place_order(buy("KXFED-26MAR-HOLD", "omega-a1b2-17-0"))
    clock.advance(hours=30)  # an approval pressed the next day re-sends the same id
    again = await exchange.place_order(buy("KXFED-26MAR-HOLD", "omega-a1b2-17-0"))
    assert again.order_id == first.order_id
    assert "min_ts" not in standin.calls("orders")[-1].query
    assert len(standin.orders) == 1


FAULTS = [
    ([Fault.RATE_LIMIT], RESTING),
    ([Fault.ERROR_500], RESTING),
    ([Fault.HANG], RESTING),
    ([Fault.DROP], RESTING),
    ([Fault.ACCEPT_THEN_500], RESTING),
    ([Fault.ACCEPT_THEN_HANG], RESTING),
    ([Fault.ACCEPT_THEN_DROP], RESTING),
    # An order that filled at once is no longer resting: the lookup must still find it.
    ([Fault.ACCEPT_THEN_500], FILLED),
    ([Fault.ACCEPT_THEN_HANG], FILLED),
    ([Fault.ACCEPT_THEN_DROP], FILLED),
    ([Fault.RATE_LIMIT, Fault.HANG, Fault.ERROR_500], RESTING),
    ([Fault.HANG, Fault.ACCEPT_THEN_500], FILLED),
    ([Fault.DROP, Fault.ACCEPT_THEN_HANG], RESTING),
]


@pytest.mark.parametrize(
    ("faults", "price"),
    FAULTS,
    ids=[
        "+".join(f.value for f in faults) + ("" if price == RESTING else "-filled")
        for faults, price in FAULTS
    ],
)
async def test_no_duplicate_order_under_any_fault(
    exchange: KalshiExchange, standin: KalshiStandin, faults: list[Fault], price: str
) -> None:
    standin.inject("create", *faults)
    order = await exchange.place_order(buy("KXFED-26MAR-HOLD", "fault-1", price=price, qty=5))
    [placed] = standin.orders_with_client_id("fault-1")
    assert order.order_id == placed.order_id
    assert order.client_order_id == "fault-1"
    assert len(standin.orders) == 1
    expected = OrderStatus.RESTING if price == RESTING else OrderStatus.FILLED
    assert order.status is expected
    # Once an attempt is known to have landed, nothing more is sent.
    landed = next((i for i, f in enumerate(faults) if f.value.startswith("accept")), None)
    creates = len(standin.calls("create"))
    assert creates == (landed + 1 if landed is not None else len(faults) + 1)


async def test_an_unverifiable_create_is_not_sent_again(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    standin.inject("create", Fault.ACCEPT_THEN_500)
    standin.inject("orders", *[Fault.ERROR_500] * ATTEMPTS)
    with pytest.raises(OrderStateUnknown, match="may or may not have been placed"):
        await exchange.place_order(buy("KXFED-26MAR-HOLD", "unknown-1"))
    assert len(standin.calls("create")) == 1
    assert len(standin.orders_with_client_id("unknown-1")) == 1


async def test_a_create_refused_every_time_is_an_error(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    standin.inject("create", *[Fault.RATE_LIMIT] * ATTEMPTS)
    with pytest.raises(ExchangeError, match=f"not placed after {ATTEMPTS} attempts"):
        await exchange.place_order(buy("KXFED-26MAR-HOLD", "refused-1"))
    assert standin.orders == {}


async def test_hanging_creates_are_looked_up_one_last_time(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    standin.inject("create", *[Fault.HANG] * (ATTEMPTS - 1), Fault.ACCEPT_THEN_HANG)
    order = await exchange.place_order(buy("KXFED-26MAR-HOLD", "late-1"))
    assert [o.order_id for o in standin.orders_with_client_id("late-1")] == [order.order_id]


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        (buy("KXFED-26MAR-HOLD", "c1", price="0"), "between 0 and 1"),
        (buy("KXFED-26MAR-HOLD", "c1", price="1"), "between 0 and 1"),
        (buy("KXFED-26MAR-HOLD", "c1", price="0.12345"), "more than 4 decimal places"),
        (buy("KXFED-26MAR-HOLD", "c" * 65), "invalid client_order_id"),
        (buy("KXFED/../x", "c1"), "invalid market ticker"),
    ],
)
async def test_bad_requests_never_reach_the_exchange(
    exchange: KalshiExchange, standin: KalshiStandin, request_: OrderRequest, error: str
) -> None:
    with pytest.raises(ExchangeError, match=error):
        await exchange.place_order(request_)
    assert standin.calls("create") == []


async def test_refusals_map_to_the_port_errors(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    standin.balance = Decimal("1.00")
    with pytest.raises(InsufficientFunds, match="insufficient_balance"):
        await exchange.place_order(buy("KXFED-26MAR-HOLD", "poor", qty=50))
    standin.update_market("KXFED-26MAR-CUT", status="closed")
    with pytest.raises(MarketClosed):
        await exchange.place_order(buy("KXFED-26MAR-CUT", "closed"))
    with pytest.raises(ExchangeError, match="market_not_found"):
        await exchange.place_order(buy("KXNONE-1", "nomarket"))
    assert standin.orders == {}


async def test_a_sell_larger_than_the_position_is_refused_before_sending(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    sell = buy("KXFED-26MAR-HOLD", "s1", price="0.60", qty=5).model_copy(
        update={"action": OrderAction.SELL}
    )
    with pytest.raises(ExchangeError, match="exceeds the 0 held"):
        await exchange.place_order(sell)
    standin.set_position("KXFED-26MAR-HOLD", 10, Decimal("4"))
    await exchange.place_order(sell.model_copy(update={"quantity": 6}))
    with pytest.raises(ExchangeError, match=r"exceeds the 10 held \(6 already resting"):
        await exchange.place_order(sell.model_copy(update={"client_order_id": "s2"}))
    await exchange.place_order(sell.model_copy(update={"client_order_id": "s3", "quantity": 4}))
    assert len(standin.calls("create")) == 2


# --- canceling ----------------------------------------------------------------------------


async def test_cancel_uses_the_v2_endpoint_and_is_idempotent(
    exchange: KalshiExchange, standin: KalshiStandin
) -> None:
    order = await exchange.place_order(buy("KXFED-26MAR-HOLD", "cx-1", qty=7))
    before = len(standin.requests)
    canceled = await exchange.cancel_order(order.order_id)
    assert canceled.status is OrderStatus.CANCELED
    assert canceled.filled == 0
    [delete] = standin.calls("cancel")
    assert standin.requests[before:] == [delete]  # a cancel costs one request (issue 13)
    assert delete.path == f"/portfolio/events/orders/{order.order_id}"
    # KALSHI_SUBACCOUNT (default 0) is named on every portfolio call (issue 13).
    assert delete.query == {"market_ticker": "KXFED-26MAR-HOLD", "subaccount": "0"}
    again = await exchange.cancel_order(order.order_id)
    assert again.status is OrderStatus.CANCELED
    assert len(standin.calls("cancel")) == 1
    assert await exchange.get_resting_orders() == []


@pytest.mark.parametrize(
    "faults",
    [[Fault.ERROR_500], [Fault.HANG], [Fault.RATE_LIMIT], [Fault.ACCEPT_THEN_500]],
    ids=lambda f: f[0].value,
)
async def test_cancel_through_faults(
    exchange: KalshiExchange, standin: KalshiStandin, faults: list[Fault]
) -> None:
    order = await exchange.place_order(buy("KXFED-26MAR-HOLD", "cx-2"))
    standin.inject("cancel", *faults)
    canceled = await exchange.cancel_order(order.order_id)
    assert canceled.status is OrderStatus.CANCELED


async def test_cancel_refusals(exchange: KalshiExchange) -> None:
    with pytest.raises(OrderNotFound):
        await exchange.cancel_order("ord-999999")
    filled = await exchange.place_order(buy("KXFED-26MAR-CUT", "cx-3", price="0.40", qty=1))
    with pytest.raises(ExchangeError, match="filled: nothing to cancel"):
        await exchange.cancel_order(filled.order_id)
    with pytest.raises(ExchangeError, match="invalid order id"):
        await exchange.cancel_order("../balance")


# --- the endpoints we must not use, and the rate limits -----------------------------------


async def test_the_standin_refuses_the_legacy_order_endpoint(
    standin: KalshiStandin, rsa_key: RSAPrivateKey, clock: ManualClock
) -> None:
    signer = KalshiSigner(standin.key_id, rsa_key)
    path = "/trade-api/v2/portfolio/orders"
    stamp = int(clock().timestamp() * 1000)
    async with httpx.AsyncClient() as http:
        response = await http.post(
            standin.base_url + "/portfolio/orders",
            json={"ticker": "KXFED-26MAR-HOLD", "action": "buy", "side": "yes", "count": 1},
            headers=signer.headers("POST", path, stamp),
        )
    assert response.status_code == 400
    assert response.json()["code"] == "deprecated_endpoint"
    assert standin.legacy_order_calls == 1
    standin.legacy_order_calls = 0  # proven; the fixture's own check stays meaningful
    standin.requests.clear()


async def test_requests_are_paced_by_the_token_buckets(
    standin: KalshiStandin, key_file: Path, clock: ManualClock
) -> None:
    virtual = VirtualTime()
    tuning = fast_tuning(monotonic=virtual.monotonic, sleep=virtual.sleep, read_burst=1.0)
    settings = settings_for(standin, key_file, kalshi_reads_per_second=5)
    async with KalshiExchange.from_settings(settings, clock=clock, tuning=tuning) as venue:
        for _ in range(5):
            await venue.get_balance()
        # Burst of one at 5/s: the first read is free, each later one waits 0.2 s.
        assert virtual.sleeps == pytest.approx([0.2, 0.2, 0.2, 0.2])
        standin.inject("balance", Fault.RATE_LIMIT)
        await venue.get_balance()
        # The 429 pushed the shared bucket back by the backoff: the next read waited for it.
        assert venue.stats.rate_limited == 1
        assert virtual.sleeps[-1] > 0.2
        assert venue.reads.acquired == 7
