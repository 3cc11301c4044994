"""One cycle's body: sense → think → guard → act/park → record.

Director.run_cycle holds the cycle lock and delivers the report; here the phases run, each
timed, and whatever fails after the cycle's record exists still finishes that record (with the
error). What waits for approval is read once, before SENSE, and serves both the State of the
Union (the brain sees what is parked) and the ACT phase (an action already waiting is not asked
for twice). It is read again under the ACT lock only when it changed meanwhile (a script's
intent parked, or a press, during a long THINK): Approvals.current.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from director.act import client_order_id
from director.brains.base import ThinkContext, ThinkResult
from director.crashpoints import crash_point
from director.describe import describe_error
from director.dispatch import Asked, dispatch
from director.disposition import Parked
from director.guard import check_plan
from director.models import Plan, Priority, SystemState
from director.recent import recent_actions
from director.reporting import ActionOutcome, CycleReport, StateSummary
from director.rulebook import RuleSet
from director.trading_state import trading_state

if TYPE_CHECKING:
    from director.director import Director

log = logging.getLogger(__name__)


def paused_report(trigger: str, now: datetime) -> CycleReport:
    """The report of a scheduled cycle the operator's pause skipped."""
    return CycleReport(
        cycle_id=0,
        trigger=trigger,
        started_at=now,
        finished_at=now,
        state=None,
        reasoning="Paused by the operator: no cycle run (/resume to continue).",
        priority=Priority.LOW,
        brain="none",
        model=None,
        cost_usd=Decimal(0),
        rules_version=None,
    )


@dataclass
class _Run:
    """What one cycle has gathered so far: all of it goes into the report and the record."""

    cycle_id: int
    trigger: str
    started: datetime
    alerts: list[str]
    t0: float = field(default_factory=time.perf_counter)
    state: SystemState | None = None
    rules: RuleSet | None = None
    think: ThinkResult = field(
        default_factory=lambda: ThinkResult(plan=Plan.no_op("not reached"), brain="none")
    )
    outcomes: list[ActionOutcome] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    def report(self, finished: datetime) -> CycleReport:
        think = self.think
        return CycleReport(
            cycle_id=self.cycle_id,
            trigger=self.trigger,
            started_at=self.started,
            finished_at=finished,
            state=summary(self.state) if self.state else None,
            reasoning=think.plan.reasoning,
            priority=think.plan.priority,
            brain=think.brain,
            model=think.model,
            cost_usd=think.cost_usd,
            rules_version=self.rules.version if self.rules else None,
            outcomes=self.outcomes,
            escalated=think.escalated,
            escalation_reason=think.escalation_reason,
            brain_error=think.error,
            alerts=self.alerts,
            timings_ms=self.timings,
            error=self.error,
            plan=think.plan,
        )


async def run_cycle_body(director: Director, trigger: str) -> CycleReport:
    """Run one cycle under the caller's cycle lock, and record it."""
    started = director.clock()
    cycle_id = await director.store.start_cycle(started, trigger)
    crash_point("cycle:started")
    await director.reconciler.before_cycle()  # settle unclear orders before any new one
    # Outside actions since the last cycle, "… by <source>" (director/submit.py).
    run = _Run(cycle_id, trigger, started, alerts=await director.gateway.report_lines(cycle_id))
    try:
        await _phases(director, run)
    except Exception as exc:
        log.exception("cycle %s failed", cycle_id)
        run.error = describe_error(exc, 500)
    run.timings["total_ms"] = _ms(run.t0)
    report = run.report(director.clock())
    await director.store.finish_cycle(cycle_id, report, run.state)
    return report


async def _phases(director: Director, run: _Run) -> None:
    t0 = time.perf_counter()
    parked = await director.approvals.parked()
    run.state = state = await director.sense(parked=parked)
    run.timings["sense_ms"] = _ms(t0)
    if state.system_health.degraded:
        run.alerts.append(f"Health {state.system_health.summary()}: safe mode this cycle.")
    if (halt := director.halt_notice.update(state.trading_halt)) is not None:
        run.alerts.append(halt)

    t1 = time.perf_counter()
    run.rules = rules = await director.store.active_rules()
    run.think = think = await _think(director, state, rules, run.cycle_id)
    run.alerts.extend(think.alerts)
    run.timings["think_ms"] = _ms(t1)

    t2 = time.perf_counter()
    crash_point("cycle:thought")
    run.outcomes = await _act(director, run.cycle_id, state, rules, think, parked)
    run.timings["act_ms"] = _ms(t2)


async def _think(
    director: Director, state: SystemState, rules: RuleSet, cycle_id: int
) -> ThinkResult:
    brain = director.brain
    try:
        recent = await recent_actions(director.store, cycle_id)
        context = ThinkContext(cycle_id, director.clock(), recent=recent)
        return await brain.think(state, rules, context)
    except Exception as exc:
        # A brain must never crash the loop: a no-op plan, and the operator is told.
        log.exception("brain %s failed", brain.name)
        message = describe_error(exc, 300)
        return ThinkResult(
            plan=Plan.no_op(f"The brain failed ({message}); no actions this cycle."),
            brain=brain.name,
            error=message,
        )


async def _act(
    director: Director,
    cycle_id: int,
    state: SystemState,
    rules: RuleSet,
    think: ThinkResult,
    parked: Parked,
) -> list[ActionOutcome]:
    plan, limits = think.plan, director.limits(rules)
    install = await director.install_id()
    outcomes = []
    async with director.act_lock:
        # Checked under the lock on what is unresolved now: an intent or an approval sent
        # during THINK may have left a market's order unknown.
        state = await director.reconciler.annotate(state)
        parked = await director.approvals.current(parked)
        trading = trading_state(state, limits, brain_failed_safe=think.block_new_orders)
        verdicts = check_plan(plan, state, limits, trading=trading)
        for idx, (action, verdict) in enumerate(zip(plan.actions, verdicts, strict=True)):
            asked = Asked(
                cycle_id=cycle_id,
                idx=idx,
                client_order_id=client_order_id(install, cycle_id, idx),
                priority=plan.priority,
                escalated=think.escalated,
            )
            outcomes.append(await dispatch(director, asked, action, verdict, state, parked))
    return outcomes


def summary(state: SystemState) -> StateSummary:
    return StateSummary(
        cash=state.portfolio_cash,
        equity=state.equity,
        exposure=state.exposure,
        risk=state.current_risk_score,
        pnl_24h=state.recent_pnl_24h,
        positions=len(state.open_positions),
        resting_orders=len(state.pending_orders),
        opportunities=len(state.active_opportunities),
        health=state.system_health.summary(),
        degraded=state.system_health.degraded,
        safe_mode=state.safe_mode,
        safe_mode_reason=state.safe_mode_reason,
        autonomy=state.autonomy.value,
    )


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)
