"""What one brain's backtest did, counted as it runs, and turned into a BrainResult at the end.

A RunTally keeps only counters and the equity series (one Decimal per cycle), not the cycle
reports themselves, so a long backtest runs in flat memory.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from director.backtest.metrics import (
    Drawdown,
    HitRate,
    cycle_returns,
    max_drawdown,
    reason_kind,
    sharpe_like,
)
from director.backtest.trader_metrics import TraderMetrics
from director.brains.base import Brain, LLMCall, ThinkContext, ThinkResult
from director.models import SystemState
from director.reporting import ApprovalDecision, ApprovalRequest, CycleReport
from director.rulebook import RuleSet

_ORDER_KINDS = frozenset({"place_order", "rebalance"})
_SENT = frozenset({"executed", "approved"})
# director.decide_approval words a re-check block as "<prefix><guard reason><suffix>".
_RECHECK_PREFIX = "Re-check on fresh state blocked it: "
_RECHECK_SUFFIX = ". Not executed."


@dataclass(frozen=True)
class AiUsage:
    calls: int = 0
    failed_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: Decimal = Decimal(0)

    @property
    def tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_tokens
            + self.cache_write_tokens
        )

    def plus(self, calls: Iterable[LLMCall]) -> AiUsage:
        usage = self
        for call in calls:
            usage = AiUsage(
                calls=usage.calls + 1,
                failed_calls=usage.failed_calls + (0 if call.ok else 1),
                input_tokens=usage.input_tokens + call.input_tokens,
                output_tokens=usage.output_tokens + call.output_tokens,
                cache_read_tokens=usage.cache_read_tokens + call.cache_read_tokens,
                cache_write_tokens=usage.cache_write_tokens
                + call.cache_write_tokens
                + call.cache_write_1h_tokens,
                cost_usd=usage.cost_usd + call.cost_usd,
            )
        return usage


class MeteredBrain:
    """A brain that counts the model calls of the brain it wraps (ThinkResult.calls)."""

    def __init__(self, inner: Brain) -> None:
        self.inner = inner
        self.name = inner.name
        self.usage = AiUsage()

    async def think(self, state: SystemState, rules: RuleSet, context: ThinkContext) -> ThinkResult:
        result = await self.inner.think(state, rules, context)
        self.usage = self.usage.plus(result.calls)
        return result

    async def close(self) -> None:
        await self.inner.close()


class BacktestReporter:
    """The Reporter port for a backtest: approval requests wait here for the policy to decide
    them once the cycle is over; nothing is printed."""

    def __init__(self) -> None:
        self._requests: list[ApprovalRequest] = []
        self.alerts = 0
        self.expired = 0

    async def cycle_report(self, report: CycleReport) -> None:
        return None

    async def approval_requested(self, request: ApprovalRequest) -> None:
        self._requests.append(request)

    async def approval_settled(self, decision: ApprovalDecision) -> None:
        self.expired += 1

    async def alert(self, text: str) -> None:
        self.alerts += 1

    def take_requests(self) -> list[ApprovalRequest]:
        requests, self._requests = self._requests, []
        return requests


@dataclass(frozen=True)
class Approvals:
    requested: int = 0
    approved: int = 0  # approved and executed
    rejected: int = 0
    blocked: int = 0  # approved, but the guard's re-check on fresh state refused it
    failed: int = 0  # approved, but the exchange refused it
    expired: int = 0


@dataclass(frozen=True)
class BrainResult:
    brain: str
    cycles: int
    equity: tuple[Decimal, ...]  # at each cycle's SENSE, then once after the last cycle
    period_seconds: int
    drawdown: Drawdown
    sharpe: Decimal | None
    hits: HitRate
    fees: Decimal
    orders_sent: int
    orders_failed: int
    cancels: int
    fills: int
    open_positions: int
    blocks: dict[str, int]  # guard blocks by kind of reason, most frequent first
    approvals: Approvals
    ai: AiUsage
    brain_errors: int
    fallback_cycles: int  # cycles planned by a brain other than the one chosen
    escalations: int
    failed_cycles: int
    alerts: int
    # The trader's metrics (trader_metrics.py); None where a run could not compute them.
    trader: TraderMetrics | None = None

    @property
    def start_equity(self) -> Decimal:
        return self.equity[0]

    @property
    def final_equity(self) -> Decimal:
        return self.equity[-1]

    @property
    def total_return(self) -> Decimal:
        return self.final_equity / self.start_equity - 1

    @property
    def guard_blocks(self) -> int:
        return sum(self.blocks.values())


@dataclass
class RunTally:
    brain: str
    period_seconds: int
    start_equity: Decimal
    equity: list[Decimal] = field(default_factory=list)
    cycles: int = 0
    failed_cycles: int = 0
    brain_errors: int = 0
    fallback_cycles: int = 0
    escalations: int = 0
    blocks: Counter[str] = field(default_factory=Counter)
    # Final status of every order-carrying and cancel action, by kind.
    statuses: Counter[tuple[str, str]] = field(default_factory=Counter)
    approval_kinds: dict[int, str] = field(default_factory=dict)
    approvals_requested: int = 0
    approval_results: Counter[str] = field(default_factory=Counter)

    def add_cycle(self, report: CycleReport) -> None:
        self.cycles += 1
        if report.error:
            self.failed_cycles += 1
        if report.state is not None:
            self.equity.append(report.state.equity)
        else:
            # SENSE failed: no new reading, so the curve holds its last value.
            self.equity.append(self.equity[-1] if self.equity else self.start_equity)
        if report.brain_error:
            self.brain_errors += 1
        if report.state is not None and report.brain != self.brain:
            self.fallback_cycles += 1
        if report.escalated:
            self.escalations += 1
        for outcome in report.outcomes:
            if outcome.status == "blocked":
                self.blocks[reason_kind(outcome.reason)] += 1
            if outcome.approval_id is not None:
                self.approval_kinds[outcome.approval_id] = outcome.kind
                self.approvals_requested += 1
                continue
            self.statuses[(outcome.kind, outcome.status)] += 1

    def add_decision(self, decision: ApprovalDecision) -> None:
        kind = self.approval_kinds.pop(decision.approval_id, "unknown")
        self.approval_results[decision.status] += 1
        self.statuses[(kind, decision.status)] += 1
        if decision.status == "blocked":
            why = decision.message.removeprefix(_RECHECK_PREFIX).removesuffix(_RECHECK_SUFFIX)
            self.blocks["approval re-check: " + reason_kind(why)] += 1

    def result(
        self,
        *,
        final_equity: Decimal,
        hits: HitRate,
        fees: Decimal,
        fills: int,
        open_positions: int,
        ai: AiUsage,
        alerts: int,
        expired: int,
        trader: TraderMetrics | None = None,
    ) -> BrainResult:
        equity = (*self.equity, final_equity)
        returns = cycle_returns(equity)
        sent = sum(n for (kind, status), n in self.statuses.items() if _is_order(kind, status))
        failed = sum(
            n
            for (kind, status), n in self.statuses.items()
            if kind in _ORDER_KINDS and status == "failed"
        )
        cancels = sum(
            n
            for (kind, status), n in self.statuses.items()
            if kind == "cancel_order" and status in _SENT
        )
        results = self.approval_results
        return BrainResult(
            brain=self.brain,
            cycles=self.cycles,
            equity=equity,
            period_seconds=self.period_seconds,
            drawdown=max_drawdown(equity),
            sharpe=sharpe_like(returns, self.period_seconds),
            hits=hits,
            fees=fees,
            orders_sent=sent,
            orders_failed=failed,
            cancels=cancels,
            fills=fills,
            open_positions=open_positions,
            blocks=dict(sorted(self.blocks.items(), key=lambda kv: (-kv[1], kv[0]))),
            approvals=Approvals(
                requested=self.approvals_requested,
                approved=results["approved"],
                rejected=results["rejected"],
                blocked=results["blocked"],
                failed=results["failed"],
                expired=expired,
            ),
            ai=ai,
            brain_errors=self.brain_errors,
            fallback_cycles=self.fallback_cycles,
            escalations=self.escalations,
            failed_cycles=self.failed_cycles,
            alerts=alerts,
            trader=trader,
        )


def _is_order(kind: str, status: str) -> bool:
    return kind in _ORDER_KINDS and status in _SENT
