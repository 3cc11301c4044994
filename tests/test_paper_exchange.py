"""The paper exchange: fees, order handling, settlement, determinism, persistence, money."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from director.exchanges import paper as paper_module
from director.exchanges.base import (
    Exchange,
    ExchangeError,
    InsufficientFunds,
    MarketClosed,
    OrderNotFound,
)
from director.exchanges.paper import PaperAccount, PaperExchange
from director.exchanges.paper_sim import MAKER_FEE_SERIES, Kind, Simulator, step_of, time_of
from director.fees import maker_fee, taker_fee
from director.models import (
    Fill,
    Market,
    MarketStatus,
    Order,
    OrderAction,
    OrderRequest,
    OrderStatus,
    Side,
)
from director.store import Store
from tests.books import balanced
from tests.clocks import ManualClock

D = Decimal
START = datetime(2025, 7, 14, 12, 2, 30, tzinfo=UTC)
BUY, SELL = OrderAction.BUY, OrderAction.SELL
YES, NO = Side.YES, Side.NO


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


OpenStore = Callable[[str], Awaitable[Store]]


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[OpenStore]:
    """Opens databases under tmp_path and closes them all, even after a failed assertion (an
    open aiosqlite connection's thread would keep the test process alive)."""
    opened: list[Store] = []

    async def open_store(name: str) -> Store:
        opened.append(await Store.open(tmp_path / name))
        return opened[-1]

    yield open_store
    for store in opened:
        await store.close()


@pytest.fixture
async def store(stores: OpenStore) -> Store:
    return await stores("omega.db")


async def open_paper(
    store: Store,
    clock: ManualClock,
    *,
    seed: int = 7,
    n_markets: int = 12,
    cash: str = "1000",
) -> PaperExchange:
    return await PaperExchange.open(
        store, seed=seed, n_markets=n_markets, starting_cash=D(cash), clock=clock
    )


@pytest.fixture
async def ex(store: Store, clock: ManualClock) -> AsyncIterator[PaperExchange]:
    exchange = await open_paper(store, clock)
    yield exchange
    await exchange.close()


def request(
    market: str,
    price: Decimal,
    quantity: int,
    cid: str,
    *,
    side: Side = YES,
    action: OrderAction = BUY,
) -> OrderRequest:
    return OrderRequest(
        market=market,
        side=side,
        action=action,
        price=price,
        quantity=quantity,
        client_order_id=cid,
    )


def longest_lived(exchange: PaperExchange, *, mid_priced: bool = True) -> Market:
    """The open market that closes last (among ones priced away from the edges)."""
    markets = list(exchange.markets_snapshot().values())
    if mid_priced:
        markets = [m for m in markets if D("0.15") <= (m.yes_bid or 0) <= D("0.80")]
    return max(markets, key=lambda m: (m.close_time, m.ticker))


def first_to_close(exchange: PaperExchange) -> Market:
    return min(exchange.markets_snapshot().values(), key=lambda m: (m.close_time, m.ticker))


async def everything(exchange: PaperExchange) -> tuple[Any, ...]:
    """All the account shows, for before/after and twin comparisons."""
    return (
        await exchange.account(),
        await exchange.get_positions(),
        await exchange.get_resting_orders(),
        await exchange.get_fills(),
        await exchange.settlements(),
    )


def ask_of(market: Market, side: Side) -> Decimal:
    value = market.ask(side)
    assert value is not None
    return value


def bid_of(market: Market, side: Side) -> Decimal:
    value = market.bid(side)
    assert value is not None
    return value


# --- the fee -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "contracts", "fee"),
    [
        ("0.50", 1, "0.02"),  # 0.0175 rounds up
        ("0.50", 4, "0.07"),  # exactly 0.07: no rounding
        ("0.50", 100, "1.75"),
        ("0.15", 10, "0.09"),  # 0.08925
        ("0.01", 1, "0.01"),  # 0.000693: any fee at all is at least a cent
        ("0.99", 1000, "0.70"),  # 0.693
        ("0.30", 0, "0"),
    ],
)
def test_taker_fee_examples(price: str, contracts: int, fee: str) -> None:
    assert taker_fee(contracts, D(price)) == D(fee)


@settings(derandomize=True)  # the same examples every run: CI stays deterministic
@given(cents=st.integers(1, 99), contracts=st.integers(1, 100_000))
def test_taker_fee_is_the_formula_rounded_up_to_the_cent(cents: int, contracts: int) -> None:
    exact = Fraction(7, 100) * contracts * Fraction(cents, 100) * (1 - Fraction(cents, 100))
    expected = Fraction(math.ceil(exact * 100), 100)
    fee = taker_fee(contracts, D(cents) / 100)
    assert Fraction(fee) == expected
    assert fee == fee.quantize(D("0.01"))


# --- orders --------------------------------------------------------------------------------


async def test_is_an_exchange(ex: PaperExchange) -> None:
    assert isinstance(ex, Exchange)
    assert ex.name == "paper"
    assert len(await ex.get_markets()) == 12


async def test_buy_at_or_above_the_ask_fills_at_once_at_the_ask(ex: PaperExchange) -> None:
    market = longest_lived(ex)
    ask = ask_of(market, YES)
    order = await ex.place_order(request(market.ticker, ask + D("0.03"), 10, "c1"))

    assert order.status is OrderStatus.FILLED and order.remaining == 0
    fee = taker_fee(10, ask)
    [fill] = await ex.get_fills()
    assert (fill.price, fill.quantity, fill.fee, fill.is_taker) == (ask, 10, fee, True)
    assert fill.order_id == order.order_id
    assert await ex.get_balance() == D(1000) - ask * 10 - fee
    [position] = await ex.get_positions()
    assert (position.market, position.side, position.quantity) == (market.ticker, YES, 10)
    assert position.avg_price == ask
    assert position.mark_price == market.mark(YES)
    assert await ex.get_resting_orders() == []


async def test_buy_of_no_fills_against_the_yes_bid(ex: PaperExchange) -> None:
    market = longest_lived(ex)
    no_ask = D(1) - bid_of(market, YES)
    assert ask_of(market, NO) == no_ask
    await ex.place_order(request(market.ticker, no_ask, 3, "n1", side=NO))
    [fill] = await ex.get_fills()
    assert (fill.side, fill.price, fill.fee) == (NO, no_ask, taker_fee(3, no_ask))


async def test_buy_below_the_ask_rests_and_reserves_its_cost(ex: PaperExchange) -> None:
    market = longest_lived(ex)
    price = ask_of(market, YES) - D("0.05")
    order = await ex.place_order(request(market.ticker, price, 20, "r1"))

    assert order.status is OrderStatus.RESTING and order.remaining == 20
    assert await ex.get_resting_orders() == [order]
    assert await ex.get_balance() == D(1000) - price * 20
    account = await ex.account()
    assert account.reserved == price * 20 and balanced(account)
    assert await ex.get_fills() == []


async def step_until(
    ex: PaperExchange, clock: ManualClock, done: Any, *, limit: int = 2000
) -> list[Fill]:
    for _ in range(limit):
        clock.advance(minutes=5)
        fills = await ex.get_fills()
        if await done(fills):
            return fills
    raise AssertionError("the condition never came true")


async def test_resting_buy_fills_as_maker_when_a_later_quote_crosses_it(
    ex: PaperExchange, clock: ManualClock
) -> None:
    market = longest_lived(ex)
    price = ask_of(market, YES) - D("0.02")
    order = await ex.place_order(request(market.ticker, price, 10, "m1"))
    cash_after_placing = await ex.get_balance()

    async def filled(fills: list[Fill]) -> bool:
        return bool(fills)

    [fill] = await step_until(ex, clock, filled)
    # The quote at the step of the fill crosses the order, at the grid time of that step.
    now_market = (await ex.get_markets([market.ticker]))[0]
    assert ask_of(now_market, YES) <= price
    assert fill.created_at == time_of(step_of(clock.now)) == ex.sim_time
    assert (fill.order_id, fill.price, fill.quantity) == (order.order_id, price, 10)
    assert (fill.fee, fill.is_taker) == (D(0), False)
    assert await ex.get_balance() == cash_after_placing  # paid from the reserve
    assert await ex.get_resting_orders() == []
    account = await ex.account()
    assert account.reserved == 0 and account.positions_cost == price * 10 and balanced(account)


async def test_a_buy_bigger_than_the_touch_walks_the_book_and_rests_the_rest(
    stores: OpenStore, clock: ManualClock
) -> None:
    ex = await open_paper(await stores("walk.db"), clock, cash="100000")
    market = longest_lived(ex)
    ask, depth = ask_of(market, YES), market.yes_ask_size
    assert depth is not None and depth > 0
    limit = ask + D("0.01")
    order = await ex.place_order(request(market.ticker, limit, 2 * depth + 7, "w1"))
    # Two levels taken, each a taker fill with its own fee; the rest rests at the limit.
    fills = await ex.get_fills()
    assert [(f.price, f.quantity, f.is_taker) for f in fills] == [
        (ask, depth, True),
        (limit, depth, True),
    ]
    assert all(f.fee == taker_fee(f.quantity, f.price) for f in fills)
    assert order.status is OrderStatus.RESTING and order.remaining == 7
    account = await ex.account()
    assert account.reserved == limit * 7 and balanced(account)
    # The next buyer meets the moved quote.
    [moved] = await ex.get_markets([market.ticker])
    assert ask_of(moved, YES) > limit


async def test_a_maker_fill_on_a_maker_fee_series_pays_the_maker_fee(
    stores: OpenStore, clock: ManualClock
) -> None:
    ex = await open_paper(await stores("maker.db"), clock, n_markets=40, cash="100000")
    markets = [
        m
        for m in ex.markets_snapshot().values()
        if m.ticker.split("-")[0] in MAKER_FEE_SERIES
        and m.yes_bid
        and m.yes_ask
        and m.yes_ask - m.yes_bid >= D("0.02")
    ]
    assert markets
    placed = []
    for i, market in enumerate(markets):
        inside = (market.yes_bid or D(0)) + D("0.01")  # better than the touch: first in line
        placed.append(await ex.place_order(request(market.ticker, inside, 5, f"m{i}")))

    async def any_maker(fills: list[Fill]) -> bool:
        return any(not f.is_taker for f in fills)

    fills = await step_until(ex, clock, any_maker, limit=200)
    maker = [f for f in fills if not f.is_taker]
    assert maker and all(f.fee == maker_fee(f.quantity, f.price) > 0 for f in maker)
    assert balanced(await ex.account())


async def test_a_resting_sell_fills_as_maker_at_its_price(
    ex: PaperExchange, clock: ManualClock
) -> None:
    market = longest_lived(ex)
    await ex.place_order(request(market.ticker, ask_of(market, YES), 10, "b1"))
    price = bid_of(market, YES) + D("0.03")
    sell = await ex.place_order(request(market.ticker, price, 6, "s1", action=SELL))
    assert sell.status is OrderStatus.RESTING
    # Contracts offered by a resting sell can't be sold twice.
    with pytest.raises(ExchangeError, match="6 already offered"):
        await ex.place_order(request(market.ticker, price, 5, "s2", action=SELL))
    cash_before = await ex.get_balance()

    async def sold(fills: list[Fill]) -> bool:
        return any(f.action is SELL for f in fills)

    fills = await step_until(ex, clock, sold)
    [fill] = [f for f in fills if f.action is SELL]
    # A maker fill at its own price; BTC markets charge no maker fee.
    assert (fill.price, fill.quantity, fill.fee, fill.is_taker) == (price, 6, D(0), False)
    assert await ex.get_balance() == cash_before + price * 6
    [position] = await ex.get_positions()
    assert position.quantity == 4


async def test_sell_at_the_bid_fills_and_realizes_against_average_cost(
    ex: PaperExchange,
) -> None:
    market = longest_lived(ex)
    ask, bid = ask_of(market, YES), bid_of(market, YES)
    await ex.place_order(request(market.ticker, ask, 3, "b1"))
    cash = await ex.get_balance()
    await ex.place_order(request(market.ticker, bid - D("0.02"), 2, "s1", action=SELL))

    fee = taker_fee(2, bid)
    assert await ex.get_balance() == cash + bid * 2 - fee
    account = await ex.account()
    # Cost of the 2 sold is 2/3 of 3 × ask, rounded to the cent; the rest stays held.
    sold_cost = (ask * 3 * 2 / 3).quantize(D("0.01"))
    assert account.realized_pnl == bid * 2 - sold_cost
    assert account.positions_cost == ask * 3 - sold_cost
    assert balanced(account)


async def test_selling_more_than_held_is_refused(ex: PaperExchange) -> None:
    market = longest_lived(ex)
    with pytest.raises(ExchangeError, match="0 held"):
        await ex.place_order(request(market.ticker, D("0.50"), 1, "s0", action=SELL))
    await ex.place_order(request(market.ticker, ask_of(market, YES), 2, "b1"))
    with pytest.raises(ExchangeError, match="cannot sell 3 yes"):
        await ex.place_order(request(market.ticker, D("0.01"), 3, "s1", action=SELL))
    with pytest.raises(ExchangeError, match="cannot sell 1 no"):
        await ex.place_order(request(market.ticker, D("0.01"), 1, "s2", side=NO, action=SELL))


@pytest.mark.parametrize("price", ["0", "0.00", "0.005", "1", "1.00", "0.995", "-0.5", "0.555"])
async def test_prices_outside_the_cent_grid_are_refused(ex: PaperExchange, price: str) -> None:
    market = longest_lived(ex)
    before = await everything(ex)
    with pytest.raises(ExchangeError, match="price"):
        await ex.place_order(request(market.ticker, D(price), 1, "p1"))
    assert await everything(ex) == before


async def test_unvalidated_requests_are_still_checked(ex: PaperExchange) -> None:
    market = longest_lived(ex)
    base: dict[str, Any] = {
        "market": market.ticker,
        "side": YES,
        "action": BUY,
        "price": D("0.50"),
        "quantity": 1,
        "client_order_id": "x",
    }
    bad: list[dict[str, Any]] = [
        {"price": D("NaN")},
        {"price": 0.5},
        {"quantity": 0},
        {"quantity": True},
        {"quantity": 10_000_000},
        {"client_order_id": ""},
        {"side": "maybe"},
        {"market": ""},
    ]
    for change in bad:
        with pytest.raises(ExchangeError):
            await ex.place_order(OrderRequest.model_construct(**(base | change)))
    assert await ex.get_resting_orders() == [] and await ex.get_fills() == []


async def test_unknown_market_is_closed(ex: PaperExchange) -> None:
    with pytest.raises(MarketClosed):
        await ex.place_order(request("KXNOPE-25JUL1412-T1", D("0.50"), 1, "u1"))


async def test_cancel_releases_the_reserve(ex: PaperExchange) -> None:
    market = longest_lived(ex)
    order = await ex.place_order(request(market.ticker, D("0.01"), 50, "r1"))
    assert await ex.get_balance() == D("999.50")

    canceled = await ex.cancel_order(order.order_id)
    assert canceled.status is OrderStatus.CANCELED and canceled.filled == 0
    assert await ex.get_balance() == D(1000)
    assert await ex.get_resting_orders() == []
    assert (await ex.account()).reserved == 0
    # Canceling again is harmless; unknown ids and filled orders are errors.
    assert (await ex.cancel_order(order.order_id)).status is OrderStatus.CANCELED
    with pytest.raises(OrderNotFound):
        await ex.cancel_order("po-99999999")
    filled = await ex.place_order(request(market.ticker, ask_of(market, YES), 1, "t1"))
    with pytest.raises(ExchangeError, match="filled"):
        await ex.cancel_order(filled.order_id)


async def test_insufficient_funds_changes_nothing(store: Store, clock: ManualClock) -> None:
    ex = await open_paper(store, clock, cash="5.00")
    market = longest_lived(ex)
    ask = ask_of(market, YES)
    affordable = int(D(5) / (ask + D("0.02")))
    before = await everything(ex)

    with pytest.raises(InsufficientFunds, match=r"\$5.00 available"):
        await ex.place_order(request(market.ticker, ask, affordable + 5, "big"))
    with pytest.raises(InsufficientFunds):  # a resting buy must be fully covered too
        await ex.place_order(request(market.ticker, D("0.01"), 501, "rest"))
    assert await everything(ex) == before

    # The refused client order id was not used up.
    order = await ex.place_order(request(market.ticker, D("0.01"), 500, "rest"))
    assert order.status is OrderStatus.RESTING
    assert await ex.get_balance() == D(0)
    await ex.close()


async def test_spending_every_cent_is_allowed_and_cash_stays_non_negative(
    stores: OpenStore,
) -> None:
    probe_store, clock = await stores("probe.db"), ManualClock(START)
    probe = await open_paper(probe_store, clock)
    market = longest_lived(probe)
    ask = ask_of(market, YES)
    cost = ask * 10 + taker_fee(10, ask)
    await probe.close()
    await probe_store.close()

    store = await stores("exact.db")
    exact = await open_paper(store, clock, cash=str(cost))  # same seed and time: same markets
    await exact.place_order(request(market.ticker, ask, 10, "all"))
    assert await exact.get_balance() == 0
    with pytest.raises(InsufficientFunds):
        await exact.place_order(request(market.ticker, D("0.01"), 1, "more"))
    await exact.close()
    await store.close()


async def test_client_order_id_is_idempotent(ex: PaperExchange) -> None:
    market = longest_lived(ex)
    resting = request(market.ticker, D("0.02"), 10, "same")
    first = await ex.place_order(resting)
    again = await ex.place_order(resting)
    assert again == first
    assert await ex.get_resting_orders() == [first]
    assert await ex.get_balance() == D(1000) - D("0.20")

    taker = request(market.ticker, ask_of(market, YES), 4, "taken")
    filled = await ex.place_order(taker)
    assert await ex.place_order(taker) == filled
    assert len(await ex.get_fills()) == 1

    with pytest.raises(ExchangeError, match="already used"):
        await ex.place_order(request(market.ticker, D("0.03"), 10, "same"))


# --- settlement ----------------------------------------------------------------------------


async def test_settlement_pays_winners_and_cancels_resting_orders(
    ex: PaperExchange, clock: ManualClock
) -> None:
    market = first_to_close(ex)
    await ex.place_order(request(market.ticker, ask_of(market, YES), 5, "y"))
    await ex.place_order(request(market.ticker, ask_of(market, NO), 3, "n", side=NO))
    resting = await ex.place_order(request(market.ticker, D("0.01"), 7, "r"))
    before = await ex.account()

    assert market.close_time is not None
    clock.now = market.close_time + timedelta(minutes=1)
    [settled] = await ex.get_markets([market.ticker])
    assert settled.status is MarketStatus.SETTLED and settled.result is not None
    assert ex.fair_value(market.ticker) == (1.0 if settled.result is YES else 0.0)

    payout = D(5) if settled.result is YES else D(3)
    after = await ex.account()
    assert after.cash == before.cash + payout + D("0.07")  # + the released reserve
    assert after.reserved == 0 and after.positions_cost == 0 and balanced(after)
    assert await ex.get_positions() == []
    assert all(o.order_id != resting.order_id for o in await ex.get_resting_orders())
    assert (await ex.cancel_order(resting.order_id)).status is OrderStatus.CANCELED
    [record] = await ex.settlements()
    assert (record.market, record.result, record.yes_quantity, record.no_quantity) == (
        market.ticker,
        settled.result,
        5,
        3,
    )
    assert record.payout == payout and record.cost == before.positions_cost
    assert record.pnl == payout - before.positions_cost
    assert record.settled_at == market.close_time
    assert 0 < record.fair_at_close < 1
    with pytest.raises(MarketClosed):
        await ex.place_order(request(market.ticker, D("0.50"), 1, "late"))
    # The universe was refilled.
    assert len(ex.markets_snapshot()) == 12


def test_simulated_markets_settle_as_often_as_their_fair_value_says() -> None:
    sim = Simulator.genesis(seed=3, n_markets=40, step=step_of(START))
    settled = []
    for _ in range(30 * 288):
        settled.extend(sim.advance().settled)
        sim.dirty.clear()
    binaries = [m for m in settled if m.kind is Kind.BINARY]
    assert len(binaries) > 500
    expected = sum(m.fair_at_close or 0 for m in binaries)
    wins = sum(m.result is YES for m in binaries)
    spread = math.sqrt(sum((f := m.fair_at_close or 0) * (1 - f) for m in binaries))
    assert abs(wins - expected) < 4 * spread
    # Each mutually exclusive event has exactly one winner.
    events = Counter(m.event_ticker for m in settled if m.kind is Kind.EXCLUSIVE)
    winners = Counter(
        m.event_ticker for m in settled if m.kind is Kind.EXCLUSIVE and m.result is YES
    )
    assert len(events) > 50
    assert all(winners[event] == 1 for event in events)


async def test_the_universe_stays_full_with_sane_quotes(
    ex: PaperExchange, clock: ManualClock
) -> None:
    kinds: set[bool] = set()
    for _ in range(200):
        clock.advance(minutes=37)
        markets = await ex.get_markets()
        assert len(markets) == 12
        assert len({m.ticker for m in markets}) == 12
        for m in markets:
            assert m.yes_bid is not None and m.yes_ask is not None
            assert D("0.01") <= m.yes_bid < m.yes_ask <= D("0.99")
            assert m.close_time is not None
            assert ex.sim_time < m.close_time <= ex.sim_time + timedelta(days=5, hours=2)
            assert m.ticker.startswith(m.event_ticker + "-") and m.title
        by_event: dict[str, list[Market]] = {}
        for m in markets:
            by_event.setdefault(m.event_ticker, []).append(m)
        for siblings in by_event.values():
            fair = [ex.fair_value(m.ticker) or 0.0 for m in siblings]
            kinds.add(len(siblings) > 1)
            if len(siblings) > 1:
                assert math.isclose(sum(fair), 1.0)
                # No free money across outcomes: every YES costs at least $1 to buy and
                # brings at most $1 to sell.
                assert sum(m.yes_ask or 0 for m in siblings) >= 1
                assert sum(m.yes_bid or 0 for m in siblings) <= 1
    assert kinds == {True, False}  # both single and mutually exclusive events occur


# --- time, determinism, restart ------------------------------------------------------------


async def scripted_session(exchange: PaperExchange, clock: ManualClock) -> list[Any]:
    """The same calls at the same clock values, whatever the exchange."""
    seen: list[Any] = []
    for i in range(30):
        clock.advance(minutes=23)
        markets = sorted(exchange.markets_snapshot().values(), key=lambda m: m.ticker)
        target = markets[i % len(markets)]
        try:
            if i % 3 == 0:
                await exchange.place_order(request(target.ticker, ask_of(target, YES), 2, f"t{i}"))
            elif i % 3 == 1:
                price = max(D("0.01"), ask_of(target, NO) - D("0.01"))
                await exchange.place_order(request(target.ticker, price, 3, f"r{i}", side=NO))
        except ExchangeError as exc:
            seen.append(str(exc))
        seen.append(sorted(exchange.markets_snapshot().items()))
    seen.extend(await everything(exchange))
    return seen


async def test_same_seed_and_clock_give_identical_results(stores: OpenStore) -> None:
    runs = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        store = await stores(f"{name}.db")
        clock = ManualClock(START)
        exchange = await open_paper(store, clock, seed=seed)
        runs.append(await scripted_session(exchange, clock))
        await exchange.close()
        await store.close()
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    fills = runs[0][-2]
    assert any(f.is_taker for f in fills) and any(not f.is_taker for f in fills)


async def test_one_big_jump_equals_many_small_steps(stores: OpenStore) -> None:
    results = []
    for name, increments in (("small", 288), ("big", 1)):
        store = await stores(f"{name}.db")
        clock = ManualClock(START)
        exchange = await open_paper(store, clock)
        market = longest_lived(exchange)
        await exchange.place_order(
            request(market.ticker, ask_of(market, YES) - D("0.03"), 5, "rest")
        )
        for _ in range(increments):
            clock.advance(minutes=24 * 60 / increments)
            await exchange.get_balance()
        results.append((sorted(exchange.markets_snapshot().items()), await everything(exchange)))
        await exchange.close()
        await store.close()
    assert results[0] == results[1]


async def saved_tables(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the paper exchange saved, but the write counter."""
    tables = {}
    for table in ("paper_markets", "paper_orders", "paper_fills", "paper_positions"):
        cur = await store.conn.execute(f"SELECT * FROM {table} ORDER BY 1")
        tables[table] = [tuple(row) for row in await cur.fetchall()]
    cur = await store.conn.execute("SELECT * FROM paper_account")
    tables["paper_account"] = [
        tuple(v for k, v in zip(row.keys(), row, strict=True) if k != "revision")
        for row in await cur.fetchall()
    ]
    return tables


async def test_a_restart_continues_the_same_account(stores: OpenStore) -> None:
    async def first_half(exchange: PaperExchange, clock: ManualClock) -> None:
        markets = sorted(exchange.markets_snapshot().values(), key=lambda m: m.ticker)
        await exchange.place_order(request(markets[0].ticker, ask_of(markets[0], YES), 4, "a"))
        await exchange.place_order(request(markets[1].ticker, D("0.02"), 9, "b", side=NO))
        await exchange.place_order(
            request(markets[2].ticker, ask_of(markets[2], YES) - D("0.02"), 6, "c")
        )
        clock.advance(hours=7, minutes=3)
        await exchange.get_balance()

    twin_store = await stores("twin.db")
    twin_clock = ManualClock(START)
    twin = await open_paper(twin_store, twin_clock)
    await first_half(twin, twin_clock)

    store = await stores("restart.db")
    clock = ManualClock(START)
    exchange = await open_paper(store, clock)
    await first_half(exchange, clock)
    state = await everything(exchange)
    snapshot = exchange.markets_snapshot()
    await exchange.close()
    await store.close()

    store = await stores("restart.db")
    reopened = await open_paper(store, clock, seed=99, cash="5")
    assert reopened.seed == 7
    assert await everything(reopened) == state
    assert reopened.markets_snapshot() == snapshot
    # Resting orders keep their idempotency across the restart.
    [resting] = [o for o in await reopened.get_resting_orders() if o.client_order_id == "b"]
    assert await reopened.place_order(request(resting.market, D("0.02"), 9, "b", side=NO)) == (
        resting
    )

    # And it goes on exactly as if it had never stopped, hidden state included.
    for hours in (1, 71):
        clock.advance(hours=hours)
        twin_clock.advance(hours=hours)
        assert await everything(reopened) == await everything(twin)
        assert reopened.markets_snapshot() == twin.markets_snapshot()
        assert await saved_tables(store) == await saved_tables(twin_store)
    await reopened.close()
    await store.close()
    await twin.close()
    await twin_store.close()


async def test_the_clock_must_be_aware_and_never_runs_backwards(
    ex: PaperExchange, clock: ManualClock
) -> None:
    clock.advance(hours=2)
    await ex.get_balance()
    reached = ex.sim_time
    clock.advance(hours=-1)
    await ex.get_balance()
    assert ex.sim_time == reached
    clock.now = datetime(2025, 7, 20, 12)  # naive
    with pytest.raises(ValueError, match="aware"):
        await ex.get_balance()


async def test_advance_to_moves_on_the_five_minute_grid(ex: PaperExchange) -> None:
    assert ex.sim_time == datetime(2025, 7, 14, 12, 0, tzinfo=UTC)
    await ex.advance_to(START + timedelta(minutes=12))
    assert ex.sim_time == datetime(2025, 7, 14, 12, 10, tzinfo=UTC)
    await ex.advance_to(START)  # the past: nothing happens
    assert ex.sim_time == datetime(2025, 7, 14, 12, 10, tzinfo=UTC)


async def test_get_fills_since(ex: PaperExchange, clock: ManualClock) -> None:
    market = longest_lived(ex)
    await ex.place_order(request(market.ticker, ask_of(market, YES), 1, "one"))
    clock.advance(hours=1)
    later = clock.now
    market = longest_lived(ex)
    await ex.place_order(request(market.ticker, ask_of(market, YES), 1, "two"))
    assert [f.quantity for f in await ex.get_fills()] == [1, 1]
    [fill] = await ex.get_fills(since=later)
    assert fill.created_at == later


# --- failure ---------------------------------------------------------------------------------


async def test_a_failed_save_records_nothing_and_the_exchange_recovers(
    ex: PaperExchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    market = longest_lived(ex)
    before = await everything(ex)
    real_write = paper_module.write_book
    calls = 0

    async def broken(*args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        raise OSError("disk full")

    monkeypatch.setattr(paper_module, "write_book", broken)
    with pytest.raises(ExchangeError, match="could not save"):
        await ex.place_order(request(market.ticker, ask_of(market, YES), 5, "lost"))
    assert calls == 1
    monkeypatch.setattr(paper_module, "write_book", real_write)
    assert await everything(ex) == before
    order = await ex.place_order(request(market.ticker, ask_of(market, YES), 5, "lost"))
    assert order.status is OrderStatus.FILLED


async def test_a_second_writer_on_the_same_database_is_refused(
    stores: OpenStore, clock: ManualClock
) -> None:
    store_a, store_b = await stores("shared.db"), await stores("shared.db")
    a = await open_paper(store_a, clock)
    b = await open_paper(store_b, clock)
    clock.advance(minutes=10)
    await a.get_balance()
    with pytest.raises(ExchangeError, match="another process"):
        await b.get_balance()
    await a.close()


async def test_open_validates_its_arguments(store: Store, clock: ManualClock) -> None:
    with pytest.raises(ValueError, match="n_markets"):
        await PaperExchange.open(store, seed=1, n_markets=0, starting_cash=D(10), clock=clock)
    with pytest.raises(ValueError, match="starting_cash"):
        await PaperExchange.open(store, seed=1, n_markets=5, starting_cash=D("1.001"), clock=clock)
    with pytest.raises(ValueError, match="seed"):
        await PaperExchange.open(
            store,
            seed=True,
            n_markets=5,
            starting_cash=D(10),
            clock=clock,
        )


async def test_a_closed_exchange_refuses_calls(ex: PaperExchange) -> None:
    await ex.close()
    with pytest.raises(ExchangeError, match="closed"):
        await ex.get_balance()


# --- money is conserved ----------------------------------------------------------------------

Op = tuple[Any, ...]
ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("buy"),
            st.integers(0, 30),
            st.sampled_from([YES, NO]),
            st.integers(-3, 3),  # cents from the ask: negative rests, the rest take
            st.integers(1, 40),
        ),
        st.tuples(
            st.just("sell"),
            st.integers(0, 30),  # which held position
            st.integers(-3, 3),  # cents from the bid: positive rests, the rest take
            st.integers(1, 40),
        ),
        st.tuples(st.just("cancel"), st.integers(0, 30)),
        st.tuples(st.just("wait"), st.integers(1, 3000)),  # minutes
    ),
    min_size=1,
    max_size=40,
)


def check_books(
    account: PaperAccount,
    fills: list[Fill],
    resting: list[Order],
    positions: dict[tuple[str, Side], int],
    settlements: list[Any],
) -> None:
    assert balanced(account)
    assert account.cash >= 0
    assert account.reserved == sum(
        (o.price * o.remaining for o in resting if o.action is BUY), D(0)
    )
    flows = D(0)
    held: Counter[tuple[str, Side]] = Counter()
    for fill in fills:
        amount = fill.price * fill.quantity
        if fill.is_taker:
            assert fill.fee == taker_fee(fill.quantity, fill.price)
        elif fill.market.split("-")[0] in MAKER_FEE_SERIES:
            assert fill.fee == maker_fee(fill.quantity, fill.price)
        else:
            assert fill.fee == 0
        if fill.action is BUY:
            flows -= amount + fill.fee
            held[(fill.market, fill.side)] += fill.quantity
        else:
            flows += amount - fill.fee
            held[(fill.market, fill.side)] -= fill.quantity
    for record in settlements:
        flows += record.payout
        held[(record.market, YES)] -= record.yes_quantity
        held[(record.market, NO)] -= record.no_quantity
    assert account.cash + account.reserved == account.starting_cash + flows
    assert account.fees_paid == sum((f.fee for f in fills), D(0))
    assert {k: v for k, v in held.items() if v} == positions


async def apply(ex: PaperExchange, clock: ManualClock, n: int, op: Op) -> None:
    if op[0] == "wait":
        clock.advance(minutes=op[1])
    elif op[0] == "cancel":
        resting = await ex.get_resting_orders()
        await ex.cancel_order(resting[op[1] % len(resting)].order_id if resting else "po-0")
    elif op[0] == "buy":
        _, index, side, offset, qty = op
        markets = sorted(ex.markets_snapshot().values(), key=lambda m: m.ticker)
        market = markets[index % len(markets)]
        price = min(D("0.99"), max(D("0.01"), ask_of(market, side) + D(offset) / 100))
        await ex.place_order(request(market.ticker, price, qty, f"o{n}", side=side))
    else:
        _, index, offset, qty = op
        held = await ex.get_positions()
        if not held:
            return
        position = held[index % len(held)]
        [market] = await ex.get_markets([position.market])
        price = min(D("0.99"), max(D("0.01"), bid_of(market, position.side) + D(offset) / 100))
        await ex.place_order(
            request(market.ticker, price, qty, f"o{n}", side=position.side, action=SELL)
        )


async def run_ops(script: list[Op]) -> None:
    store = await Store.open(":memory:")
    clock = ManualClock(START)
    ex = await open_paper(store, clock, n_markets=6, cash="100")
    try:
        for n, op in enumerate(script):
            # A refusal is an outcome too: the books must hold either way.
            with contextlib.suppress(ExchangeError):
                await apply(ex, clock, n, op)
            positions = {(p.market, p.side): p.quantity for p in await ex.get_positions()}
            check_books(
                await ex.account(),
                await ex.get_fills(),
                await ex.get_resting_orders(),
                positions,
                await ex.settlements(),
            )
    finally:
        await ex.close()
        await store.close()


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(script=ops)
def test_money_is_conserved_whatever_is_traded(script: list[Op]) -> None:
    asyncio.run(run_ops(script))
