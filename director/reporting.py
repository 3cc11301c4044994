"""What a cycle tells the world: typed reports and the Reporter port (console, Telegram).

The engine produces these; faces (the console, the Telegram bot) render them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from director.models import Plan, Priority


@dataclass(frozen=True)
class ActionOutcome:
    idx: int
    description: str  # e.g. "place_order(KXHEAT-24JUL yes 0.58×10)"
    kind: str  # action_type
    verdict: str  # "allowed" | "blocked" | "needs_approval" | "observed" | "noop"
    status: str  # store.ActionStatus value
    reason: str = ""  # the guard's reason (why blocked / why it needs approval)
    detail: str = ""  # what happened: order id, fill, the exchange's error
    action_id: int | None = None
    approval_id: int | None = None
    market_title: str = ""


@dataclass(frozen=True)
class StateSummary:
    cash: Decimal
    equity: Decimal
    exposure: Decimal
    risk: float
    pnl_24h: Decimal
    positions: int
    resting_orders: int
    opportunities: int
    health: str
    degraded: bool
    safe_mode: bool
    safe_mode_reason: str
    autonomy: str


@dataclass(frozen=True)
class CycleReport:
    cycle_id: int
    trigger: str
    started_at: datetime
    finished_at: datetime
    state: StateSummary | None
    reasoning: str
    priority: Priority
    brain: str
    model: str | None
    cost_usd: Decimal
    rules_version: int | None
    outcomes: list[ActionOutcome] = field(default_factory=list)
    escalated: bool = False
    escalation_reason: str = ""
    brain_error: str | None = None
    alerts: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    error: str | None = None  # the cycle itself failed (nothing was executed after it)
    # What the brain planned (stored beside the report, not in it: see store.cycles).
    plan: Plan | None = None


@dataclass(frozen=True)
class ApprovalRequest:
    """An action parked for a human: the face shows it with Approve / Reject."""

    approval_id: int
    action_id: int
    cycle_id: int
    description: str
    reason: str  # why it needs approval
    cost: Decimal | None
    expires_at: datetime
    market_title: str = ""
    escalated: bool = False


@dataclass(frozen=True)
class ApprovalDecision:
    """What came of a press (or of a re-check after one)."""

    approval_id: int
    ok: bool  # True when the press was taken (approved-and-executed or rejected)
    status: str  # store.ApprovalStatus value after the press
    message: str  # one line for the presser and for the edited approval message
    decided_by: str | None = None
    description: str = ""


class Reporter(Protocol):
    async def cycle_report(self, report: CycleReport) -> None: ...

    async def approval_requested(self, request: ApprovalRequest) -> None: ...

    async def approval_settled(self, decision: ApprovalDecision) -> None:
        """An approval ended without a press (it expired): update what the face shows."""
        ...

    async def alert(self, text: str) -> None: ...
