"""What becomes of one checked action: blocked, observed, parked for a human, or executed.

The one path every action takes after the guard, whoever asked: a cycle's brain
(Director._act), a script's intent or an operator's command (director/submit.py). Both record
the action, apply the autonomy and approval policy, and send through the same idempotent
executors with the client order id the caller derived.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from director.execution import send_recorded
from director.guard import Verdict, approval_reason
from director.models import Action, Autonomy, CancelOrder, Priority, SystemState
from director.reporting import ActionOutcome, ApprovalRequest
from director.store import ActionStatus

if TYPE_CHECKING:
    from director.director import Director

log = logging.getLogger(__name__)


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


def action_key(action: Action) -> str:
    """Actions with the same key do the same thing: one approval request is enough."""
    if isinstance(action, CancelOrder):
        return f"cancel:{action.details.order_id}"
    market = getattr(action.details, "market", "")
    return f"{action.action_type}:{market}"


class _Disposal:
    """One action's way through the policy, with what every step records in common."""

    def __init__(
        self, director: Director, asked: Asked, action: Action, verdict: Verdict, title: str
    ) -> None:
        self.director = director
        self.asked = asked
        self.action = action
        self.verdict = verdict
        self.title = title
        self.now = director.clock()

    async def record(
        self, verdict_name: str, reason: str, status: ActionStatus, extra: dict[str, Any] | None
    ) -> int:
        asked = self.asked
        return await self.director.store.add_action(
            cycle_id=asked.cycle_id,
            idx=asked.idx,
            kind=self.action.action_type,
            market=getattr(self.action.details, "market", None),
            action_json=self.action.model_dump_json(),
            verdict=verdict_name,
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
        verdict_name: str,
        reason: str,
        detail: str = "",
        action_id: int | None = None,
        approval_id: int | None = None,
    ) -> ActionOutcome:
        return ActionOutcome(
            idx=self.asked.idx,
            description=self.asked.describe(self.action),
            kind=self.action.action_type,
            verdict=verdict_name,
            status=status.value,
            reason=reason,
            detail=detail,
            action_id=action_id,
            approval_id=approval_id,
            market_title=self.title,
        )

    async def settle(
        self, status: ActionStatus, verdict_name: str, reason: str, extra: dict[str, Any] | None
    ) -> ActionOutcome:
        """Record an action that is not sent, and say so."""
        action_id = await self.record(verdict_name, reason, status, extra)
        return self.outcome(status, verdict_name, reason, action_id=action_id)

    async def park(self, why: str) -> ActionOutcome:
        director, asked = self.director, self.asked
        extra: dict[str, Any] = {"cost": str(self.verdict.cost), "title": self.title}
        if asked.origin:
            extra["by"] = asked.origin
        action_id = await self.record("needs_approval", why, ActionStatus.AWAITING_APPROVAL, extra)
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
            "needs_approval",
            why,
            action_id=action_id,
            approval_id=approval.id,
        )

    async def send(self) -> ActionOutcome:
        director, verdict = self.director, self.verdict
        extra = {"by": self.asked.origin} if self.asked.origin else None
        action_id = await self.record("allowed", verdict.reason, ActionStatus.SENDING, extra)
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
        return self.outcome(status, "allowed", verdict.reason, result.detail, action_id=action_id)


async def dispose(
    director: Director,
    asked: Asked,
    action: Action,
    verdict: Verdict,
    state: SystemState,
    parked: dict[str, int],
) -> ActionOutcome:
    """Record, then block, observe, park or execute one action the guard has checked against
    `state`. `parked` maps action keys to the pending approval that already covers them.
    The caller holds the director's ACT lock."""
    market = getattr(action.details, "market", None)
    title = state.markets[market].title if market in state.markets else ""
    step = _Disposal(director, asked, action, verdict, title)
    if verdict.allowed and verdict.new_exposure > 0 and await director.store.safe_mode():
        verdict = Verdict(allowed=False, reason="safe mode was turned on during the cycle")
        step.verdict = verdict
    by = {"by": asked.origin} if asked.origin else None
    if not verdict.allowed:
        return await step.settle(ActionStatus.BLOCKED, "blocked", verdict.reason, by)
    if verdict.noop:
        return await step.settle(ActionStatus.SKIPPED, "noop", verdict.reason, by)
    if state.autonomy is Autonomy.OBSERVE:
        action_id = await step.record("observed", "autonomy is observe", ActionStatus.OBSERVED, by)
        reason = "autonomy is observe: not sent"
        return step.outcome(ActionStatus.OBSERVED, "observed", reason, action_id=action_id)
    why = approval_reason(
        verdict,
        autonomy=state.autonomy,
        priority=asked.priority,
        escalated=asked.escalated,
        cost_threshold=director.settings.approval_cost_threshold,
    )
    if why is not None and action_key(action) in parked:
        waiting = f"already awaiting approval #{parked[action_key(action)]}"
        action_id = await step.record("noop", waiting, ActionStatus.SKIPPED, by)
        return step.outcome(
            ActionStatus.SKIPPED,
            "noop",
            waiting,
            action_id=action_id,
            approval_id=parked[action_key(action)],
        )
    if why is not None:
        return await step.park(why)
    return await step.send()
