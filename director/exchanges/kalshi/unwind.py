"""Selling an uneven basket's excess back, and what each sell did even when its answer is lost.

`Unwinder.sell_back` sells each leg's excess over the smallest fill in one batched,
immediate-or-cancel, reduce-only send at the bids the fresh books show, each sell with its own
client order id (`<action id>-u<leg>`), outside the basket's order group (whose limit the sells'
fills would trip, rejecting the very orders taking the excess back).

What each sell did is established by outcomes.py (`BatchOutcomes`), the same rules as the
buys': looked up by its client order id after an unclear attempt before anything is sent
again, a refused sell looked up once (it may be the copy of one that landed), and a sell that
stays out of sight is UNKNOWN for a human, reported with its id, never sent again. A sell never
counts for more than the excess it was sent for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from director.baskets import Ask, LegOrder, LegResult, leg_client_order_ids
from director.exchanges.base import ExchangeError
from director.exchanges.kalshi.batch import bids, get_orderbooks
from director.exchanges.kalshi.http import KalshiHttp
from director.exchanges.kalshi.outcomes import BatchOutcomes, FindOrder

log = logging.getLogger(__name__)

UNKNOWN_SELL = "outcome unknown: sent, and no lookup found it"
SellBody = Callable[[LegOrder, str], dict[str, Any]]  # (the sell, its client order id)


@dataclass(frozen=True, slots=True)
class SellBack:
    """What the sell-back did, per leg (filled 0 where nothing sold or nothing was needed),
    and the markets whose sell may or may not have happened."""

    sold: tuple[LegResult, ...]
    unknown: tuple[str, ...] = ()


class Unwinder:
    def __init__(self, http: KalshiHttp, find: FindOrder, body: SellBody) -> None:
        self._http = http
        self._body = body
        self._batch = BatchOutcomes(http, find)

    async def sell_back(
        self, legs: Sequence[LegOrder], excess: Sequence[int], coid: str
    ) -> SellBack:
        ids = leg_client_order_ids(coid, len(legs), kind="u")
        sold = [LegResult(leg.market, "") for leg in legs]
        sells = await self._priced(legs, excess, coid)
        if not sells:
            return SellBack(tuple(sold))
        outcomes = await self._batch.place(
            {ids[i]: order for i, order in sells.items()}, self._body, f"basket {coid} sell-back"
        )
        unknown: list[str] = []
        for i, order in sells.items():
            result = outcomes[ids[i]]
            if result is None:
                unknown.append(order.market)
                result = LegResult(order.market, ids[i], error=UNKNOWN_SELL)
            # A sell never counts for more than the excess it was sent to take back.
            sold[i] = replace(result, filled=min(order.quantity, result.filled))
        return SellBack(tuple(sold), tuple(unknown))

    async def _priced(
        self, legs: Sequence[LegOrder], excess: Sequence[int], coid: str
    ) -> dict[int, LegOrder]:
        """The sells, by leg: each excess at the bids now shown (none where no bid is)."""
        wanted = [i for i, e in enumerate(excess) if e > 0]
        try:
            books = await get_orderbooks(self._http, [legs[i].market for i in wanted])
        except ExchangeError as exc:
            log.error("basket %s: no books to unwind with: %s", coid, exc)
            return {}
        sells: dict[int, LegOrder] = {}
        for i in wanted:
            price = sell_limit(bids(books[legs[i].market], legs[i].side), excess[i])
            if price is not None:
                sells[i] = LegOrder(legs[i].market, legs[i].side, price, excess[i])
        return sells


def sell_limit(levels: Sequence[Ask], contracts: int) -> Decimal | None:
    """The lowest bid needed to sell `contracts` through the book, best first; None if no bid."""
    if not levels:
        return None
    left = Decimal(contracts)
    for level in levels:
        left -= level.size
        if left <= 0:
            return level.price
    return levels[-1].price  # sell what the whole book takes; the rest is reported
