"""Actions parked for a human: what waits, what expired, and a press of Approve or Reject.

An approval can be decided once (the store's claim is atomic: exactly one press of any number
is taken), only before it expires, and an approved action is checked again by the guard on
fresh state, under the director's ACT lock, before it is sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from director.act import Execution, client_order_id
from director.crashpoints import crash_point
from director.disposition import Parked
from director.execution import send_recorded
from director.guard import Verdict, check_action
from director.models import Action
from director.operator_actions import halved, recorded_decision, with_quotes
from director.reporting import ApprovalDecision, ApprovalRequest
from director.store import ActionRecord, ActionStatus, ApprovalRecord, ApprovalStatus

if TYPE_CHECKING:
    from director.director import Director

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Press:
    """Who pressed what, for the answers a press can get."""

    approval_id: int
    user: str
    description: str

    def answer(self, ok: bool, status: ApprovalStatus | str, message: str) -> ApprovalDecision:
        return ApprovalDecision(
            approval_id=self.approval_id,
            ok=ok,
            status=str(status),
            message=message,
            decided_by=self.user,
            description=self.description,
        )


class Approvals:
    def __init__(self, director: Director) -> None:
        self._d = director
        self._store = director.store
        # Changes to what waits for approval made by this process (an action parked, an
        # approval claimed or expired): tells whether a Parked read is still current without
        # reading again. One director per database (the instance lock), so none is missed.
        self._changes = 0

    def changed(self) -> None:
        """Something was parked, decided or expired: earlier Parked reads are stale."""
        self._changes += 1

    async def parked(self) -> Parked:
        """What waits for approval now, in one read: each action's key and market."""
        seen = self._changes
        return Parked.of(
            (
                (approval.id, record.action, record.market)
                for approval, record in await self._store.pending_approvals_with_actions()
                if record.action is not None
            ),
            seen,
        )

    async def current(self, parked: Parked) -> Parked:
        """`parked`, or a fresh read when what waits changed since it was read (a script's
        intent parked, or a human's press, during a long THINK): a cycle then neither asks
        twice for one action nor points at an approval already decided."""
        return parked if parked.changes_seen == self._changes else await self.parked()

    async def pending(self) -> list[ApprovalRequest]:
        requests = []
        for approval, record in await self._store.pending_approvals_with_actions():
            if record.action is None:
                continue
            parked = record.outcome or {}
            cost = Decimal(str(parked["cost"])) if parked.get("cost") else None
            requests.append(
                ApprovalRequest(
                    approval_id=approval.id,
                    action_id=record.id,
                    cycle_id=approval.cycle_id,
                    # "… by rebalancer" for an action from outside a plan (director/submit.py)
                    description=record.action.describe()
                    + (f" by {parked['by']}" if "by" in parked else ""),
                    reason=record.reason,
                    cost=cost or None,
                    expires_at=approval.expires_at,
                    market_title=str(parked.get("title") or ""),
                )
            )
        return requests

    async def expire(self) -> list[ApprovalDecision]:
        decisions = []
        for approval in await self._store.expire_approvals(self._d.clock()):
            self.changed()
            record = await self._store.action(approval.action_id)
            action = record.action if record is not None else None
            decision = ApprovalDecision(
                approval_id=approval.id,
                ok=False,
                status=ApprovalStatus.EXPIRED.value,
                message=f"Expired at {approval.expires_at:%Y-%m-%d %H:%M} UTC: not executed.",
                description=action.describe() if action is not None else "",
            )
            decisions.append(decision)
            try:
                await self._d.reporter.approval_settled(decision)
            except Exception:
                log.exception("reporter failed to update expired approval %s", approval.id)
        return decisions

    async def decide(
        self, approval_id: int, user: str, approve: bool, *, half: bool = False
    ) -> ApprovalDecision:
        """A human pressed Approve or Reject (or Approve ½: half the quantity, re-checked).
        Exactly one press of any number is taken."""
        now = self._d.clock()
        found = await self._pressed(approval_id, half=half and approve)
        if isinstance(found, ApprovalDecision):
            return found
        approval, record, action = found
        press = _Press(approval_id, user, action.describe())
        if approval.status is not ApprovalStatus.PENDING:
            # The recorded outcome, by whoever decided it: never the second presser.
            return recorded_decision(approval, press.description)
        if approval.expired(now):
            await self.expire()
            return press.answer(False, ApprovalStatus.EXPIRED, "This approval has expired.")
        status = ApprovalStatus.EXECUTING if approve else ApprovalStatus.REJECTED
        if not await self._store.claim_approval(approval_id, to=status, by=user, now=now):
            return press.answer(False, "taken", "Someone else decided it first.")
        self.changed()
        if not approve:
            await self._store.settle_approval(approval_id, ApprovalStatus.REJECTED, "rejected")
            await self._store.update_action(record.id, status=ActionStatus.REJECTED, now=now)
            return press.answer(True, ApprovalStatus.REJECTED, f"Rejected by {user}.")
        crash_point("approval:claimed")
        return await self._execute(press, record, action)

    async def _pressed(
        self, approval_id: int, *, half: bool
    ) -> tuple[ApprovalRecord, ActionRecord, Action] | ApprovalDecision:
        """The approval, its action's record and the action to send (halved for Approve ½),
        or the answer when there is none."""
        approval = await self._store.approval(approval_id)
        if approval is None:
            return ApprovalDecision(approval_id, False, "unknown", "No such approval.")
        record = await self._store.action(approval.action_id)
        if record is None:
            return ApprovalDecision(approval_id, False, "unknown", "Its action is gone.")
        if record.action is None:
            return ApprovalDecision(approval_id, False, "unknown", "Its action is unreadable.")
        action = record.action
        if half:
            resized = halved(action)
            if resized is None:
                return ApprovalDecision(approval_id, False, "unknown", "This can't be halved.")
            action = resized
        return approval, record, action

    async def _execute(
        self, press: _Press, record: ActionRecord, action: Action
    ) -> ApprovalDecision:
        """Re-check a claimed approval's action on fresh state and send it."""
        director, approval_id = self._d, press.approval_id
        async with director.act_lock:
            verdict = await self._recheck(approval_id, record, action)
            if not verdict.sends_something:
                why = f"Re-check on fresh state blocked it: {verdict.reason}. Not executed."
                await self._store.settle_approval(approval_id, ApprovalStatus.BLOCKED, why)
                await self._store.update_action(
                    record.id,
                    status=ActionStatus.BLOCKED,
                    now=director.clock(),
                    reason=verdict.reason,
                )
                return press.answer(False, ApprovalStatus.BLOCKED, why)
            coid = record.client_order_id or client_order_id(
                await director.install_id(), record.cycle_id, record.idx
            )
            # Recorded before and after the exchange call (director/execution.py).
            result = await send_recorded(
                self._store,
                director.exchange,
                director.clock,
                record.id,
                verdict,
                coid,
                approved=True,
            )
        return await self._settle_sent(press, result)

    async def _recheck(self, approval_id: int, record: ActionRecord, action: Action) -> Verdict:
        director = self._d
        try:
            # It was in the State of the Union when parked: what a scanner says a second
            # later must not undo that (open market and every limit still hold).
            admitted = frozenset({record.market}) if record.market else frozenset()
            state = await with_quotes(director.exchange, await director.sense(), admitted)
            rules = await self._store.active_rules()
            return check_action(action, state, director.limits(rules), admitted=admitted)
        except Exception as exc:
            log.exception("approval %s re-check failed", approval_id)
            return Verdict(allowed=False, reason=f"re-check failed: {exc}")

    async def _settle_sent(self, press: _Press, result: Execution) -> ApprovalDecision:
        approval_id, user = press.approval_id, press.user
        if result.ok:
            await self._store.settle_approval(approval_id, ApprovalStatus.APPROVED, result.detail)
            return press.answer(
                True, ApprovalStatus.APPROVED, f"Approved by {user}: {result.detail}"
            )
        if result.unknown:
            why = f"{result.detail}; checking the exchange before any new order on it"
            await self._store.settle_approval(approval_id, ApprovalStatus.UNKNOWN, why)
            return press.answer(False, ApprovalStatus.UNKNOWN, f"Approved by {user}, but {why}")
        await self._store.settle_approval(approval_id, ApprovalStatus.FAILED, result.detail)
        return press.answer(
            False, ApprovalStatus.FAILED, f"Approved by {user}, but {result.detail}"
        )
