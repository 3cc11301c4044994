"""Reconcile before acting: settle every order whose outcome the record does not know.

An order action left `requested`, `sent` or `unknown` (a kill mid-create, a timeout, an
accepted-then-500 whose lookups failed too) may or may not be on the exchange. Until the
exchange says which — looked up by the action's client order id — its market takes no new
order: the guard reads `SystemState.unresolved_orders`. A create can take the exchange a while
to apply, so "not found" only counts once `settle_seconds` have passed since it was sent;
before that the lookup is repeated.

This runs when the process starts (with the interrupted cycles and the approvals left
`executing`) and before every cycle, and the record then says what really happened.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from director.baskets import leg_client_order_ids
from director.clock import Clock
from director.exchanges.base import Exchange
from director.execution import in_flight
from director.models import Order, PlaceBasket, SystemState
from director.reporting import ApprovalDecision
from director.store import ActionStatus, ApprovalStatus, Store
from director.store.exec_journal import (
    ExecState,
    OpenOrder,
    executing_approvals,
    mark,
    open_orders,
)

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
ApprovalSettled = Callable[[ApprovalDecision], Awaitable[None]]


@dataclass(frozen=True)
class Resolution:
    action_id: int
    market: str
    client_order_id: str
    placed: bool
    detail: str
    approval_id: int | None = None


@dataclass
class ReconcileSummary:
    resolved: list[Resolution] = field(default_factory=list)
    unresolved: dict[str, str] = field(default_factory=dict)  # market → why
    interrupted_cycles: int = 0


class Reconciler:
    def __init__(
        self,
        store: Store,
        exchange: Exchange,
        clock: Clock,
        *,
        settle_seconds: float,
        poll_seconds: float = 0.5,
        sleep: Sleep = asyncio.sleep,
        on_approval: ApprovalSettled | None = None,
    ) -> None:
        self.store = store
        self.exchange = exchange
        self.clock = clock
        self.settle_seconds = settle_seconds
        self.poll_seconds = poll_seconds
        self.sleep = sleep
        self.on_approval = on_approval

    # --- entry points ----------------------------------------------------------------------

    async def settle_at_start(self) -> ReconcileSummary:
        """Nothing stays `running` or `executing` after a restart: interrupted cycles are
        marked, pressed approvals are settled from their action's record, and every order of
        unknown outcome is looked up (waiting out the exchange's latency)."""
        interrupted = await self.store.fail_running_cycles(self.clock())
        if interrupted:
            log.warning("%d cycle(s) were interrupted by the last shutdown", interrupted)
        await self._settle_pressed_approvals()
        summary = await self.reconcile(wait=True)
        summary.interrupted_cycles = interrupted
        return summary

    async def before_cycle(self) -> ReconcileSummary:
        """One lookup round; never raises (a market it could not settle stays blocked)."""
        try:
            return await self.reconcile(wait=False)
        except Exception:
            log.exception("reconciliation failed; unresolved markets stay blocked")
            return ReconcileSummary()

    async def reconcile(self, *, wait: bool) -> ReconcileSummary:
        """Settle what the exchange can tell; with `wait`, keep looking up creates sent less
        than `settle_seconds` ago until they show up or that time has passed."""
        summary = ReconcileSummary()
        rounds = int(self.settle_seconds / self.poll_seconds) + 2 if wait else 1
        for attempt in range(rounds):
            summary.unresolved = {}
            waiting = False
            for order in await open_orders(self.store):
                outcome = await self._resolve(order)
                if isinstance(outcome, Resolution):
                    summary.resolved.append(outcome)
                    await self._settle_approval(outcome)
                else:
                    reason, may_appear = outcome
                    summary.unresolved.setdefault(order.market, reason)
                    waiting = waiting or may_appear
            if not waiting or attempt + 1 == rounds:
                break
            await self.sleep(self.poll_seconds)
        for resolution in summary.resolved:
            log.info(
                "reconciled %s on %s: %s",
                resolution.client_order_id,
                resolution.market,
                resolution.detail,
            )
        return summary

    async def blocked_markets(self) -> dict[str, str]:
        """Market → why it takes no new order: an order there whose outcome is not known."""
        blocked: dict[str, str] = {}
        for order in await open_orders(self.store):
            why = (
                f"order {order.client_order_id} (action #{order.action_id}) is not reconciled "
                "with the exchange yet: no new order on this market until it is"
            )
            for market in [order.market, *(m for m, _ in _basket_legs(order))]:
                blocked.setdefault(market, why)
        return blocked

    async def annotate(self, state: SystemState) -> SystemState:
        """The state with its unresolved markets, for the guard and the brains."""
        blocked = await self.blocked_markets()
        if not blocked:
            return state
        return state.model_copy(update={"unresolved_orders": blocked})

    # --- one order -------------------------------------------------------------------------

    async def _resolve(self, order: OpenOrder) -> Resolution | tuple[str, bool]:
        """A Resolution, or (why it stays open, whether waiting may settle it)."""
        if in_flight(order.action_id):
            return f"{order.client_order_id} is being sent right now", False
        now = self.clock()
        if not order.maybe_sent:
            return await self._never_placed(order, now, "interrupted before it was sent")
        lookup = _lookup_of(self.exchange)
        if lookup is None:
            return f"{self.exchange.name} cannot look orders up by client order id", False
        legs = _basket_legs(order)
        try:
            if legs:
                placed = [o for o in [await lookup(m, c) for m, c in legs] if o is not None]
                if placed:
                    return await self._found_basket(order, placed, now)
            else:
                found: Order | None = await lookup(order.market, order.client_order_id)
                if found is not None:
                    return await self._found(order, found, now)
        except Exception as exc:
            log.warning("lookup of order %s failed: %s", order.client_order_id, exc)
            return f"lookup of {order.client_order_id} failed ({type(exc).__name__})", False
        settle = (
            0.0 if getattr(self.exchange, "creates_apply_at_once", False) else self.settle_seconds
        )
        age = (now - order.sent_at).total_seconds() if order.sent_at else settle
        if age < settle:
            why = f"{order.client_order_id} sent {age:.1f}s ago and not visible yet"
            return why, True
        return await self._never_placed(
            order, now, f"not on the exchange {age:.0f}s after it was sent"
        )

    async def _never_placed(self, order: OpenOrder, now: datetime, why: str) -> Resolution:
        detail = f"{why}: never placed"
        await mark(
            self.store,
            order.action_id,
            ExecState.RECONCILED,
            now,
            status=ActionStatus.FAILED,
            detail=detail,
            outcome={"ok": False, "detail": detail, "reconciled": True},
        )
        return self._resolution(order, False, detail)

    async def _placed(
        self, order: OpenOrder, now: datetime, order_id: str, detail: str, outcome: dict[str, Any]
    ) -> Resolution:
        approved = order.approval_id is not None
        await mark(
            self.store,
            order.action_id,
            ExecState.RECONCILED,
            now,
            status=ActionStatus.APPROVED if approved else ActionStatus.EXECUTED,
            order_id=order_id,
            detail=detail,
            outcome=outcome,
        )
        return self._resolution(order, True, detail)

    async def _found(self, order: OpenOrder, found: Order, now: datetime) -> Resolution:
        detail = (
            f"found on the exchange as {found.order_id} ({found.status.value}, "
            f"{found.filled}/{found.quantity} filled)"
        )
        outcome: dict[str, Any] = {
            "ok": True,
            "detail": detail,
            "reconciled": True,
            "order_id": found.order_id,
            "client_order_id": order.client_order_id,
            "status": found.status.value,
            "filled": found.filled,
            "remaining": found.remaining,
            "price": str(found.price),
            "quantity": found.quantity,
            "side": found.side.value,
            "action": found.action.value,
            "market": found.market,
        }
        return await self._placed(order, now, found.order_id, detail, outcome)

    async def _found_basket(self, order: OpenOrder, legs: list[Order], now: datetime) -> Resolution:
        """A basket that reached the exchange before the record heard back: what it left
        held is in the next SENSE; whether its unwinding finished is for a human to check."""
        found = ", ".join(f"{o.market} {o.side.value} {o.filled}/{o.quantity}" for o in legs)
        detail = (
            f"ATTENTION — basket reached the exchange before a restart: legs found ({found}); "
            "check its positions"
        )
        log.error("basket %s: %s", order.client_order_id, detail)
        outcome = {
            "ok": True,
            "detail": detail,
            "reconciled": True,
            "legs": [o.order_id for o in legs],
        }
        return await self._placed(order, now, legs[0].order_id, detail, outcome)

    @staticmethod
    def _resolution(order: OpenOrder, placed: bool, detail: str) -> Resolution:
        return Resolution(
            action_id=order.action_id,
            market=order.market,
            client_order_id=order.client_order_id,
            placed=placed,
            detail=detail,
            approval_id=order.approval_id,
        )

    # --- approvals -------------------------------------------------------------------------

    async def _settle_pressed_approvals(self) -> None:
        """Approvals a press left `executing` (or `unknown`) when the process died."""
        for approval_id, action_id, state in await executing_approvals(self.store):
            now = self.clock()
            if state is None:
                # Claimed, never recorded as requested: nothing was sent.
                detail = "interrupted before it was sent: not executed"
                await mark(
                    self.store,
                    action_id,
                    ExecState.RECONCILED,
                    now,
                    status=ActionStatus.FAILED,
                    detail=detail,
                )
                await self._decide(approval_id, ApprovalStatus.FAILED, detail)
            elif state == ExecState.ACKNOWLEDGED:
                await self._decide(
                    approval_id, ApprovalStatus.APPROVED, "executed (settled at start)"
                )
            elif state in (ExecState.REJECTED, ExecState.RECONCILED):
                await self._settle_from_action(approval_id, action_id)
            else:
                # Maybe on the exchange: `unknown` until the lookup below settles it, so a
                # press is answered "already decided", never "already executing" forever.
                await self.store.settle_approval(
                    approval_id, ApprovalStatus.UNKNOWN, "interrupted: reconciling"
                )

    async def _settle_from_action(self, approval_id: int, action_id: int) -> None:
        action = await self.store.action(action_id)
        placed = action is not None and action.status is ActionStatus.APPROVED
        detail = (action.outcome or {}).get("detail", "") if action else ""
        status = ApprovalStatus.APPROVED if placed else ApprovalStatus.FAILED
        await self._decide(approval_id, status, str(detail) or status.value)

    async def _settle_approval(self, resolution: Resolution) -> None:
        if resolution.approval_id is None:
            return
        approval = await self.store.approval(resolution.approval_id)
        if approval is None or approval.status not in (
            ApprovalStatus.EXECUTING,
            ApprovalStatus.UNKNOWN,
        ):
            return
        status = ApprovalStatus.APPROVED if resolution.placed else ApprovalStatus.FAILED
        await self._decide(resolution.approval_id, status, f"reconciled: {resolution.detail}")

    async def _decide(self, approval_id: int, status: ApprovalStatus, message: str) -> None:
        await self.store.settle_approval(approval_id, status, message)
        if self.on_approval is None:
            return
        decision = ApprovalDecision(
            approval_id=approval_id,
            ok=status is ApprovalStatus.APPROVED,
            status=status.value,
            message=message,
        )
        try:
            await self.on_approval(decision)
        except Exception:
            log.exception("reporter failed to update approval %s", approval_id)


def _basket_legs(order: OpenOrder) -> list[tuple[str, str]]:
    """(market, client order id) of each leg of a recorded place_basket; [] otherwise."""
    markets = _leg_markets(order)
    ids = leg_client_order_ids(order.client_order_id, len(markets))
    return list(zip(markets, ids, strict=True))


def _leg_markets(order: OpenOrder) -> list[str]:
    if isinstance(order.action, PlaceBasket):
        return [leg.market for leg in order.action.details.legs]
    if order.action is not None:
        return []
    # A stored basket that no longer validates (a damaged or newer record) still names its
    # legs: they stay blocked and are looked up, never assumed unplaced for want of a parse.
    try:
        raw = json.loads(order.action_json)
        if raw.get("action_type") != "place_basket":
            return []
        return [str(leg["market"]) for leg in raw["details"]["legs"]]
    except (ValueError, TypeError, KeyError, AttributeError):
        log.error("action %s: unreadable stored action; reconciled as one order", order.action_id)
        return []


def _lookup_of(exchange: Exchange) -> Callable[[str, str], Awaitable[Order | None]] | None:
    """The venue's order-by-client-id lookup (on the exchange, or on its execution part)."""
    for holder in (exchange, getattr(exchange, "execution", None)):
        lookup = getattr(holder, "order_by_client_id", None)
        if callable(lookup):
            return lookup  # type: ignore[no-any-return]
    return None
