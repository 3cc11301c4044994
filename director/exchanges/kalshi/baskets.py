"""A basket on Kalshi, sent as one unit: fresh books, one batched send, nothing left uneven.

`KalshiBaskets.place_basket` (the `BasketVenue` port):

1. reads every leg's book in one `GET /markets/orderbooks` and re-prices the basket at the
   guard's limits: the size shrinks to what every book still offers within its limit, and if
   that basket, filled at its limits, no longer profits after fees, nothing is sent (ABORTED);
2. opens an order group capped at exactly the basket's contracts (legs × size), so however the
   send is retried no more than one basket's worth can ever match;
3. sends every leg in one `POST /portfolio/events/orders/batched`, each immediate-or-cancel
   (nothing rests) with its own client order id derived from the action's, and counts what
   Kalshi holds under each id (outcomes.py): after an unclear attempt every leg is looked up
   before the batch goes out again, and a leg the answer refuses is looked up once (it may be
   the copy of one that landed: a basket re-sent, a retried batch whose first copy went through);
4. if the legs filled unevenly, sells each leg's excess over the smallest fill back in one
   more batched, immediate-or-cancel, reduce-only send at the bids the fresh books show (outside
   the group, whose limit they would trip), so only whole baskets stay held (UNWOUND; see
   unwind.py). Whatever could not be sold back is UNHEDGED; a send — the buys' or a sell's —
   whose result cannot be read or looked up by its client order id is UNKNOWN. Both are
   reported for a human, never retried blind.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from director.baskets import (
    BasketIntent,
    BasketResult,
    BasketStatus,
    FeeFunction,
    LegOrder,
    LegResult,
    leg_client_order_ids,
    worst_case_net,
)
from director.exchanges.base import ExchangeError
from director.exchanges.kalshi.batch import (
    asks,
    batch_fits,
    create_order_group,
    delete_order_group,
    get_orderbooks,
)
from director.exchanges.kalshi.execution import order_body
from director.exchanges.kalshi.http import KalshiHttp
from director.exchanges.kalshi.models import Orderbook
from director.exchanges.kalshi.outcomes import BatchOutcomes, FindOrder
from director.exchanges.kalshi.unwind import SellBack, Unwinder
from director.fees import taker_fee, trade_fee
from director.models import Market, OrderAction, OrderRequest

log = logging.getLogger(__name__)

# Kalshi meters a batch per item against the write bucket; at the Basic tier's 10 writes a
# second a bigger batch cannot be sent at once. A larger tier may raise it.
DEFAULT_MAX_LEGS = 10
FeeFor = Callable[[str], FeeFunction]
BeforeSend = Callable[[], Awaitable[None]]  # raises (e.g. ExchangeInactive) to stop a send
Quotes = Callable[[Sequence[str]], Awaitable[list[Market]]]  # the port's markets, with fees


def standard_fee(market: str) -> FeeFunction:
    """The project's one fee function, for a market without a schedule of its own."""
    return lambda contracts, price: taker_fee(contracts, price)


@dataclass(frozen=True, slots=True)
class Repriced:
    quantity: int
    worst_case_net: Decimal


def reprice(
    basket: BasketIntent, books: Mapping[str, Orderbook], fee_for: FeeFor
) -> Repriced | str:
    """The basket the fresh books still support at the guard's limits, or why none."""
    depth: list[Decimal] = []
    for leg in basket.legs:
        offered = asks(books[leg.market], leg.side)
        depth.append(sum((a.size for a in offered if a.price <= leg.price), Decimal(0)))
    available = min(depth)
    quantity = min(basket.quantity, int(available.to_integral_value(rounding=ROUND_FLOOR)))
    if quantity < 1:
        short = basket.legs[depth.index(available)].market
        return f"{short} no longer offers a contract at its limit"
    limits = [leg.price for leg in basket.legs]
    fees = [fee_for(leg.market) for leg in basket.legs]
    net = worst_case_net(basket.side, limits, quantity, fees)
    if net <= 0:
        return f"at {quantity} baskets it would net ${net:.2f} after fees"
    return Repriced(quantity, net)


class KalshiBaskets:
    """Baskets over one KalshiHttp (its buckets, retries and signing)."""

    def __init__(
        self,
        http: KalshiHttp,
        *,
        find: FindOrder,
        fee_for: FeeFor = standard_fee,
        max_legs: int = DEFAULT_MAX_LEGS,
        subaccount: int = 0,
        before_send: BeforeSend | None = None,
        markets: Quotes | None = None,
    ) -> None:
        self._http = http
        self.fee_for = fee_for
        self.max_legs = max_legs
        self.subaccount = subaccount
        # The exchange status check every write passes (nothing is sent while trading is
        # paused), and the venue's one lookup of an order by its client order id.
        self._before_send = before_send
        self._markets = markets
        self._batch = BatchOutcomes(http, find)
        self._unwinder = Unwinder(
            http, find, lambda order, sell_id: self._body(order, OrderAction.SELL, sell_id, None)
        )

    def _body(
        self, order: LegOrder, action: OrderAction, coid: str, group: str | None
    ) -> dict[str, Any]:
        request = OrderRequest(
            market=order.market,
            side=order.side,
            action=action,
            price=order.price,
            quantity=order.quantity,
            client_order_id=coid,
        )
        body = order_body(
            request,
            time_in_force="immediate_or_cancel",
            self_trade_prevention=self._http.tuning.self_trade_prevention,
        )
        if group is not None:
            body["order_group_id"] = group
        body["subaccount"] = self.subaccount  # every portfolio call names its subaccount
        return body

    async def place_basket(self, basket: BasketIntent, client_order_id: str) -> BasketResult:
        if len(basket.legs) > self.max_legs or not batch_fits(self._http, len(basket.legs)):
            return BasketResult(
                BasketStatus.ABORTED,
                f"{len(basket.legs)} legs are more than one batch can carry: not sent",
            )
        try:
            books = await get_orderbooks(self._http, basket.markets)
        except ExchangeError as exc:
            return BasketResult(BasketStatus.ABORTED, f"fresh books unreadable ({exc}): not sent")
        fee_for = await self._fees(basket)
        if isinstance(fee_for, str):
            return BasketResult(BasketStatus.ABORTED, f"{fee_for}: not sent")
        priced = reprice(basket, books, fee_for)
        if isinstance(priced, str):
            return BasketResult(
                BasketStatus.ABORTED, f"re-priced from fresh books, {priced}: not sent"
            )
        legs = tuple(
            LegOrder(leg.market, leg.side, leg.price, priced.quantity) for leg in basket.legs
        )
        if self._before_send is not None:
            try:
                await self._before_send()
            except ExchangeError as exc:
                return BasketResult(BasketStatus.ABORTED, f"{exc}: not sent")
        try:
            group = await create_order_group(
                self._http, priced.quantity * len(legs), self.subaccount
            )
        except ExchangeError as exc:
            return BasketResult(BasketStatus.ABORTED, f"order group not created ({exc}): not sent")
        try:
            return await self._send(basket, legs, client_order_id, group)
        finally:
            await self._forget_group(group)

    async def _fees(self, basket: BasketIntent) -> FeeFor | str:
        """Each leg's fee schedule, read now with its market (which must still be open), or
        why the basket cannot be priced: a fee we cannot compute is never guessed."""
        if self._markets is None:
            return self.fee_for
        try:
            quotes = {m.ticker: m for m in await self._markets(basket.markets)}
        except ExchangeError as exc:
            return f"markets unreadable ({exc})"
        for ticker in basket.markets:
            quote = quotes.get(ticker)
            if quote is None or not quote.is_open:
                return f"{ticker} is not open"
            if quote.fees is not None and not quote.fees.modelled:
                return f"{ticker}'s fee schedule is not modelled"
        now = self._http.clock()

        def fee_for(market: str) -> FeeFunction:
            schedule = quotes[market].fees
            return lambda contracts, price: trade_fee(contracts, price, schedule, at=now)

        return fee_for

    async def _send(
        self, basket: BasketIntent, legs: Sequence[LegOrder], coid: str, group: str
    ) -> BasketResult:
        """The buys, and what Kalshi holds under each leg's client order id afterwards (see
        outcomes.py): never re-sent without a look, a refused leg looked up once."""
        ids = leg_client_order_ids(coid, len(legs))
        outcomes = await self._batch.place(
            dict(zip(ids, legs, strict=True)),
            lambda order, leg_id: self._body(order, OrderAction.BUY, leg_id, group),
            f"basket {coid} batch",
        )
        results = [outcomes[leg_id] for leg_id in ids]
        if any(r is None for r in results):
            unfound = [leg.market for leg, r in zip(legs, results, strict=True) if r is None]
            return BasketResult(
                BasketStatus.UNKNOWN,
                "batch sent but its legs could not all be found ("
                + ", ".join(unfound)
                + "); check "
                + ", ".join(basket.markets),
                order_group_id=group,
            )
        held = [r for r in results if r is not None]
        if all(r.error for r in held):
            return BasketResult(
                BasketStatus.NOT_FILLED,
                f"batch refused ({held[0].error})",
                legs=tuple(held),
                order_group_id=group,
            )
        return await self._settle(legs, held, coid, group)

    async def _settle(
        self, legs: Sequence[LegOrder], results: list[LegResult], coid: str, group: str
    ) -> BasketResult:
        held = min(r.filled for r in results)
        excess = [r.filled - held for r in results]
        if not any(excess):
            status = BasketStatus.FILLED if held else BasketStatus.NOT_FILLED
            detail = f"{held} of {legs[0].quantity} baskets filled on every leg"
            return BasketResult(status, detail, held, tuple(results), order_group_id=group)
        back = await self._unwinder.sell_back(legs, excess, coid)
        return _uneven(legs, tuple(results), excess, held, back, group)

    async def _forget_group(self, group: str) -> None:
        # Tidiness only: the group's orders were immediate-or-cancel, so nothing rests in it.
        try:
            await delete_order_group(self._http, group)
        except ExchangeError as exc:
            log.info("order group %s not deleted: %s", group, exc)


def _uneven(
    legs: Sequence[LegOrder],
    results: tuple[LegResult, ...],
    excess: Sequence[int],
    held: int,
    back: SellBack,
    group: str,
) -> BasketResult:
    """An uneven fill after its sell-back: UNWOUND when every excess was sold back, UNHEDGED
    when some could not be (named), UNKNOWN when what a sell did could not be established."""
    left = [e - s.filled for e, s in zip(excess, back.sold, strict=True)]
    uneven = ", ".join(f"{r.market} {r.filled}" for r in results)
    sells = tuple(s for s in back.sold if s.client_order_id)
    naked = ", ".join(
        f"{leg.market} {n}"
        for leg, n in zip(legs, left, strict=True)
        if n and leg.market not in back.unknown
    )
    if not naked and not back.unknown:
        detail = f"legs filled unevenly ({uneven}); the excess was sold back; {held} whole"
        return BasketResult(
            BasketStatus.UNWOUND, f"{detail} baskets held", held, results, sells, group
        )
    detail = f"legs filled unevenly ({uneven}); {held} whole baskets held"
    if naked:
        detail += f"; could not sell back {naked} — naked legs, close them or complete the basket"
    if not back.unknown:
        return BasketResult(BasketStatus.UNHEDGED, detail, held, results, sells, group)
    ids = ", ".join(s.client_order_id for s in sells if s.market in back.unknown)
    detail += (
        f"; the sell-back of {', '.join(back.unknown)} was sent but what it sold could not be "
        f"read or found ({ids}) — nothing more is sent; check those positions"
    )
    return BasketResult(BasketStatus.UNKNOWN, detail, held, results, sells, group)
