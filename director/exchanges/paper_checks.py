"""What the paper venue refuses before it touches the book: bad account arguments, malformed or
unvalidated order requests, a reused client order id for a different order, naive times."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from director.exchanges.base import ExchangeError
from director.exchanges.paper_book import price_cents
from director.models import CENT, Order, OrderAction, OrderRequest, Side

MAX_ORDER_CONTRACTS = 1_000_000
MAX_CLIENT_ORDER_ID = 200
MAX_MARKETS = 20_000
MAX_STARTING_CASH = Decimal(10) ** 12


def check_account(seed: object, n_markets: object, starting_cash: object) -> None:
    """ValueError unless these can create a paper account."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if (
        not isinstance(n_markets, int)
        or isinstance(n_markets, bool)
        or not 1 <= n_markets <= MAX_MARKETS
    ):
        raise ValueError(f"n_markets must be an integer in 1..{MAX_MARKETS}, got {n_markets!r}")
    if (
        not isinstance(starting_cash, Decimal)
        or not starting_cash.is_finite()
        or not 0 < starting_cash <= MAX_STARTING_CASH
        or starting_cash != starting_cash.quantize(CENT)
    ):
        raise ValueError(
            f"starting_cash must be a whole-cent Decimal in (0, {MAX_STARTING_CASH}]: "
            f"{starting_cash!r}"
        )


def aware(ts: object) -> datetime:
    if not isinstance(ts, datetime) or ts.tzinfo is None:
        raise ValueError(f"expected an aware datetime, got {ts!r}")
    return ts.astimezone(UTC)


def checked(request: OrderRequest) -> OrderRequest:
    """Re-validate a request (it may have been built without validation) and normalize it."""
    if not isinstance(request, OrderRequest):
        raise ExchangeError(f"expected an OrderRequest, got {type(request).__name__}")
    qty = request.quantity
    if not isinstance(qty, int) or isinstance(qty, bool) or not 1 <= qty <= MAX_ORDER_CONTRACTS:
        raise ExchangeError(
            f"quantity must be a whole number of contracts in 1..{MAX_ORDER_CONTRACTS}"
        )
    cid = request.client_order_id
    if not isinstance(cid, str) or not cid.strip() or len(cid) > MAX_CLIENT_ORDER_ID:
        raise ExchangeError(f"client_order_id must be 1..{MAX_CLIENT_ORDER_ID} characters")
    if not isinstance(request.market, str) or not request.market:
        raise ExchangeError("market ticker is missing")
    try:
        side, action = Side(request.side), OrderAction(request.action)
    except ValueError as exc:
        raise ExchangeError(str(exc)) from None
    price_cents(request.price)
    return request.model_copy(update={"side": side, "action": action})


def same_request(order: Order, request: OrderRequest) -> None:
    """A reused client_order_id must mean the same order: a different one is a caller bug
    that must not pass silently as 'already placed'."""
    same = (
        order.market == request.market
        and order.side is request.side
        and order.action is request.action
        and order.price == request.price
        and order.quantity == request.quantity
    )
    if not same:
        raise ExchangeError(
            f"client_order_id {request.client_order_id} was already used for a different order "
            f"({order.order_id})"
        )
