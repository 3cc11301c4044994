"""Orders on Kalshi: the V2 create and cancel, and recovering an order whose create was unclear.

Orders go through the V2 endpoints only (`POST /portfolio/events/orders`,
`DELETE /portfolio/events/orders/{id}`), quoted on the YES book:

    buy YES at p  → bid at p          sell YES at p → ask at p
    buy NO at q   → ask at 1 − q      sell NO at q  → bid at 1 − q

Placing is idempotent on `client_order_id`. A create whose fate is unknown (timeout, 5xx, a
dropped connection) is looked up by that id before anything is re-sent. ANY 409 on a create
means "an order with this id may already exist", whatever its code: it is looked up, in the live
and the historical listings, a few times (a listing can lag the book), and answered with the
order found. An order is never reported refused while it may be live: when the lookups find
nothing, or fail, the error is `OrderStateUnknown`, and nothing is re-sent.

Nothing is sent while Kalshi's trading is not active (the status is read before each create);
a cancel is one request (`DELETE`, 2 tokens) for an order this process has seen.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from director.exchanges.base import ExchangeError
from director.exchanges.kalshi.errors import (
    KalshiParseError,
    KalshiRetriesExhausted,
    OrderStateUnknown,
    error_code,
    error_for,
)
from director.exchanges.kalshi.http import KalshiHttp
from director.exchanges.kalshi.intents import IntentBook, KnownOrders
from director.exchanges.kalshi.parsing import check_identifier, whole
from director.exchanges.kalshi.portfolio import Portfolio
from director.exchanges.kalshi.portfolio_models import (
    CreatedOrder,
    Intent,
    parse_canceled,
    parse_created,
)
from director.exchanges.kalshi.recovery import OrderFinder
from director.exchanges.kalshi.status import StatusReader
from director.exchanges.kalshi.tuning import SelfTradePrevention, TimeInForce
from director.models import CENT, ONE, Order, OrderAction, OrderRequest, OrderStatus, Side

log = logging.getLogger(__name__)

CREATE_PATH = "/portfolio/events/orders"
MAX_CLIENT_ORDER_ID = 64
LOOKUP_SLACK = timedelta(minutes=5)
PRICE_PLACES = Decimal("0.0001")  # Kalshi accepts 2-4 decimal places in request prices


def format_price(value: Decimal) -> str:
    """A request price: 2 decimals on the cent grid, else up to 4."""
    if value == value.quantize(CENT):
        return f"{value:.2f}"
    return f"{value.quantize(PRICE_PLACES):.4f}"


def book_order(action: OrderAction, side: Side, price: Decimal) -> tuple[str, Decimal]:
    """(V2 side, price on the YES book) for an order stated as action × outcome side."""
    if side is Side.YES:
        return ("bid" if action is OrderAction.BUY else "ask"), price
    return ("ask" if action is OrderAction.BUY else "bid"), ONE - price


def book_side_of(order: Order) -> str:
    return book_order(order.action, order.side, order.price)[0]


def order_body(
    request: OrderRequest,
    *,
    time_in_force: TimeInForce,
    self_trade_prevention: SelfTradePrevention,
) -> dict[str, Any]:
    """The CreateOrderV2Request for `request`, after checking everything Kalshi would."""
    check_identifier(request.market, "market ticker")
    check_identifier(request.client_order_id, "client_order_id", MAX_CLIENT_ORDER_ID)
    price = request.price
    if not price.is_finite() or not Decimal(0) < price < ONE:
        raise ExchangeError(f"price {price} must be between 0 and 1 dollars")
    if price != price.quantize(PRICE_PLACES):
        raise ExchangeError(f"price {price} has more than 4 decimal places")
    if request.quantity <= 0:
        raise ExchangeError("quantity must be a positive number of contracts")
    side, book_price = book_order(request.action, request.side, price)
    body: dict[str, Any] = {
        "ticker": request.market,
        "client_order_id": request.client_order_id,
        "side": side,
        "count": str(request.quantity),
        "price": format_price(book_price),
        "time_in_force": time_in_force,
        "self_trade_prevention_type": self_trade_prevention,
    }
    # Kalshi accepts reduce_only only with immediate_or_cancel; resting sells are checked
    # against the position client-side instead (see Execution._check_sell_covered).
    if request.action is OrderAction.SELL and time_in_force == "immediate_or_cancel":
        body["reduce_only"] = True
    return body


class Execution:
    def __init__(
        self,
        http: KalshiHttp,
        intents: IntentBook,
        known: KnownOrders,
        portfolio: Portfolio,
        finder: OrderFinder,
        status: StatusReader,
        *,
        subaccount: int = 0,
        cancel_order_on_pause: bool = False,
    ) -> None:
        self._http = http
        self._intents = intents
        self._known = known
        self._portfolio = portfolio
        self._finder = finder
        self._status = status
        self._subaccount = subaccount
        self._cancel_on_pause = cancel_order_on_pause
        self._tuning = http.tuning

    def body_for(self, request: OrderRequest) -> dict[str, Any]:
        body = order_body(
            request,
            time_in_force=self._tuning.time_in_force,
            self_trade_prevention=self._tuning.self_trade_prevention,
        )
        body["subaccount"] = self._subaccount
        if self._cancel_on_pause:
            body["cancel_order_on_pause"] = True
        return body

    async def place_order(self, request: OrderRequest) -> Order:
        body = self.body_for(request)
        if request.action is OrderAction.SELL:
            await self._check_sell_covered(request)
        await self._status.require_trading()
        intent: Intent = (request.side, request.action)
        await self._intents.remember(request.client_order_id, intent)
        since = self._http.clock() - LOOKUP_SLACK
        unclear: list[str] = []

        async def landed() -> Order | None:
            unclear.append("unclear")
            return await self._find(request, since=since)

        try:
            answer = await self._http.request("POST", CREATE_PATH, body=body, recover=landed)
        except KalshiRetriesExhausted as exc:
            if unclear:
                raise OrderStateUnknown(
                    f"order {request.client_order_id} may or may not have been placed: "
                    f"{exc.attempts} attempts ended {exc.detail} and lookups did not find it; "
                    "look at resting orders before placing it again"
                ) from None
            raise ExchangeError(
                f"order {request.client_order_id} not placed after {exc.attempts} attempts: "
                f"{exc.detail}"
            ) from None
        if isinstance(answer, Order):
            return answer
        return await self._answered(request, intent, answer, since, bool(unclear))

    async def _answered(
        self,
        request: OrderRequest,
        intent: Intent,
        response: httpx.Response,
        since: datetime,
        unclear: bool,
    ) -> Order:
        """What an answered create means."""
        what = f"POST {CREATE_PATH}"
        status = response.status_code
        if status in (200, 201):
            try:
                created = parse_created(self._http.decode(response, what))
            except KalshiParseError as exc:
                # Accepted, but we can't read what was created: find it by its id instead.
                return await self._must_find(request, f"accepted, answer unreadable ({exc})")
            await self._intents.remember(created.order_id, intent)
            self._http.stats.orders_placed += 1
            return self._known.note(self._order_from_created(request, created))
        if status == 409:
            return await self._must_find(request, f"409 {error_code(response) or 'conflict'}")
        refusal = error_for(response, what)
        if unclear:
            # An earlier attempt may have landed: this refusal may be about the duplicate.
            return await self._must_find(request, f"an earlier attempt was unclear; {refusal}")
        raise refusal

    async def _must_find(self, request: OrderRequest, why: str) -> Order:
        """The order, looked up live and historical a few times (a listing can lag the book);
        OrderStateUnknown when it stays out of sight."""
        attempts = self._tuning.max_attempts
        for attempt in range(attempts):
            found = await self._find(request)
            if found is not None:
                return found
            if attempt + 1 < attempts:
                await self._http.sleep(self._http.backoff(attempt))
        raise OrderStateUnknown(
            f"order {request.client_order_id} may exist ({why}) but no listing shows it after "
            f"{attempts} lookups; not sent again — look at resting orders before retrying"
        )

    async def _find(self, request: OrderRequest, *, since: datetime | None = None) -> Order | None:
        """The order with request.client_order_id on request.market, if Kalshi lists it."""
        try:
            order = await self._finder.by_client_id(
                request.market,
                request.client_order_id,
                intent=(request.side, request.action),
                since=since,
                historical=since is None,
            )
        except ExchangeError as exc:
            raise OrderStateUnknown(
                f"order {request.client_order_id} may or may not have been placed and the "
                f"check failed ({exc}); look at resting orders before placing it again"
            ) from exc
        if order is not None:
            self._http.stats.orders_recovered += 1
            log.info("kalshi order %s found as %s", request.client_order_id, order.order_id)
        return order

    def _order_from_created(self, request: OrderRequest, created: CreatedOrder) -> Order:
        filled = min(request.quantity, whole(created.fill_count, up=False))
        resting = whole(created.remaining_count, up=True)
        if self._tuning.time_in_force != "good_till_canceled":
            resting = 0  # immediate orders never rest: what did not fill is canceled
        if resting > 0:
            status, remaining = OrderStatus.RESTING, min(resting, request.quantity)
        else:
            status = OrderStatus.FILLED if filled >= request.quantity else OrderStatus.CANCELED
            remaining = request.quantity - filled
        return Order(
            order_id=created.order_id,
            client_order_id=request.client_order_id,
            market=request.market,
            side=request.side,
            action=request.action,
            price=request.price,
            quantity=request.quantity,
            remaining=remaining,
            status=status,
            created_at=created.processed_at or self._http.clock(),
        )

    async def _check_sell_covered(self, request: OrderRequest) -> None:
        """A resting sell that outgrows the position would open the opposite side, so a sell
        must fit in what is held minus what already rests on the same side of the book."""
        positions = await self._portfolio.get_kalshi_positions(request.market)
        held = next((p for p in positions if p.ticker == request.market), None)
        held_qty = held.quantity if held is not None and held.side is request.side else 0
        book_side = book_order(request.action, request.side, request.price)[0]
        resting = sum(
            o.remaining
            for o in await self._portfolio.get_resting_orders(request.market)
            if o.market == request.market and book_side_of(o) == book_side
        )
        if request.quantity > held_qty - resting:
            raise ExchangeError(
                f"sell of {request.quantity} {request.side.value.upper()} on {request.market} "
                f"exceeds the {held_qty} held ({resting} already resting on that side)"
            )

    async def cancel_order(self, order_id: str) -> Order:
        """Cancel a resting order: one DELETE for an order this process has seen (placed or
        listed). Canceling a canceled order returns it; a filled one is an ExchangeError; an
        unknown id is OrderNotFound (the paper exchange's contract)."""
        check_identifier(order_id, "order id")
        order = self._known.get(order_id) or await self._portfolio.get_order(order_id)
        if order.status is OrderStatus.CANCELED:
            return order
        if order.status is OrderStatus.FILLED:
            raise ExchangeError(f"order {order_id} is filled: nothing to cancel")
        path = f"/portfolio/events/orders/{quote(order_id, safe='')}"
        params: dict[str, str | int] = {"subaccount": self._subaccount}
        params["market_ticker"] = order.market
        what = f"DELETE {path}"
        try:
            response = await self._http.request("DELETE", path, params=params)
        except KalshiRetriesExhausted as exc:
            raise ExchangeError(
                f"cancel of {order_id} failed after {exc.attempts} attempts: {exc.detail}"
            ) from None
        if response.status_code == 200:
            canceled = parse_canceled(self._http.decode(response, what))
            reduced = whole(canceled.reduced_by, up=True)
            if 0 < reduced <= order.quantity:
                done = order.model_copy(
                    update={"status": OrderStatus.CANCELED, "remaining": reduced}
                )
                return self._known.note(done)
            return await self._after_cancel(order_id, "nothing was left to cancel")
        if response.status_code in (400, 404, 409):
            # Already gone (filled or canceled by an earlier attempt): the order's own record
            # says which.
            refused = str(error_for(response, what))
            log.info("kalshi cancel %s: %s", order_id, refused)
            return await self._after_cancel(order_id, refused)
        raise error_for(response, what)

    async def _after_cancel(self, order_id: str, refused: str) -> Order:
        after = self._known.note(await self._portfolio.get_order(order_id))
        if after.status is OrderStatus.FILLED:
            raise ExchangeError(f"order {order_id} filled before the cancel reached it")
        if after.status is OrderStatus.RESTING:
            raise ExchangeError(f"order {order_id} is still resting after the cancel: {refused}")
        return after

    async def order_by_client_id(self, market: str, client_order_id: str) -> Order | None:
        """Issue 12's reconciler: the order this id created, in any status, live or
        historical; None when Kalshi has none; raises ExchangeError when it can't tell."""
        return await self._finder.by_client_id(market, client_order_id)
