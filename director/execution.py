"""The one crash-safe way an action reaches the exchange, for a cycle and for an approval.

For an order, the record goes first: `requested` when it is about to be sent, `sent` right
before the exchange call, the answer (acknowledged / rejected / unknown) right after. So
whatever kills the process, a restart knows whether the create may have reached the exchange
and looks it up by client order id (director/reconcile.py) instead of guessing or re-sending.

A cancellation (SIGTERM during `omega-director cycle`) does not abandon a create in flight: the
send finishes (bounded by the exchange client's own timeouts) and its answer is recorded,
then the cancellation goes on.
"""

from __future__ import annotations

import asyncio
import logging

from director.act import Execution, execute
from director.clock import Clock
from director.crashpoints import crash_point
from director.exchanges.base import Exchange
from director.guard import Verdict
from director.store import ActionStatus, Store
from director.store.exec_journal import ExecState, mark

log = logging.getLogger(__name__)

# The longest a stop request waits for a create in flight to be answered and recorded.
IN_FLIGHT_GRACE_S = 60.0

# Actions this process is sending right now: the reconciler leaves them alone (an approval
# pressed while a cycle reconciles is not "unknown", it is on its way).
_in_flight: set[int] = set()


def in_flight(action_id: int) -> bool:
    return action_id in _in_flight


async def send_recorded(
    store: Store,
    exchange: Exchange,
    clock: Clock,
    action_id: int,
    verdict: Verdict,
    coid: str,
    *,
    approved: bool = False,
) -> Execution:
    """Send an allowed verdict for the recorded action `action_id` and record what happened.
    Never raises for an exchange failure (it is the result); re-raises a cancellation after
    the send in flight is recorded."""
    path = "approval" if approved else "cycle"
    if verdict.order is None and verdict.basket is None:
        # A cancel can't duplicate anything: send, then record.
        result = await execute(exchange, verdict, coid)
        done = ActionStatus.APPROVED if approved else ActionStatus.EXECUTED
        await store.update_action(
            action_id,
            status=done if result.ok else ActionStatus.FAILED,
            now=clock(),
            order_id=result.order_id,
            outcome=_outcome(result),
        )
        return result
    _in_flight.add(action_id)
    try:
        await mark(store, action_id, ExecState.REQUESTED, clock(), status=ActionStatus.SENDING)
        crash_point(f"{path}:requested")
        await mark(store, action_id, ExecState.SENT, clock())
        crash_point(f"{path}:sent")
        work = asyncio.ensure_future(
            _send_and_record(store, exchange, clock, action_id, verdict, coid, approved, path)
        )
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            log.warning("stop requested while order %s was in flight: recording its answer", coid)
            await asyncio.wait({work}, timeout=IN_FLIGHT_GRACE_S)
            raise
    finally:
        _in_flight.discard(action_id)


async def _send_and_record(
    store: Store,
    exchange: Exchange,
    clock: Clock,
    action_id: int,
    verdict: Verdict,
    coid: str,
    approved: bool,
    path: str,
) -> Execution:
    result = await execute(exchange, verdict, coid)
    crash_point(f"{path}:answered")
    now = clock()
    if result.ok:
        done = ActionStatus.APPROVED if approved else ActionStatus.EXECUTED
        await mark(
            store,
            action_id,
            ExecState.ACKNOWLEDGED,
            now,
            status=done,
            order_id=result.order_id,
            detail=result.detail,
            outcome=_outcome(result),
        )
    elif result.unknown:
        log.warning("order %s: %s; reconciling it by client order id", coid, result.detail)
        await mark(
            store,
            action_id,
            ExecState.UNKNOWN,
            now,
            status=ActionStatus.UNKNOWN,
            detail=result.detail,
            outcome=_outcome(result),
        )
    else:
        await mark(
            store,
            action_id,
            ExecState.REJECTED,
            now,
            status=ActionStatus.FAILED,
            detail=result.detail,
            outcome=_outcome(result),
        )
    crash_point(f"{path}:recorded")
    return result


def _outcome(result: Execution) -> dict[str, object]:
    return {"ok": result.ok, "detail": result.detail, **(result.outcome or {})}
