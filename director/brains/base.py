"""The Brain port: SystemState + rules in, a Plan out, with what producing it cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Literal, Protocol

from director.models import Plan, SystemState
from director.rulebook import RuleSet

Tier = Literal["planner", "executor", "escalation"]


@dataclass(frozen=True)
class LLMCall:
    """One request to a model, for the usage ledger and the cycle report."""

    created_at: datetime
    purpose: str  # "think", "fill", "escalate", "repair", "review"
    tier: Tier
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0  # 5-minute cache writes
    cache_write_1h_tokens: int = 0
    latency_ms: float = 0.0
    cost_usd: Decimal = Decimal(0)
    ok: bool = True
    error: str | None = None
    cycle_id: int | None = None


@dataclass
class ThinkResult:
    plan: Plan
    brain: str  # the brain that produced the plan: "rules", "claude", "claude→rules", ...
    model: str | None = None
    escalated: bool = False
    escalation_reason: str = ""
    # Set when the brain failed and the plan is a fallback or a no-op: shown to the operator.
    error: str | None = None
    # "safe" fallback: no new exposure this cycle, whatever the plan says.
    block_new_orders: bool = False
    calls: list[LLMCall] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)

    @property
    def cost_usd(self) -> Decimal:
        return sum((c.cost_usd for c in self.calls), Decimal(0))


@dataclass(frozen=True)
class RecentAction:
    """One action of a recent cycle and what became of it, for the planner's memory."""

    cycle_id: int
    action: str  # Action.describe()
    status: str  # ActionStatus value
    reason: str = ""  # the guard's reason, or the outcome


@dataclass(frozen=True)
class ThinkContext:
    cycle_id: int
    now: datetime
    # The last cycles' actions, oldest first (the director fills it; empty in unit tests).
    recent: tuple[RecentAction, ...] = ()


class Brain(Protocol):
    name: str

    async def think(
        self, state: SystemState, rules: RuleSet, context: ThinkContext
    ) -> ThinkResult: ...

    async def close(self) -> None: ...


class UsageLedger(Protocol):
    """Where model calls are recorded and daily spend is read (the store implements it)."""

    async def record_llm_call(self, call: LLMCall) -> None: ...

    async def llm_spend_since(self, since: datetime) -> Decimal: ...


def day_start(now: datetime) -> datetime:
    """00:00 UTC of `now`'s day: OMEGA_DAILY_BUDGET_USD is per UTC day."""
    return datetime.combine(now.astimezone(UTC).date(), time(0), tzinfo=UTC)
