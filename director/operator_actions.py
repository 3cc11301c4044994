"""The actions an operator asks for from the chat, built as plan actions (pure, no I/O).

`/close <market> [qty]` is a position-reducing rebalance and `/cancel <order>` a cancel_order:
the same Action types a brain returns, so they pass the same guard, approval policy and
executors. Approve ½ resizes a parked order to half its quantity before the guard's re-check.
"""

from __future__ import annotations

from collections.abc import Iterable

from director.exchanges.base import Exchange
from director.models import (
    Action,
    CancelOrder,
    CancelOrderDetails,
    PlaceOrder,
    Rebalance,
    RebalanceDetails,
    SystemState,
)
from director.reporting import ApprovalDecision
from director.store import ApprovalRecord, ApprovalStatus


async def with_quotes(
    exchange: Exchange, state: SystemState, markets: Iterable[str]
) -> SystemState:
    """The state with the quotes of `markets` it lacks: SENSE fetches quotes for opportunities
    and positions only, and a parked market may no longer be an opportunity."""
    missing = sorted(set(markets) - set(state.markets))
    if not missing:
        return state
    quotes = {m.ticker: m for m in await exchange.get_markets(missing)}
    return state.model_copy(update={"markets": {**state.markets, **quotes}})


class OperatorActionError(ValueError):
    """What the operator asked for can't be an action (no such position, bad quantity)."""


def close_action(state: SystemState, market: str, quantity: int | None = None) -> Rebalance:
    """Reduce the held position in `market` by `quantity` contracts (all of it by default)."""
    position = state.position(market)
    if position is None:
        raise OperatorActionError(f"no position in {market}")
    if quantity is None:
        quantity = position.quantity
    if quantity <= 0:
        raise OperatorActionError(f"quantity {quantity} is not a positive number of contracts")
    if quantity > position.quantity:
        raise OperatorActionError(
            f"quantity {quantity} is more than the {position.quantity} held in {market}"
        )
    target = position.quantity - quantity
    return Rebalance(details=RebalanceDetails(market=market, target_quantity=target))


def cancel_action(order_id: str) -> CancelOrder:
    return CancelOrder(details=CancelOrderDetails(order_id=order_id))


def halved(action: Action) -> Action | None:
    """The same order at half its quantity (rounded down); None when it can't be halved
    (not a priced order, or a single contract)."""
    if not isinstance(action, PlaceOrder):
        return None
    quantity = action.details.quantity
    if quantity is None or quantity < 2:
        return None
    return action.model_copy(
        update={"details": action.details.model_copy(update={"quantity": quantity // 2})}
    )


def recorded_decision(approval: ApprovalRecord, description: str) -> ApprovalDecision:
    """What an already-decided approval says to a later press: its one recorded outcome and
    who decided it (never the later presser, who decided nothing)."""
    by = approval.decided_by
    status = approval.status.value
    if approval.status is ApprovalStatus.EXPIRED:
        message = f"Already expired at {approval.expires_at:%Y-%m-%d %H:%M} UTC: not executed."
    elif status == "unknown":
        # Sent, the exchange's answer unclear: reconciliation settles it (issue 12).
        message = (
            f"Already approved by {by} and sent; the exchange's answer is being checked."
            " Its outcome will show here."
        )
    else:
        detail = approval.result if approval.result and approval.result != status else ""
        message = f"Already {status}" + (f" by {by}" if by else "") + "."
        if detail:
            message += f" {detail}"
    return ApprovalDecision(
        approval_id=approval.id,
        ok=False,
        status=status,
        message=message,
        decided_by=by,
        description=description,
    )
