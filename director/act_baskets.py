"""ACT for place_basket: send the guard's BasketIntent through a venue that trades baskets.

The venue does the work (fresh books, one batched send, the unwinding of an uneven fill); this
turns its BasketResult into the executor's Execution, so a partial fill reaches the record and
the operator's report in words that say what is held and what needs a human.
"""

from __future__ import annotations

import logging

from director.act import Execution, outcome_unknown
from director.baskets import BasketIntent, BasketResult, BasketStatus
from director.describe import describe_error
from director.exchanges.base import BasketVenue, Exchange

log = logging.getLogger(__name__)

_DONE = (BasketStatus.FILLED, BasketStatus.UNWOUND)


async def execute_basket(exchange: Exchange, basket: BasketIntent, coid: str) -> Execution:
    if not isinstance(exchange, BasketVenue):
        return Execution(
            ok=False,
            detail=f"the {exchange.name} exchange cannot trade a basket as one unit: not sent",
        )
    try:
        result = await exchange.place_basket(basket, coid)
    except Exception as exc:  # the venue reports its failures; this is one it could not
        if not outcome_unknown(exc):
            return Execution(ok=False, detail=f"exchange refused the basket: {exc}"[:300])
        log.exception("basket %s failed", coid)
        result = BasketResult(
            BasketStatus.UNKNOWN,
            f"{describe_error(exc)}; check positions in {', '.join(basket.markets)}",
        )
    return as_execution(basket, result)


def as_execution(basket: BasketIntent, result: BasketResult) -> Execution:
    detail = f"{basket.describe()} → {result.status.value}: {result.detail}"
    if result.needs_attention:
        # Naked legs, or nobody knows what is held: this must reach a human, not only the log.
        detail = "ATTENTION — " + detail
        log.error("basket %s needs attention: %s", basket.event, result.detail)
    return Execution(
        ok=result.status in _DONE and result.baskets > 0,
        detail=detail[:1000],
        order_id=next((leg.order_id for leg in result.legs if leg.order_id), None),
        outcome={"event": basket.event, "side": basket.side.value, **result.as_outcome()},
        # Unclear or uneven: reconciled by the legs' ids (markets blocked meanwhile), never resent.
        unknown=result.needs_attention,
    )
