"""ACT: small, dumb executors over the Exchange port.

They send exactly what the guard resolved and nothing else. Every order carries a client order
id derived from (install, cycle, action index), so a retried or re-approved action is the same
order to the exchange and can never be placed twice. An error is classified: refused for sure,
or unknown (the order may exist), which director/reconcile.py settles by that id. The crash-safe
record around a send is director/execution.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from director.describe import describe_error
from director.exchanges.base import Exchange, ExchangeError
from director.guard import Verdict
from director.models import OrderRequest

log = logging.getLogger(__name__)


def client_order_id(install_id: str, cycle_id: int, idx: int) -> str:
    return f"omega-{install_id}-{cycle_id}-{idx}"


@dataclass(frozen=True)
class Execution:
    ok: bool
    detail: str
    order_id: str | None = None
    outcome: dict[str, Any] | None = None
    # Not ok, and the exchange may still have acted on it (a timeout, a 5xx, a dropped
    # connection, an unreadable answer): reconciled by client order id, never retried blind.
    unknown: bool = False


def outcome_unknown(exc: BaseException) -> bool:
    """True when a failed send may still have created the order: a transport failure, or a
    venue error saying so (Kalshi's OrderStateUnknown, or retries whose last attempt was
    unclear, even when wrapped in a plainer error). Such an order is looked up by client order
    id (director/reconcile.py); anything else is a refusal: nothing was placed."""
    if not isinstance(exc, ExchangeError):
        return True
    seen: BaseException | None = exc
    for _ in range(5):  # the error and what it was raised from, however it was re-raised
        if seen is None:
            break
        if getattr(seen, "unclear", False) or any(
            kind.__name__ == "OrderStateUnknown" for kind in type(seen).__mro__
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def execute(exchange: Exchange, verdict: Verdict, coid: str) -> Execution:
    """Carry out an allowed verdict. Exchange errors are results, not exceptions."""
    if verdict.basket is not None:
        # Imported here: act_baskets builds on this module's Execution.
        from director.act_baskets import execute_basket

        return await execute_basket(exchange, verdict.basket, coid)
    try:
        if verdict.cancel_order_id is not None:
            order = await exchange.cancel_order(verdict.cancel_order_id)
            return Execution(
                ok=True,
                detail=f"canceled {order.order_id} ({order.filled}/{order.quantity} had filled)",
                order_id=order.order_id,
                outcome={"canceled": order.order_id, "filled": order.filled},
            )
        if verdict.order is not None:
            intent = verdict.order
            order = await exchange.place_order(
                OrderRequest(
                    market=intent.market,
                    side=intent.side,
                    action=intent.action,
                    price=intent.price,
                    quantity=intent.quantity,
                    client_order_id=coid,
                )
            )
            state = "filled" if order.remaining == 0 else f"resting {order.remaining}"
            if 0 < order.filled < order.quantity:
                state = f"filled {order.filled}, resting {order.remaining}"
            return Execution(
                ok=True,
                detail=f"{intent.describe()} → {order.order_id} {state}",
                order_id=order.order_id,
                outcome={
                    "order_id": order.order_id,
                    "client_order_id": coid,
                    "status": order.status.value,
                    "filled": order.filled,
                    "remaining": order.remaining,
                    "price": str(intent.price),
                    "quantity": intent.quantity,
                    "side": intent.side.value,
                    "action": intent.action.value,
                    "market": intent.market,
                },
            )
    except Exception as exc:  # a transport failure must not take the cycle down
        if not outcome_unknown(exc):
            return Execution(ok=False, detail=f"exchange refused: {exc}"[:300])
        if not isinstance(exc, ExchangeError):
            log.exception("executor failed")
        detail = f"outcome unknown ({describe_error(exc, 280)})"
        return Execution(ok=False, detail=detail, unknown=verdict.order is not None)
    return Execution(ok=True, detail="nothing to send")
