"""Parsing Kalshi's response shapes, and building V2 order requests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from director.exchanges.base import ExchangeError
from director.exchanges.kalshi import book_order, format_price, order_body
from director.exchanges.kalshi.batch import asks, bids
from director.exchanges.kalshi.errors import KalshiParseError, error_info
from director.exchanges.kalshi.models import (
    parse_event,
    parse_events_page,
    parse_market,
    parse_orderbook,
)
from director.exchanges.kalshi.portfolio_models import (
    parse_balance,
    parse_fill,
    parse_order,
    parse_position,
    parse_settlement,
)
from director.models import MarketStatus, OrderAction, OrderRequest, OrderStatus, Side
from tests.kalshi_standin import SMarket, SOrder


def market_json(**changes: Any) -> dict[str, Any]:
    body = SMarket(
        "KXHEAT-26JUL-T90",
        "KXHEAT-26JUL",
        title="Highest temperature in NYC on Jul 26?",
        yes_sub_title="90° or above",
        yes_bid=Decimal("0.41"),
        yes_ask=Decimal("0.44"),
        bid_size=Decimal(12),
        ask_size=Decimal("7.5"),
        last_price=Decimal("0.42"),
        volume=1234,
        volume_24h=56,
        close_time=datetime(2026, 7, 26, 23, 0, tzinfo=UTC),
    ).body()
    body.update(changes)
    return body


def test_a_market_parses_from_the_sdk_shape() -> None:
    market = parse_market(market_json())
    assert market.ticker == "KXHEAT-26JUL-T90"
    assert (market.yes_bid, market.yes_ask) == (Decimal("0.41"), Decimal("0.44"))
    assert (market.yes_bid_size, market.yes_ask_size) == (Decimal(12), Decimal("7.5"))
    assert market.ask(Side.NO) == Decimal("0.59")
    assert market.ask_size(Side.NO) == Decimal(12)
    assert (market.volume, market.volume_24h, market.is_open) == (1234, 56, True)
    assert market.close_time == datetime(2026, 7, 26, 23, 0, tzinfo=UTC)
    plain = market.to_market()
    assert plain.status is MarketStatus.OPEN
    assert plain.title == "Highest temperature in NYC on Jul 26? — 90° or above"
    assert plain.mark(Side.YES) == Decimal("0.425")


def test_empty_sides_are_none() -> None:
    # Kalshi sends "no bid" as 0 and "no ask" as 1, with zero sizes.
    market = parse_market(
        market_json(
            yes_bid_dollars="0.0000",
            yes_bid_size_fp="0.00",
            yes_ask_dollars="1.0000",
            yes_ask_size_fp="0.00",
            last_price_dollars="0.0000",
        )
    )
    assert (market.yes_bid, market.yes_ask, market.last_price) == (None, None, None)
    assert market.to_market().mark(Side.YES) is None
    # A priced level with no size is no level either.
    assert parse_market(market_json(yes_bid_size_fp="0.00")).yes_bid is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("active", MarketStatus.OPEN),
        ("open", MarketStatus.OPEN),
        ("closed", MarketStatus.CLOSED),
        ("determined", MarketStatus.CLOSED),
        ("initialized", MarketStatus.CLOSED),
        ("finalized", MarketStatus.SETTLED),
        ("something-new", MarketStatus.CLOSED),
    ],
)
def test_lifecycle_states_map_conservatively(status: str, expected: MarketStatus) -> None:
    assert parse_market(market_json(status=status)).to_market().status is expected


def test_a_settled_market_marks_at_its_result() -> None:
    market = parse_market(market_json(status="finalized", result="no")).to_market()
    assert market.result is Side.NO
    assert market.mark(Side.NO) == Decimal(1)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"yes_bid_dollars": "0.50", "yes_ask_dollars": "0.45"}, "crossed quote"),
        ({"yes_ask_dollars": "1.5"}, "outside 0..1"),
        ({"yes_ask_dollars": "NaN"}, "not a finite number"),
        ({"yes_ask_dollars": 0.44}, "expected a fixed-point string"),
        ({"yes_ask_dollars": "abc"}, "not a number"),
        ({"volume_fp": "-3.00"}, "negative count"),
        ({"close_time": "yesterday"}, "not an RFC 3339 timestamp"),
        ({"close_time": None}, "close_time: missing"),
        ({"event_ticker": "has space"}, "not a valid identifier"),
        ({"status": 3}, "expected a string"),
    ],
)
def test_malformed_markets_are_refused_by_field(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(KalshiParseError, match=problem) as caught:
        parse_market(market_json(**changes))
    assert "KXHEAT-26JUL-T90" in str(caught.value)


def test_an_event_keeps_its_good_markets_and_counts_the_bad() -> None:
    raw = {
        "event_ticker": "KXFED-26MAR",
        "series_ticker": "KXFED",
        "title": "Fed decision",
        "sub_title": "March",
        "mutually_exclusive": True,
        "fee_multiplier_override": 0.5,
        "markets": [market_json(), market_json(ticker="BAD", yes_ask_dollars="2")],
    }
    event = parse_event(raw)
    assert event.mutually_exclusive and event.fee_multiplier == Decimal("0.5")
    assert [m.ticker for m in event.markets] == ["KXHEAT-26JUL-T90"]
    assert event.bad_markets == 1 and "BAD" in event.first_error
    page = parse_events_page({"events": [raw, {"event_ticker": 5}], "cursor": "abc"})
    assert (len(page.items), page.errors, page.cursor) == (1, 2, "abc")


def test_an_orderbook_sorts_levels_and_derives_asks() -> None:
    book = parse_orderbook(
        "T",
        {
            "orderbook_fp": {
                "yes_dollars": [["0.30", "5.00"], ["0.41", "12.00"], ["0.35", "0.00"]],
                "no_dollars": [["0.50", "3.00"], ["0.56", "7.50"]],
            }
        },
    )
    assert [lvl.price for lvl in book.yes_bids] == [Decimal("0.41"), Decimal("0.30")]
    best = asks(book, Side.YES)[0]
    assert (best.price, best.size) == (Decimal("0.44"), Decimal("7.5"))
    empty = parse_orderbook("T", {"orderbook_fp": {"yes_dollars": None, "no_dollars": []}})
    assert asks(empty, Side.NO) == () and bids(empty, Side.YES) == ()
    with pytest.raises(KalshiParseError, match="crossed book"):
        parse_orderbook(
            "T", {"orderbook_fp": {"yes_dollars": [["0.60", "1"]], "no_dollars": [["0.45", "1"]]}}
        )


def order_json(**changes: Any) -> dict[str, Any]:
    body = SOrder(
        order_id="ord-1",
        client_order_id="c-1",
        ticker="KXFED-26MAR-HOLD",
        book_side="ask",
        price=Decimal("0.62"),
        initial=Decimal(10),
        filled=Decimal(4),
        remaining=Decimal(6),
        status="resting",
        created=datetime(2026, 3, 1, tzinfo=UTC),
        time_in_force="good_till_canceled",
        self_trade_prevention_type="taker_at_cross",
    ).body()
    body.update(changes)
    return body


def test_an_order_without_a_known_intent_reads_as_a_buy() -> None:
    order = parse_order(order_json())
    assert (order.side, order.action, order.price) == (Side.NO, OrderAction.BUY, Decimal("0.38"))
    assert (order.quantity, order.remaining, order.filled) == (10, 6, 4)
    assert order.reserved == Decimal("2.28")


def test_an_order_placed_as_a_sell_keeps_that_meaning() -> None:
    order = parse_order(order_json(), (Side.YES, OrderAction.SELL))
    assert (order.side, order.action, order.price) == (Side.YES, OrderAction.SELL, Decimal("0.62"))
    assert order.reserved == 0


def test_a_canceled_order_reports_what_filled() -> None:
    order = parse_order(order_json(status="canceled", remaining_count_fp="0.00"))
    assert order.status is OrderStatus.CANCELED
    assert (order.quantity, order.filled) == (10, 4)
    executed = parse_order(
        order_json(status="executed", fill_count_fp="10.00", remaining_count_fp="0.00")
    )
    assert executed.status is OrderStatus.FILLED and executed.remaining == 0


def test_fractional_counts_round_to_the_safe_side() -> None:
    order = parse_order(
        order_json(initial_count_fp="2.50", remaining_count_fp="2.50", fill_count_fp="0.00")
    )
    assert (order.quantity, order.remaining) == (3, 3)  # never under-count what rests
    position = parse_position(
        {"ticker": "T", "position_fp": "-2.50", "market_exposure_dollars": "1.0000"}
    )
    assert (position.side, position.quantity) == (Side.NO, 2)  # never sell more than held


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"status": "pending"}, "unknown value"),
        ({"book_side": "middle"}, "unknown value"),
        ({"remaining_count_fp": "11.00"}, "exceeds"),
        ({"no_price_dollars": None}, "no_price_dollars: missing"),
    ],
)
def test_malformed_orders(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(KalshiParseError, match=problem):
        parse_order(order_json(**changes))


def test_a_fill_and_a_settlement() -> None:
    fill = parse_fill(
        {
            "fill_id": "f-1",
            "order_id": "ord-1",
            "ticker": "T",
            "outcome_side": "yes",
            "book_side": "bid",
            "count_fp": "3.00",
            "yes_price_dollars": "0.4400",
            "no_price_dollars": "0.5600",
            "is_taker": False,
            "fee_cost": "0.0200",
            "ts": 1767225600,
        }
    )
    assert (fill.side, fill.price, fill.quantity, fill.fee) == (
        Side.YES,
        Decimal("0.44"),
        3,
        Decimal("0.02"),
    )
    assert fill.created_at == datetime(2026, 1, 1, tzinfo=UTC) and not fill.is_taker
    settled = parse_settlement(
        {
            "ticker": "T",
            "event_ticker": "E",
            "market_result": "yes",
            "yes_count_fp": "10.00",
            "yes_total_cost_dollars": "4.2000",
            "no_count_fp": "0.00",
            "no_total_cost_dollars": "0.0000",
            "revenue": 1000,
            "settled_time": "2026-01-02T00:00:00Z",
            "fee_cost": "0.1000",
        }
    )
    assert settled.revenue == Decimal(10) and settled.pnl == Decimal("5.70")


def test_balance_and_error_bodies() -> None:
    assert parse_balance({"balance": 123456, "balance_dollars": "1234.5600"}) == Decimal("1234.56")
    with pytest.raises(KalshiParseError, match="balance_dollars: missing"):
        parse_balance({"balance": 123456})  # the integer-cent field is never used
    assert error_info({"code": "order_already_exists", "message": "m"}) == (
        "order_already_exists",
        "m",
    )
    assert error_info({"error": {"code": "x", "message": "y"}}) == ("x", "y")
    assert error_info("nope") == ("", "")


# --- V2 order bodies ----------------------------------------------------------------------


def request(action: OrderAction, side: Side, price: str, qty: int = 3) -> OrderRequest:
    return OrderRequest(
        market="T-1",
        side=side,
        action=action,
        price=Decimal(price),
        quantity=qty,
        client_order_id="omega-abc-1-0",
    )


def test_the_body_has_only_v2_fields() -> None:
    body = order_body(
        request(OrderAction.BUY, Side.NO, "0.3"),
        time_in_force="good_till_canceled",
        self_trade_prevention="taker_at_cross",
    )
    assert body == {
        "ticker": "T-1",
        "client_order_id": "omega-abc-1-0",
        "side": "ask",
        "count": "3",
        "price": "0.70",
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "taker_at_cross",
    }


def test_subpenny_prices_keep_four_places() -> None:
    assert format_price(Decimal("0.425")) == "0.4250"
    assert format_price(Decimal("0.4")) == "0.40"
    with pytest.raises(ExchangeError, match="more than 4 decimal places"):
        order_body(
            request(OrderAction.BUY, Side.YES, "0.12345"),
            time_in_force="good_till_canceled",
            self_trade_prevention="maker",
        )


@given(
    cents=st.integers(min_value=1, max_value=99),
    side=st.sampled_from(Side),
    action=st.sampled_from(OrderAction),
)
def test_book_mapping_is_the_same_economic_trade(
    cents: int, side: Side, action: OrderAction
) -> None:
    """Buying YES at p and selling NO at 1 − p both bid p on the YES book; buying NO at q and
    selling YES at 1 − q both ask 1 − q. Every order lands inside the book's 0..1 range."""
    price = Decimal(cents) / 100
    book, yes_price = book_order(action, side, price)
    mirror_side, mirror_price = book_order(
        OrderAction.SELL if action is OrderAction.BUY else OrderAction.BUY,
        side.other,
        1 - price,
    )
    assert (book, yes_price) == (mirror_side, mirror_price)
    assert 0 < yes_price < 1
    assert book == ("bid" if (side is Side.YES) == (action is OrderAction.BUY) else "ask")
