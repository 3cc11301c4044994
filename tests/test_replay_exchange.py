"""The replay venue: fills walk the recorded book and never take more than it holds."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from director.backtest.simclock import SimClock
from director.exchanges.base import ExchangeError, InsufficientFunds, MarketClosed
from director.exchanges.replay import ReplayExchange
from director.fees import FeeSchedule, FeeType, maker_fee, taker_fee
from director.models import OrderAction, OrderRequest, OrderStatus, Side
from director.recorder.format import MarketLine, SettlementLine
from director.recorder.reader import Poll
from director.ticks import PriceRange
from tests.books import balanced
from tests.recording_helpers import START

D = Decimal
# YES bids 0.40×30, 0.39×50; NO bids 0.58×10, 0.57×20 (YES asks 0.42×10, 0.43×20).
BOOK = MarketLine(
    ticker="KX-A",
    bid=D("0.40"),
    ask=D("0.42"),
    bid_size=D(30),
    ask_size=D(10),
    fees=FeeSchedule(multiplier=D("0.5")),
    yes_bids=((D("0.40"), D(30)), (D("0.39"), D(50))),
    no_bids=((D("0.58"), D(10)), (D("0.57"), D(20))),
)
_ids = iter(range(1, 10_000))
# Kalshi's tapered_deci_cent grid: tenths of a cent below $0.10 and above $0.90.
TAPERED = (
    PriceRange(start=D(0), end=D("0.1"), step=D("0.001")),
    PriceRange(start=D("0.1"), end=D("0.9"), step=D("0.01")),
    PriceRange(start=D("0.9"), end=D(1), step=D("0.001")),
)


def poll(seq: int, *markets: MarketLine, settlements: tuple[SettlementLine, ...] = ()) -> Poll:
    return Poll(
        seq=seq,
        at=START + timedelta(minutes=15 * (seq - 1)),
        full=seq == 1,
        markets=list(markets),
        settlements=list(settlements),
    )


def buy(
    qty: int, price: str, side: Side = Side.YES, action: OrderAction = OrderAction.BUY
) -> OrderRequest:
    return OrderRequest(
        market="KX-A",
        side=side,
        action=action,
        price=D(price),
        quantity=qty,
        client_order_id=f"c-{next(_ids)}",
    )


@pytest.fixture
def venue() -> tuple[ReplayExchange, SimClock]:
    clock = SimClock(START)
    exchange = ReplayExchange(starting_cash=D(1000), clock=clock)
    exchange.apply(poll(1, BOOK))
    return exchange, clock


def step(venue: tuple[ReplayExchange, SimClock], p: Poll) -> None:
    exchange, clock = venue
    clock.advance((p.at - clock()).total_seconds())
    exchange.apply(p)


async def test_a_buy_walks_the_asks_level_by_level_paying_the_markets_fee(
    venue: tuple[ReplayExchange, SimClock],
) -> None:
    exchange, _ = venue
    order = await exchange.place_order(buy(25, "0.43"))
    assert order.status is OrderStatus.FILLED
    fills = [(f.price, f.quantity, f.fee, f.is_taker) for f in await exchange.get_fills()]
    assert fills == [
        (D("0.42"), 10, taker_fee(10, D("0.42"), D("0.5")), True),
        (D("0.43"), 15, taker_fee(15, D("0.43"), D("0.5")), True),
    ]
    assert balanced(exchange.account())


async def test_two_orders_together_never_take_more_than_the_recorded_depth(
    venue: tuple[ReplayExchange, SimClock],
) -> None:
    exchange, _ = venue
    await exchange.place_order(buy(25, "0.43"))
    second = await exchange.place_order(buy(20, "0.43"))
    assert (second.filled, second.remaining, second.status) == (5, 15, OrderStatus.RESTING)
    # Buying NO takes the YES bids, a book of its own.
    no = await exchange.place_order(buy(100, "0.61", side=Side.NO))
    assert no.filled == 80 and no.remaining == 20
    assert sum(f.quantity for f in await exchange.get_fills() if f.side is Side.YES) == 30
    assert balanced(exchange.account())


async def test_taken_depth_comes_back_only_with_a_new_recorded_line(
    venue: tuple[ReplayExchange, SimClock],
) -> None:
    exchange, _ = venue
    await exchange.place_order(buy(30, "0.43"))
    step(venue, poll(2))  # the market unchanged: what was taken is still gone
    assert (await exchange.place_order(buy(5, "0.43"))).filled == 0
    step(venue, poll(3, BOOK.replaced(volume=1)))
    # The resting order (5 at 0.43) fills first, as maker at its own price, from the new book.
    fills = await exchange.get_fills()
    assert (fills[-1].quantity, fills[-1].price, fills[-1].is_taker, fills[-1].fee) == (
        5,
        D("0.43"),
        False,
        D(0),
    )
    assert (await exchange.place_order(buy(30, "0.43"))).filled == 25
    assert balanced(exchange.account())


async def test_a_resting_order_fills_only_as_far_as_the_book_crosses_it(
    venue: tuple[ReplayExchange, SimClock],
) -> None:
    exchange, _ = venue
    order = await exchange.place_order(buy(50, "0.41"))
    assert order.filled == 0 and exchange.cash == D(1000) - D("0.41") * 50
    cheaper = BOOK.replaced(no_bids=((D("0.60"), D(12)), (D("0.58"), D(99))))
    step(venue, poll(2, cheaper))  # YES asks 0.40×12 (crosses 0.41), 0.42×99 (does not)
    (resting,) = await exchange.get_resting_orders()
    assert (resting.filled, resting.remaining) == (12, 38)
    assert balanced(exchange.account())


async def test_a_touch_without_a_book_is_all_the_depth_there_is(
    venue: tuple[ReplayExchange, SimClock],
) -> None:
    exchange, _ = venue
    touch = BOOK.replaced(yes_bids=None, no_bids=None, ask_size=D(7))
    step(venue, poll(2, touch))
    order = await exchange.place_order(buy(10, "0.99"))
    assert (order.filled, order.remaining) == (7, 3)


async def test_sells_walk_the_bids_and_only_what_is_held(
    venue: tuple[ReplayExchange, SimClock],
) -> None:
    exchange, _ = venue
    await exchange.place_order(buy(10, "0.42"))
    with pytest.raises(ExchangeError, match="cannot sell 11"):
        await exchange.place_order(buy(11, "0.01", action=OrderAction.SELL))
    sold = await exchange.place_order(buy(10, "0.39", action=OrderAction.SELL))
    assert sold.status is OrderStatus.FILLED
    assert [f.price for f in await exchange.get_fills()][-1] == D("0.40")
    assert await exchange.get_positions() == []
    assert balanced(exchange.account())


async def test_a_recorded_settlement_pays_the_winners_and_cancels_the_rest(
    venue: tuple[ReplayExchange, SimClock],
) -> None:
    exchange, _ = venue
    await exchange.place_order(buy(10, "0.42"))
    await exchange.place_order(buy(5, "0.30"))  # rests
    cash = exchange.cash
    settled = SettlementLine(ticker="KX-A", result=Side.YES, seen_at=START)
    step(venue, poll(2, settlements=(settled,)))
    assert exchange.cash == cash + D(10) + D("0.30") * 5
    assert await exchange.get_positions() == [] and await exchange.get_resting_orders() == []
    (market,) = await exchange.get_markets(["KX-A"])
    assert market.result is Side.YES
    with pytest.raises(MarketClosed):
        await exchange.place_order(buy(1, "0.50"))
    assert balanced(exchange.account())


async def test_refusals_change_nothing_and_a_repeated_client_id_places_once(
    venue: tuple[ReplayExchange, SimClock],
) -> None:
    exchange, _ = venue
    with pytest.raises(InsufficientFunds):
        await exchange.place_order(buy(2500, "0.43"))
    assert exchange.cash == D(1000) and await exchange.get_fills() == []
    request = buy(5, "0.42")
    first = await exchange.place_order(request)
    assert await exchange.place_order(request) == first
    assert len(await exchange.get_fills()) == 1


async def test_a_resting_fill_pays_the_maker_fee_where_the_market_charges_one(
    venue: tuple[ReplayExchange, SimClock],
) -> None:
    exchange, _ = venue
    makers = FeeSchedule(fee_type=FeeType.QUADRATIC_WITH_MAKER_FEES)
    step(venue, poll(2, BOOK.replaced(fees=makers)))
    await exchange.place_order(buy(10, "0.41"))
    # The fee it may owe is held back while it rests.
    assert await exchange.get_balance() == D(1000) - D("0.41") * 10 - maker_fee(10, D("0.41"))
    step(venue, poll(3, BOOK.replaced(fees=makers, no_bids=((D("0.60"), D(10)),))))
    (fill,) = await exchange.get_fills()
    assert (fill.is_taker, fill.fee) == (False, maker_fee(10, D("0.41")))
    assert balanced(exchange.account())
    assert await exchange.get_balance() == D(1000) - D("4.10") - fill.fee


async def test_a_market_whose_fees_are_not_modelled_refuses_orders(
    venue: tuple[ReplayExchange, SimClock],
) -> None:
    exchange, _ = venue
    step(venue, poll(2, BOOK.replaced(fees=FeeSchedule(fee_type=FeeType.FLAT))))
    with pytest.raises(ExchangeError, match="not modelled"):
        await exchange.place_order(buy(1, "0.45"))


async def test_orders_follow_the_markets_recorded_tick_grid(
    venue: tuple[ReplayExchange, SimClock],
) -> None:
    exchange, _ = venue
    with pytest.raises(ExchangeError, match=r"off KX-A's grid \(whole cents\)"):
        await exchange.place_order(buy(1, "0.425"))  # no grid recorded: whole cents
    # A tail on tenths of a cent: YES bids 0.031×20, NO bids 0.965×10 (YES asks 0.035×10).
    tail = BOOK.replaced(
        bid=D("0.031"),
        ask=D("0.035"),
        ticks=TAPERED,
        yes_bids=((D("0.031"), D(20)),),
        no_bids=((D("0.965"), D(10)),),
    )
    step(venue, poll(2, tail))
    (market,) = await exchange.get_markets(["KX-A"])
    assert market.price_ranges == TAPERED  # what the director's guard checks
    with pytest.raises(ExchangeError, match=r"off KX-A's grid \(0-0.1 by 0.001, 0.1-0.9 by 0.01"):
        await exchange.place_order(buy(1, "0.455"))  # cents only between 0.10 and 0.90
    assert await exchange.get_fills() == []
    bought = await exchange.place_order(buy(3, "0.035"))
    assert bought.status is OrderStatus.FILLED
    # Selling one of the three releases a third of their cost, to the grid's finest tick.
    await exchange.place_order(buy(1, "0.031", action=OrderAction.SELL))
    assert exchange.realized_pnl == D("0.031") - D("0.035")
    assert balanced(exchange.account())
