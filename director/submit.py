"""The one risk gateway for actions from outside a brain's plan: a script's intent (the local
API), an operator's /close or /cancel.

Each goes the way a cycle's action goes (DESIGN.md, "The same actions reach the director from
three places"): under the director's ACT lock, so it never interleaves with a cycle's or an
approval's execution; the guard on freshly sensed state; the autonomy and approval policy; the
idempotent executors (director/dispatch.py, shared with a cycle's ACT phase). The record says who
asked. A submission's key is persisted before anything is sent, so a repeated key is a
duplicate — never a second order — even across a restart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from director.act import client_order_id
from director.dispatch import Asked, dispatch
from director.disposition import Parked
from director.guard import Verdict, check_action
from director.models import Action, Priority
from director.reporting import ActionOutcome
from director.store import ActionStatus
from director.store.submissions import OUTSIDE_CYCLE, SubmissionLog, SubmissionRow

if TYPE_CHECKING:
    from director.director import Director

log = logging.getLogger(__name__)

# An outside action has no plan; it is weighed as a MEDIUM-priority plan's would be (in `auto`
# it executes unless its cost is above the approval threshold).
OUTSIDE_PRIORITY = Priority.MEDIUM
MAX_ORIGIN = 100
MAX_KEY = 200
MAX_NOTE = 1000
REPORT_LINES = 20


class SubmissionStatus(StrEnum):
    EXECUTED = "executed"
    AWAITING_APPROVAL = "awaiting_approval"
    BLOCKED = "blocked"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Submission:
    """The immediate answer to a submitted action (DESIGN.md, `POST /v1/intents`)."""

    status: SubmissionStatus
    reason: str
    approval_id: int | None = None
    order_id: str | None = None
    action_id: int | None = None
    description: str = ""


class SubmissionError(ValueError):
    """The submission itself is unusable (an empty origin, an oversized key)."""


class Gateway:
    def __init__(self, director: Director) -> None:
        self.director = director
        self.log = SubmissionLog(director.store)

    async def submit(
        self, action: Action, *, origin: str, key: str | None = None, note: str = ""
    ) -> Submission:
        """`note`: the asker's own reason, kept with the record (at most MAX_NOTE characters)."""
        origin = origin.strip()
        if not origin or len(origin) > MAX_ORIGIN:
            raise SubmissionError(f"origin must be 1-{MAX_ORIGIN} characters")
        if key is not None and not 0 < len(key) <= MAX_KEY:
            raise SubmissionError(f"key must be 1-{MAX_KEY} characters")
        if len(note) > MAX_NOTE:
            raise SubmissionError(f"note must be at most {MAX_NOTE} characters")
        director = self.director
        async with director.act_lock:
            if key is not None:
                prior = await self.log.by_key(key)
                if prior is not None:
                    return _duplicate(prior)
            now = director.clock()
            description = f"{action.describe()} by {origin}"
            submission_id = await self.log.begin(
                key=key,
                origin=origin,
                action_json=action.model_dump_json(),
                description=description,
                note=note,
                now=now,
            )
            submission = await self._dispose(submission_id, action, origin)
            await self.log.settle(
                submission_id,
                status=submission.status.value,
                reason=submission.reason,
                action_id=submission.action_id,
                approval_id=submission.approval_id,
                order_id=submission.order_id,
                now=director.clock(),
            )
        log.info("%s: %s (%s)", description, submission.status.value, submission.reason[:200])
        return submission

    async def _dispose(self, submission_id: int, action: Action, origin: str) -> Submission:
        director = self.director
        parked = Parked()
        try:
            # Read once: it marks the parked markets in the state and dedups the action.
            parked = await director.approvals.parked()
            state = await director.sense(news=False, parked=parked)
            rules = await director.store.active_rules()
            verdict = check_action(action, state, director.limits(rules))
            parked = await director.approvals.current(parked)  # a press during SENSE
        except Exception as exc:
            log.exception("submission %s: the guard's check failed", submission_id)
            verdict = Verdict(allowed=False, reason=f"check on fresh state failed: {exc}"[:300])
            state = None
        if state is None:
            return Submission(
                SubmissionStatus.BLOCKED, verdict.reason, description=action.describe()
            )
        asked = Asked(
            cycle_id=OUTSIDE_CYCLE,
            idx=submission_id,
            client_order_id=client_order_id(
                await director.install_id(), OUTSIDE_CYCLE, submission_id
            ),
            priority=OUTSIDE_PRIORITY,
            origin=origin,
        )
        outcome = await dispatch(director, asked, action, verdict, state, parked)
        order_id = None
        if outcome.action_id is not None and outcome.status == ActionStatus.EXECUTED.value:
            record = await director.store.action(outcome.action_id)
            order_id = record.order_id if record is not None else None
        return _answer(outcome, order_id)

    async def report_lines(self, cycle_id: int) -> list[str]:
        """One line per outside action settled since the last report ("… by rebalancer:
        executed — …"); never fails a cycle."""
        try:
            lines, more = await self.log.take_unreported(cycle_id, REPORT_LINES)
        except Exception:
            log.exception("could not read the outside actions for cycle %s", cycle_id)
            return []
        if more:
            lines.insert(0, f"{more} more outside action(s) since the last cycle (see the record)")
        return lines


def _answer(outcome: ActionOutcome, order_id: str | None) -> Submission:
    """A disposition, in the API's four words."""
    status, reason = outcome.status, outcome.reason
    if status == ActionStatus.EXECUTED.value:
        answer = SubmissionStatus.EXECUTED
        reason = outcome.detail or outcome.reason
    elif status == ActionStatus.AWAITING_APPROVAL.value:
        answer = SubmissionStatus.AWAITING_APPROVAL
    elif status == ActionStatus.SKIPPED.value and outcome.approval_id is not None:
        answer = SubmissionStatus.AWAITING_APPROVAL  # the same action already waits
    elif status == ActionStatus.SKIPPED.value:
        answer = SubmissionStatus.EXECUTED
        reason = f"nothing to send: {outcome.reason}"
    elif status in (ActionStatus.BLOCKED.value, ActionStatus.OBSERVED.value):
        answer = SubmissionStatus.BLOCKED
    elif status == ActionStatus.FAILED.value:
        answer = SubmissionStatus.BLOCKED
        reason = outcome.detail or outcome.reason
    else:  # sent, but its outcome is not known yet: the director reconciles it
        answer = SubmissionStatus.BLOCKED
        reason = (
            f"outcome unknown ({status}: {outcome.detail or outcome.reason}); the director is "
            "reconciling it — do not resend under a new intent_id"
        )
    return Submission(
        status=answer,
        reason=reason,
        approval_id=outcome.approval_id,
        order_id=order_id,
        action_id=outcome.action_id,
        description=outcome.description,
    )


def _duplicate(prior: SubmissionRow) -> Submission:
    if prior.status == "pending":
        became = f"its action is {prior.action_status}" if prior.action_status else "not sent"
        reason = (
            f"key already used by submission #{prior.id} ({prior.description}), which was "
            f"interrupted ({became}); nothing was sent again"
        )
    else:
        reason = f"key already used by submission #{prior.id} ({prior.description}): {prior.status}"
        if prior.reason:
            reason += f" — {prior.reason}"
    return Submission(
        status=SubmissionStatus.DUPLICATE,
        reason=reason,
        approval_id=prior.approval_id,
        order_id=prior.order_id,
        action_id=prior.action_id,
        description=prior.description,
    )
