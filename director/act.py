"""ACT: small, dumb executors over the Exchange port.

They send exactly what the guard resolved and nothing else. Every order carries a client order
id derived from (install, cycle, action index), so a retried or re-approved action is the same
order to the exchange and can never be placed twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

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


async def execute(exchange: Exchange, verdict: Verdict, coid: str) -> Execution:
    """Carry out an allowed verdict. Exchange errors are results, not exceptions."""
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
    except ExchangeError as exc:
        return Execution(ok=False, detail=f"exchange refused: {exc}")
    except Exception as exc:  # a transport failure must not take the cycle down
        log.exception("executor failed")
        return Execution(ok=False, detail=f"{type(exc).__name__}: {exc}"[:300])
    return Execution(ok=True, detail="nothing to send")
