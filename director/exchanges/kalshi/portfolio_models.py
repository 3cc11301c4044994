"""Kalshi's portfolio and order records as typed values: balance, positions, orders, fills,
settlements, and the V2 create / cancel answers.

Counts are rounded toward the safe side (`parsing.whole`): holdings down (never sell what is
not held), order sizes up (never under-count cash held back by a resting order).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from director.exchanges.kalshi.errors import KalshiParseError
from director.exchanges.kalshi.parsing import (
    HUNDRED,
    MAX_TICKER,
    ZERO,
    count,
    dollars,
    epoch_ms,
    flag,
    identifier,
    mapping,
    optional_dollars,
    optional_price,
    optional_timestamp,
    price,
    text,
    timestamp,
    whole,
)
from director.models import Fill, Order, OrderAction, OrderStatus, Side

ORDER_STATUS = {
    "resting": OrderStatus.RESTING,
    "canceled": OrderStatus.CANCELED,
    "executed": OrderStatus.FILLED,
}

Intent = tuple[Side, OrderAction]


# --- portfolio ----------------------------------------------------------------------------


def parse_balance(raw: Any) -> Decimal:
    body = mapping(raw, "balance response")
    value = dollars(body, "balance_dollars")
    if value < 0:
        raise KalshiParseError(f"balance_dollars: negative balance {value}")
    return value


@dataclass(frozen=True, slots=True)
class KalshiPosition:
    """Net holding in one market: positive is YES contracts, negative NO."""

    ticker: str
    position: Decimal
    exposure: Decimal
    realized_pnl: Decimal
    fees_paid: Decimal

    @property
    def side(self) -> Side:
        return Side.YES if self.position > 0 else Side.NO

    @property
    def quantity(self) -> int:
        return whole(abs(self.position), up=False)


def parse_position(raw: Any) -> KalshiPosition:
    obj = mapping(raw, "market position")
    ticker = identifier(obj, "ticker")
    try:
        exposure = dollars(obj, "market_exposure_dollars")
        if exposure < 0:
            raise KalshiParseError(f"market_exposure_dollars: negative {exposure}")
        return KalshiPosition(
            ticker=ticker,
            position=count(obj, "position_fp", signed=True),
            exposure=exposure,
            realized_pnl=optional_dollars(obj, "realized_pnl_dollars") or ZERO,
            fees_paid=optional_dollars(obj, "fees_paid_dollars") or ZERO,
        )
    except KalshiParseError as exc:
        raise KalshiParseError(f"position {ticker}: {exc}") from None


def default_intent(obj: Mapping[str, Any]) -> Intent:
    """What an order or fill means when we did not place it in this process: a bid on the
    YES book buys YES, an ask buys NO (selling YES is the same trade on Kalshi)."""
    book = obj.get("book_side")
    if book is None:
        outcome = obj.get("outcome_side")
        if outcome not in ("yes", "no"):
            raise KalshiParseError("book_side: missing")
        book = "bid" if outcome == "yes" else "ask"
    if book == "bid":
        return Side.YES, OrderAction.BUY
    if book == "ask":
        return Side.NO, OrderAction.BUY
    raise KalshiParseError(f"book_side: unknown value {str(book)[:20]!r}")


def side_price(obj: Mapping[str, Any], side: Side) -> Decimal:
    return price(obj, "yes_price_dollars" if side is Side.YES else "no_price_dollars")


def parse_order(raw: Any, intent: Intent | None = None) -> Order:
    obj = mapping(raw, "order")
    order_id = identifier(obj, "order_id")
    try:
        side, action = intent or default_intent(obj)
        status_text = text(obj, "status", limit=32)
        status = ORDER_STATUS.get(status_text)
        if status is None:
            raise KalshiParseError(f"status: unknown value {status_text[:20]!r}")
        initial = count(obj, "initial_count_fp")
        remaining = count(obj, "remaining_count_fp")
        filled = count(obj, "fill_count_fp") if obj.get("fill_count_fp") is not None else None
        if remaining > initial:
            raise KalshiParseError("remaining_count_fp exceeds initial_count_fp")
        quantity = whole(initial, up=True)
        if status is OrderStatus.RESTING:
            left = whole(remaining, up=True)
        else:
            # Nothing rests once an order is done; keep `quantity − remaining` equal to what
            # filled so a canceled, partly filled order reports its fills correctly.
            done = filled if filled is not None else initial - remaining
            left = max(0, quantity - whole(done, up=False))
        created = optional_timestamp(obj, "created_time")
        client_id = obj.get("client_order_id")
        return Order(
            order_id=order_id,
            client_order_id=client_id if isinstance(client_id, str) and client_id else None,
            market=identifier(obj, "ticker"),
            side=side,
            action=action,
            price=side_price(obj, side),
            quantity=quantity,
            remaining=left,
            status=status,
            created_at=created or datetime.fromtimestamp(0, UTC),
        )
    except KalshiParseError as exc:
        raise KalshiParseError(f"order {order_id}: {exc}") from None


def parse_fill(raw: Any, intent: Intent | None = None) -> Fill:
    obj = mapping(raw, "fill")
    fill_id = identifier(obj, "fill_id")
    try:
        side, action = intent or default_intent(obj)
        created = optional_timestamp(obj, "created_time")
        if created is None and isinstance(obj.get("ts"), int):
            created = datetime.fromtimestamp(obj["ts"], UTC)
        if created is None:
            raise KalshiParseError("created_time: missing")
        fee = optional_dollars(obj, "fee_cost") or ZERO
        return Fill(
            fill_id=fill_id,
            order_id=identifier(obj, "order_id"),
            market=identifier(obj, "ticker"),
            side=side,
            action=action,
            price=side_price(obj, side),
            quantity=whole(count(obj, "count_fp"), up=False),
            fee=fee,
            is_taker=flag(obj, "is_taker", default=True),
            created_at=created,
        )
    except KalshiParseError as exc:
        raise KalshiParseError(f"fill {fill_id}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Settlement:
    ticker: str
    event_ticker: str
    result: str  # "yes", "no" or "scalar"
    yes_count: Decimal
    no_count: Decimal
    yes_total_cost: Decimal
    no_total_cost: Decimal
    revenue: Decimal  # dollars paid out
    fee_cost: Decimal
    settled_at: datetime

    @property
    def pnl(self) -> Decimal:
        return self.revenue - self.yes_total_cost - self.no_total_cost - self.fee_cost


def parse_settlement(raw: Any) -> Settlement:
    obj = mapping(raw, "settlement")
    ticker = identifier(obj, "ticker")
    try:
        result = text(obj, "market_result", limit=16)
        if result not in ("yes", "no", "scalar"):
            raise KalshiParseError(f"market_result: unknown value {result!r}")
        revenue = obj.get("revenue")
        # The only integer-cent field read anywhere: Settlement has no dollar twin for it.
        if isinstance(revenue, bool) or not isinstance(revenue, int) or revenue < 0:
            raise KalshiParseError("revenue: expected non-negative integer cents")
        settled = timestamp(obj, "settled_time")
        return Settlement(
            ticker=ticker,
            event_ticker=text(obj, "event_ticker", required=False, limit=MAX_TICKER),
            result=result,
            yes_count=count(obj, "yes_count_fp"),
            no_count=count(obj, "no_count_fp"),
            yes_total_cost=dollars(obj, "yes_total_cost_dollars"),
            no_total_cost=dollars(obj, "no_total_cost_dollars"),
            revenue=Decimal(revenue) / HUNDRED,
            fee_cost=optional_dollars(obj, "fee_cost") or ZERO,
            settled_at=settled,
        )
    except KalshiParseError as exc:
        raise KalshiParseError(f"settlement {ticker}: {exc}") from None


# --- order endpoints (V2) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreatedOrder:
    order_id: str
    client_order_id: str
    fill_count: Decimal
    remaining_count: Decimal
    average_fill_price: Decimal | None
    processed_at: datetime | None


def parse_created(raw: Any) -> CreatedOrder:
    body = mapping(raw, "create order response")
    client_id = body.get("client_order_id")
    return CreatedOrder(
        order_id=identifier(body, "order_id"),
        client_order_id=client_id if isinstance(client_id, str) else "",
        fill_count=count(body, "fill_count"),
        remaining_count=count(body, "remaining_count"),
        average_fill_price=optional_price(body, "average_fill_price"),
        processed_at=epoch_ms(body, "ts_ms"),
    )


@dataclass(frozen=True, slots=True)
class CanceledOrder:
    order_id: str
    reduced_by: Decimal


def parse_canceled(raw: Any) -> CanceledOrder:
    body = mapping(raw, "cancel order response")
    return CanceledOrder(
        order_id=identifier(body, "order_id"), reduced_by=count(body, "reduced_by")
    )
