"""Carrying out one action's disposition (director/disposition.py): record it, park it for a
human, or send it through the idempotent executors.

Shared by a cycle's brain (director/cycle.py) and by scripts' intents and operator commands
(director/submit.py): both have checked the action with the guard; here only the operator's
safe-mode switch is read again, since it may have been turned on while the action was weighed.
The caller holds the director's ACT lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from director.disposition import ApprovalPolicy, Disposition, DispositionKind, Parked, dispose
from director.execution import send_recorded
from director.guard import Verdict, blocked
from director.models import Action, Priority, SystemState
from director.reporting import ActionOutcome, ApprovalRequest
from director.store import ActionStatus, ActionVerdict

if TYPE_CHECKING:
    from director.director import Director

log = logging.getLogger(__name__)

TURNED_SAFE = "safe mode was turned on during the cycle"


@dataclass(frozen=True)
class Asked:
    """Where an action comes from: its record's (cycle, index), its client order id, the plan's
    priority and escalation (which the approval policy reads), and who asked ("" for the
    cycle's brain, else e.g. "rebalancer" or "operator alice")."""

    cycle_id: int
    idx: int
    client_order_id: str
    priority: Priority
    escalated: bool = False
    origin: str = ""

    def describe(self, action: Action) -> str:
        return f"{action.describe()} by {self.origin}" if self.origin else action.describe()


async def dispatch(
    director: Director,
    asked: Asked,
    action: Action,
    verdict: Verdict,
    state: SystemState,
    parked: Parked,
) -> ActionOutcome:
    """Dispose of one action the guard has checked against `state`, and carry it out."""
    if verdict.allowed and verdict.new_exposure > 0 and await director.store.safe_mode():
        verdict = blocked(TURNED_SAFE)
    policy = ApprovalPolicy(
        priority=asked.priority,
        escalated=asked.escalated,
        cost_threshold=director.settings.approval_cost_threshold,
    )
    disposition = dispose(verdict, state.autonomy, policy, parked.covering(action))
    market = getattr(action.details, "market", None)
    title = state.markets[market].title if market in state.markets else ""
    return await _Step(director, asked, action, verdict, title).apply(disposition)


# What each disposition that sends nothing is recorded as: (verdict, status).
_RECORDED = {
    DispositionKind.BLOCKED: (ActionVerdict.BLOCKED, ActionStatus.BLOCKED),
    DispositionKind.NOOP: (ActionVerdict.NOOP, ActionStatus.SKIPPED),
    DispositionKind.OBSERVED: (ActionVerdict.OBSERVED, ActionStatus.OBSERVED),
    DispositionKind.DUPLICATE: (ActionVerdict.NOOP, ActionStatus.SKIPPED),
}


class _Step:
    """One action's disposition carried out, with what every record of it has in common."""

    def __init__(
        self, director: Director, asked: Asked, action: Action, verdict: Verdict, title: str
    ) -> None:
        self.director = director
        self.asked = asked
        self.action = action
        self.verdict = verdict
        self.title = title
        self.now = director.clock()

    async def apply(self, disposition: Disposition) -> ActionOutcome:
        if disposition.kind is DispositionKind.PARK:
            return await self.park(disposition.reason)
        if disposition.kind is DispositionKind.EXECUTE:
            return await self.send()
        verdict, status = _RECORDED[disposition.kind]
        by = {"by": self.asked.origin} if self.asked.origin else None
        action_id = await self.record(verdict, disposition.reason, status, by)
        # The operator reads that an observed action was not sent; the record keeps the why.
        reason = (
            f"{disposition.reason}: not sent"
            if disposition.kind is DispositionKind.OBSERVED
            else disposition.reason
        )
        return self.outcome(
            status, verdict, reason, action_id=action_id, approval_id=disposition.approval_id
        )

    async def record(
        self,
        verdict: ActionVerdict,
        reason: str,
        status: ActionStatus,
        extra: dict[str, Any] | None,
    ) -> int:
        asked = self.asked
        return await self.director.store.add_action(
            cycle_id=asked.cycle_id,
            idx=asked.idx,
            kind=self.action.action_type,
            market=getattr(self.action.details, "market", None),
            action_json=self.action.model_dump_json(),
            verdict=verdict,
            reason=reason,
            status=status,
            # Every send that could place an order is journaled under its client order id.
            client_order_id=(
                asked.client_order_id if self.verdict.order or self.verdict.basket else None
            ),
            now=self.now,
            outcome=extra,
        )

    def outcome(
        self,
        status: ActionStatus,
        verdict: ActionVerdict,
        reason: str,
        detail: str = "",
        action_id: int | None = None,
        approval_id: int | None = None,
    ) -> ActionOutcome:
        return ActionOutcome(
            idx=self.asked.idx,
            description=self.asked.describe(self.action),
            kind=self.action.action_type,
            verdict=verdict.value,
            status=status.value,
            reason=reason,
            detail=detail,
            action_id=action_id,
            approval_id=approval_id,
            market_title=self.title,
        )

    async def park(self, why: str) -> ActionOutcome:
        director, asked = self.director, self.asked
        extra: dict[str, Any] = {"cost": str(self.verdict.cost), "title": self.title}
        if asked.origin:
            extra["by"] = asked.origin
        action_id = await self.record(
            ActionVerdict.NEEDS_APPROVAL, why, ActionStatus.AWAITING_APPROVAL, extra
        )
        director.approvals.changed()
        approval = await director.store.create_approval(
            action_id=action_id,
            cycle_id=asked.cycle_id,
            now=self.now,
            expires_at=self.now + timedelta(seconds=director.settings.approval_ttl_seconds),
        )
        request = ApprovalRequest(
            approval_id=approval.id,
            action_id=action_id,
            cycle_id=asked.cycle_id,
            description=asked.describe(self.action),
            reason=why,
            cost=self.verdict.cost or None,
            expires_at=approval.expires_at,
            market_title=self.title,
            escalated=asked.escalated,
        )
        try:
            await director.reporter.approval_requested(request)
        except Exception:
            log.exception("reporter failed to deliver approval %s", approval.id)
        return self.outcome(
            ActionStatus.AWAITING_APPROVAL,
            ActionVerdict.NEEDS_APPROVAL,
            why,
            action_id=action_id,
            approval_id=approval.id,
        )

    async def send(self) -> ActionOutcome:
        director, verdict = self.director, self.verdict
        extra = {"by": self.asked.origin} if self.asked.origin else None
        action_id = await self.record(
            ActionVerdict.ALLOWED, verdict.reason, ActionStatus.SENDING, extra
        )
        # Recorded before and after the exchange call, so a crash never loses or doubles an
        # order (director/execution.py; director/reconcile.py settles an unclear one).
        result = await send_recorded(
            director.store,
            director.exchange,
            director.clock,
            action_id,
            verdict,
            self.asked.client_order_id,
        )
        status = ActionStatus.EXECUTED if result.ok else ActionStatus.FAILED
        if result.unknown:
            status = ActionStatus.UNKNOWN
        return self.outcome(
            status, ActionVerdict.ALLOWED, verdict.reason, result.detail, action_id=action_id
        )
