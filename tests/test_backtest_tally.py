from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from director.backtest.metrics import hit_rate
from director.backtest.tally import AiUsage, MeteredBrain, RunTally
from director.brains.base import LLMCall, ThinkContext, ThinkResult
from director.models import Plan, Priority, SystemState
from director.reporting import ActionOutcome, ApprovalDecision, CycleReport, StateSummary
from director.rulebook import DEFAULT_RULESET, RuleSet
from tests.builders import state

D = Decimal
AT = datetime(2026, 1, 5, tzinfo=UTC)


def summary(equity: str) -> StateSummary:
    return StateSummary(
        cash=D(equity),
        equity=D(equity),
        exposure=D(0),
        risk=0.0,
        pnl_24h=D(0),
        positions=0,
        resting_orders=0,
        opportunities=0,
        health="ok",
        degraded=False,
        safe_mode=False,
        safe_mode_reason="",
        autonomy="auto",
    )


def report(
    equity: str | None,
    outcomes: list[ActionOutcome] | None = None,
    brain: str = "rules",
    error: str | None = None,
) -> CycleReport:
    return CycleReport(
        cycle_id=1,
        trigger="backtest",
        started_at=AT,
        finished_at=AT,
        state=None if equity is None else summary(equity),
        reasoning="",
        priority=Priority.LOW,
        brain=brain,
        model=None,
        cost_usd=D(0),
        rules_version=1,
        outcomes=outcomes or [],
        error=error,
    )


def outcome(
    kind: str, status: str, reason: str = "", approval_id: int | None = None
) -> ActionOutcome:
    return ActionOutcome(
        idx=0,
        description=kind,
        kind=kind,
        verdict="blocked" if status == "blocked" else "allowed",
        status=status,
        reason=reason,
        approval_id=approval_id,
    )


def test_the_tally_counts_orders_blocks_approvals_and_fallbacks() -> None:
    tally = RunTally("rules", 900, D(1000))
    tally.add_cycle(report(None, error="sense failed"))  # no reading yet: the start value
    tally.add_cycle(
        report(
            "1000",
            [
                outcome("place_order", "executed"),
                outcome("place_order", "blocked", "cost $51.20 > max $50 per order"),
                outcome("place_order", "blocked", "cost $50.02 > max $50 per order"),
                outcome("cancel_order", "executed"),
                outcome("place_order", "awaiting_approval", approval_id=7),
                outcome("rebalance", "awaiting_approval", approval_id=8),
                outcome("place_order", "failed"),
            ],
        )
    )
    tally.add_cycle(report(None))  # SENSE failed: the curve holds
    tally.add_cycle(report("990", brain="claude→rules"))
    tally.add_decision(ApprovalDecision(7, True, "approved", "Approved by backtest: ok"))
    tally.add_decision(
        ApprovalDecision(
            8,
            False,
            "blocked",
            "Re-check on fresh state blocked it: risk 0.85 > 0.80: no new exposure. Not executed.",
        )
    )
    result = tally.result(
        final_equity=D("1010"),
        hits=hit_rate([]),
        fees=D("1.5"),
        fills=2,
        open_positions=1,
        ai=AiUsage(),
        alerts=0,
        expired=0,
    )
    assert result.equity == (D(1000), D(1000), D(1000), D(990), D(1010))
    assert result.cycles == 4 and result.failed_cycles == 1
    assert result.orders_sent == 2  # one executed at once, one approved
    assert result.orders_failed == 1 and result.cancels == 1
    assert result.blocks == {
        "cost $# > max $# per order": 2,
        "approval re-check: risk # > #: no new exposure": 1,
    }
    assert result.approvals.requested == 2
    assert (result.approvals.approved, result.approvals.blocked) == (1, 1)
    assert result.fallback_cycles == 1
    assert result.drawdown.fraction == D("0.01")
    assert result.total_return == D("0.01")


class Spender:
    name = "claude"

    async def think(self, state: SystemState, rules: RuleSet, context: ThinkContext) -> ThinkResult:
        calls = [
            LLMCall(AT, "think", "planner", "m", 100, 20, 500, 0, cost_usd=D("0.002")),
            LLMCall(AT, "fill", "executor", "m", 10, 5, ok=False, error="429"),
        ]
        return ThinkResult(plan=Plan.no_op("x"), brain=self.name, calls=calls)

    async def close(self) -> None:
        return None


async def test_the_metered_brain_adds_up_every_call() -> None:
    brain = MeteredBrain(Spender())
    context = ThinkContext(cycle_id=1, now=AT)
    for _ in range(3):
        await brain.think(state(), DEFAULT_RULESET, context)
    usage = brain.usage
    assert brain.name == "claude"
    assert (usage.calls, usage.failed_calls) == (6, 3)
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens) == (330, 75, 1500)
    assert usage.tokens == 330 + 75 + 1500
    assert usage.cost_usd == D("0.006")
