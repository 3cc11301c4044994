"""What the store hands back: the records, and every status value it writes, as enums.

The enums are StrEnums, so a stored value reads back as the same text it always was, and a
record compares equal to the plain strings older code and tests use.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from director.models import Action, Plan, SystemState
from director.reporting import CycleReport


class ActionStatus(StrEnum):
    EXECUTED = "executed"
    FAILED = "failed"
    BLOCKED = "blocked"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"  # approved and executed
    REJECTED = "rejected"
    EXPIRED = "expired"
    OBSERVED = "observed"  # observe mode: recorded, never sent
    SKIPPED = "skipped"  # do_nothing
    # Issue 12's execution states (director/execution.py has the state machine):
    SENDING = "sending"  # recorded and being sent; a restart reconciles it
    UNKNOWN = "unknown"  # sent, the answer unclear: reconciled before any new order there


class ActionVerdict(StrEnum):
    """What the guard and the policy made of an action, as recorded with it."""

    ALLOWED = "allowed"
    BLOCKED = "blocked"
    NOOP = "noop"  # nothing to do, or already awaiting approval
    OBSERVED = "observed"  # autonomy is observe
    NEEDS_APPROVAL = "needs_approval"


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    EXECUTING = "executing"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    BLOCKED = "blocked"  # approved, but the guard's re-check refused it
    FAILED = "failed"  # approved, but the exchange refused it
    UNKNOWN = "unknown"  # approved and sent, the answer unclear: settled by reconciliation


class CycleStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # left running by a crash, a kill or a signal
    OUTSIDE = "outside"  # the one row that holds actions taken between cycles


class ReviewStatus(StrEnum):
    PENDING = "pending"  # a suggestion waits for the operator
    NO_CHANGE = "no_change"
    FAILED = "failed"
    APPLYING = "applying"
    APPLIED = "applied"
    DISMISSED = "dismissed"
    SUPERSEDED = "superseded"  # a newer review, or a change of rules, replaced it


@dataclass(frozen=True)
class ActionRecord:
    id: int
    cycle_id: int
    idx: int
    kind: str
    market: str | None
    action: Action | None  # None when the stored action no longer validates
    action_json: str  # as stored, for showing an unreadable one
    verdict: ActionVerdict
    reason: str
    status: ActionStatus
    client_order_id: str | None
    order_id: str | None
    outcome: dict[str, Any] | None
    created_at: datetime


@dataclass(frozen=True)
class ApprovalRecord:
    id: int
    action_id: int
    cycle_id: int
    kind: str
    created_at: datetime
    expires_at: datetime
    status: ApprovalStatus
    decided_by: str | None
    decided_at: datetime | None
    result: str | None
    chat_id: int | None
    message_id: int | None

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


@dataclass(frozen=True)
class CycleRecord:
    id: int
    started_at: datetime
    finished_at: datetime | None
    trigger: str
    status: CycleStatus
    brain: str | None
    model: str | None
    rules_version: int | None
    escalated: bool
    brain_error: str | None
    cash: Decimal | None
    equity: Decimal | None
    exposure: Decimal | None
    risk: float | None
    cost_usd: Decimal
    state_json: str | None  # the State of the Union as recorded; None once forgotten
    plan: Plan | None  # None when not recorded or no longer readable
    timings: dict[str, float] | None
    report: CycleReport | None  # None when not recorded or no longer readable
    error: str | None

    @functools.cached_property
    def state(self) -> SystemState | None:
        """Parsed on first use: a state is most of a cycle's bytes, and most readers skip it.
        None when absent or no longer readable."""
        if self.state_json is None:
            return None
        try:
            return SystemState.model_validate_json(self.state_json)
        except ValidationError:
            return None


@dataclass(frozen=True)
class ReviewRecord:
    id: int
    created_at: datetime
    trigger: str
    source: str
    rules_version: int
    report: dict[str, Any]
    suggestion: dict[str, Any] | None
    status: ReviewStatus
    error: str | None
    decided_by: str | None
    decided_at: datetime | None
    applied_version: int | None
    chat_id: int | None
    message_id: int | None
