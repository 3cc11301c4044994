"""The Director: one cycle is sense → think → guard → act/park → record → report.

Cycles never overlap: a second request while one runs is refused, not queued. The ACT phase and
approval executions share one lock so two executions never interleave, while an approval pressed
during a cycle's (possibly long) THINK phase executes at once.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from pydantic import ValidationError

from director.act import client_order_id
from director.brains.base import Brain, ThinkContext, ThinkResult
from director.crashpoints import crash_point
from director.disposition import Asked, dispose
from director.disposition import action_key as _action_key
from director.exchanges.base import Exchange
from director.exchanges.status import HaltNotice
from director.execution import send_recorded
from director.guard import Limits, Verdict, check_action, check_plan
from director.heartbeats import Heartbeats
from director.models import (
    ACTION_ADAPTER,
    Action,
    Autonomy,
    Plan,
    Priority,
    SourceHealth,
    SystemHealth,
    SystemState,
)
from director.operator_actions import halved, recorded_decision, with_quotes
from director.queries import Queries
from director.recent import recent_actions
from director.reconcile import Reconciler
from director.reporting import (
    ActionOutcome,
    ApprovalDecision,
    ApprovalRequest,
    CycleReport,
    Reporter,
    StateSummary,
)
from director.review import Reviewer
from director.rulebook import RuleSet
from director.sense import NewsSource, OpportunitySource, RiskSettings, Senser
from director.settings import Settings
from director.store import ActionStatus, ApprovalStatus, Store
from director.submit import Gateway, Submission

log = logging.getLogger(__name__)


class CycleInProgress(Exception):
    """A cycle is already running; requests are refused, not queued."""


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PanicResult:
    canceled: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class Director:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        exchange: Exchange,
        brain: Brain,
        reporter: Reporter,
        clock: Callable[[], datetime] = wall_clock,
        sources: Sequence[OpportunitySource] = (),
        news: NewsSource | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.exchange = exchange
        self.brain = brain
        self.reporter = reporter
        self.clock = clock
        self.senser = Senser(
            exchange,
            sources,
            news,
            timeout=settings.source_timeout_seconds,
            risk_settings=RiskSettings(
                max_exposure=settings.max_exposure, daily_loss_limit=settings.daily_loss_limit
            ),
        )
        self.reviewer = Reviewer(store, exchange, sample=settings.review_sample, clock=clock)
        self.halt_notice = HaltNotice()  # the operator hears of an exchange pause once
        # Orders of unknown outcome, settled against the exchange (director/reconcile.py).
        self.reconciler = Reconciler(
            store,
            exchange,
            clock,
            settle_seconds=settings.order_settle_seconds,
            on_approval=lambda decision: self.reporter.approval_settled(decision),
        )
        self.next_cycle_at: datetime | None = None
        # Extra resources to release on close (e.g. the news reader's HTTP client).
        self.closers: list[Callable[[], Awaitable[None]]] = []
        # Run after the store is closed: what must outlive it (the database's instance lock).
        self.final_closers: list[Callable[[], Awaitable[None]]] = []
        self._cycle_lock = asyncio.Lock()
        self._act_lock = asyncio.Lock()
        self._install_id: str | None = None
        # Actions from outside a plan (scripts' intents, operator commands): director/submit.py.
        self.gateway = Gateway(self)
        # The trader's scripts' heartbeats, when the local API is on (director/api/).
        self.heartbeats: Heartbeats | None = None
        self._states_forgotten_on: date | None = None

    # --- status ----------------------------------------------------------------------------

    @functools.cached_property
    def queries(self) -> Queries:
        """What an operator's face reads and asks (director/queries.py)."""
        return Queries(self)

    @property
    def running(self) -> bool:
        return self._cycle_lock.locked()

    async def autonomy(self) -> Autonomy:
        return await self.store.autonomy() or self.settings.autonomy

    async def ai_spend_today(self) -> Decimal:
        now = self.clock().astimezone(UTC)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return await self.store.llm_spend_since(midnight)

    def limits(self, rules: RuleSet) -> Limits:
        return Limits(
            max_order_contracts=self.settings.max_order_contracts,
            max_order_cost=self.settings.max_order_cost,
            max_exposure=self.settings.max_exposure,
            risk_limit=rules.thresholds.risk_limit,
        )

    async def sense(self, *, news: bool = True) -> SystemState:
        """A fresh State of the Union, not recorded (for /state and approval re-checks).
        `news=False` skips the news feeds (the guard never reads them; the local API's
        intents must not fetch every feed once per intent)."""
        now = self.clock()
        state = await self.senser.gather(
            now,
            safe_mode=await self.store.safe_mode(),
            autonomy=await self.autonomy(),
            equity_24h_ago=await self.store.equity_at(now - timedelta(hours=24)),
            news=news,
        )
        parked = await self._parked()
        if parked:
            state = state.model_copy(
                update={"awaiting_approval": sorted({m for _, m in parked.values() if m})}
            )
        state = await self.reconciler.annotate(state)
        ai = self.brain_status()
        if ai is None:
            return state
        # Not critical: when the AI is down the rules brain keeps trading, in limits.
        health = state.system_health
        sources = {**health.sources, "ai": SourceHealth(ok=not ai[0], detail=ai[1])}
        return state.model_copy(
            update={"system_health": SystemHealth(sources=sources, counters=health.counters)}
        )

    async def _parked(self) -> dict[int, tuple[str, str | None]]:
        """Pending approval id → (its action's key, its market)."""
        parked = {}
        for approval in await self.store.pending_approvals():
            action = await self.store.action(approval.action_id)
            if action is not None:
                parsed = ACTION_ADAPTER.validate_python(action.action)
                parked[approval.id] = (_action_key(parsed), action.market)
        return parked

    def brain_status(self) -> tuple[bool, str] | None:
        """(degraded, one-line summary) for a brain that reports its status (the AI router)."""
        status = getattr(self.brain, "status", None)
        if status is None:
            return None
        current = status()
        return bool(current.degraded), str(current.summary())

    # --- operator controls -----------------------------------------------------------------

    async def set_safe_mode(self, on: bool, by: str) -> None:
        await self.store.set_safe_mode(on, by)
        log.info("safe mode %s by %s", "on" if on else "off", by)

    async def set_paused(self, on: bool, by: str) -> None:
        await self.store.set_paused(on, by)
        log.info("%s by %s", "paused" if on else "resumed", by)

    async def set_autonomy(self, autonomy: Autonomy, by: str) -> None:
        await self.store.set_autonomy(autonomy, by)
        log.info("autonomy %s by %s", autonomy.value, by)

    async def panic(self, by: str) -> PanicResult:
        """Safe mode on, then cancel every resting order."""
        await self.set_safe_mode(True, by)
        result = PanicResult()
        async with self._act_lock:
            for order in await self.exchange.get_resting_orders():
                try:
                    await self.exchange.cancel_order(order.order_id)
                    result.canceled.append(order.order_id)
                except Exception as exc:
                    log.warning("panic: cancel %s failed: %s", order.order_id, exc)
                    result.failed.append(f"{order.order_id}: {exc}")
        return result

    # --- the cycle -------------------------------------------------------------------------

    async def run_cycle(self, trigger: str = "schedule") -> CycleReport:
        if self._cycle_lock.locked():
            raise CycleInProgress("a cycle is already running")
        async with self._cycle_lock:
            await self.expire_approvals()
            if trigger == "schedule" and await self.store.paused():
                now = self.clock()
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
            report = await self._cycle(trigger)
            await self._forget_old_states()
        try:
            await self.reporter.cycle_report(report)
        except Exception:
            log.exception("reporter failed to deliver cycle %s", report.cycle_id)
        return report

    async def _forget_old_states(self) -> None:
        """Once a UTC day, drop cycle states older than OMEGA_STATE_RETENTION_DAYS, so months
        of unattended cycles don't fill the disk. Never fails a cycle."""
        now = self.clock()
        if self._states_forgotten_on == now.date():
            return
        try:
            cutoff = now - timedelta(days=self.settings.state_retention_days)
            forgotten = await self.store.forget_states_before(cutoff)
        except Exception:
            log.exception("could not drop old cycle states; trying again tomorrow")
        else:
            if forgotten:
                log.info("dropped the states of %d cycle(s) before %s", forgotten, cutoff)
        self._states_forgotten_on = now.date()

    async def _cycle(self, trigger: str) -> CycleReport:
        started = self.clock()
        cycle_id = await self.store.start_cycle(started, trigger)
        crash_point("cycle:started")
        await self.reconciler.before_cycle()  # settle unclear orders before any new one
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        state: SystemState | None = None
        rules: RuleSet | None = None
        think = ThinkResult(plan=Plan.no_op("not reached"), brain="none")
        outcomes: list[ActionOutcome] = []
        # Outside actions since the last cycle, "… by <source>" (director/submit.py).
        alerts: list[str] = await self.gateway.report_lines(cycle_id)
        error: str | None = None
        try:
            state = await self.sense()
            timings["sense_ms"] = _ms(t0)
            if state.system_health.degraded:
                alerts.append(f"Health {state.system_health.summary()}: safe mode this cycle.")
            if (halt := self.halt_notice.update(state.trading_halt)) is not None:
                alerts.append(halt)

            t1 = time.perf_counter()
            rules = await self.store.active_rules()
            think = await self._think(state, rules, cycle_id)
            alerts.extend(think.alerts)
            timings["think_ms"] = _ms(t1)

            t2 = time.perf_counter()
            crash_point("cycle:thought")
            outcomes = await self._act(cycle_id, state, rules, think)
            timings["act_ms"] = _ms(t2)
        except Exception as exc:
            log.exception("cycle %s failed", cycle_id)
            error = f"{type(exc).__name__}: {exc}"[:500]
        timings["total_ms"] = _ms(t0)
        finished = self.clock()
        report = CycleReport(
            cycle_id=cycle_id,
            trigger=trigger,
            started_at=started,
            finished_at=finished,
            state=_summary(state) if state else None,
            reasoning=think.plan.reasoning,
            priority=think.plan.priority,
            brain=think.brain,
            model=think.model,
            cost_usd=think.cost_usd,
            rules_version=rules.version if rules else None,
            outcomes=outcomes,
            escalated=think.escalated,
            escalation_reason=think.escalation_reason,
            brain_error=think.error,
            alerts=alerts,
            timings_ms=timings,
            error=error,
        )
        await self.store.finish_cycle(
            cycle_id,
            finished_at=finished,
            status="failed" if error else "done",
            brain=think.brain,
            model=think.model,
            rules_version=report.rules_version,
            escalated=think.escalated,
            brain_error=think.error,
            cash=state.portfolio_cash if state else None,
            equity=state.equity if state else None,
            exposure=state.exposure if state else None,
            risk=state.current_risk_score if state else None,
            cost_usd=think.cost_usd,
            state_json=state.model_dump_json() if state else None,
            plan_json=think.plan.model_dump_json(),
            timings=timings,
            report=_report_dict(report),
            error=error,
        )
        return report

    async def _think(self, state: SystemState, rules: RuleSet, cycle_id: int) -> ThinkResult:
        try:
            recent = await recent_actions(self.store, cycle_id)
            context = ThinkContext(cycle_id, self.clock(), recent=recent)
            return await self.brain.think(state, rules, context)
        except Exception as exc:
            # A brain must never crash the loop: a no-op plan, and the operator is told.
            log.exception("brain %s failed", self.brain.name)
            message = f"{type(exc).__name__}: {exc}"[:300]
            return ThinkResult(
                plan=Plan.no_op(f"The brain failed ({message}); no actions this cycle."),
                brain=self.brain.name,
                error=message,
            )

    async def _act(
        self, cycle_id: int, state: SystemState, rules: RuleSet, think: ThinkResult
    ) -> list[ActionOutcome]:
        plan = think.plan
        block = (
            "brain failed and the fallback is safe: no new orders"
            if think.block_new_orders
            else None
        )
        install = await self.install_id()
        parked = {key: approval_id for approval_id, (key, _) in (await self._parked()).items()}
        outcomes = []
        async with self._act_lock:
            # Checked under the lock on what is unresolved now: an intent or an approval sent
            # during THINK may have left a market's order unknown.
            state = await self.reconciler.annotate(state)
            verdicts = check_plan(plan, state, self.limits(rules), block_new_exposure=block)
            for idx, (action, verdict) in enumerate(zip(plan.actions, verdicts, strict=True)):
                outcomes.append(
                    await self._act_one(
                        cycle_id, idx, action, verdict, state, think, install, parked
                    )
                )
        return outcomes

    async def _act_one(
        self,
        cycle_id: int,
        idx: int,
        action: Action,
        verdict: Verdict,
        state: SystemState,
        think: ThinkResult,
        install: str,
        parked: dict[str, int],
    ) -> ActionOutcome:
        """The shared disposition (director/disposition.py), as the cycle's brain asked."""
        asked = Asked(
            cycle_id=cycle_id,
            idx=idx,
            client_order_id=client_order_id(install, cycle_id, idx),
            priority=think.plan.priority,
            escalated=think.escalated,
        )
        return await dispose(self, asked, action, verdict, state, parked)

    async def install_id(self) -> str:
        if self._install_id is None:
            self._install_id = await self.store.install_id()
        return self._install_id

    async def submit_action(
        self, action: Action, *, origin: str, key: str | None = None, note: str = ""
    ) -> Submission:
        """An action from outside a brain's plan, through the same guard, policy and executors
        (director/submit.py); `key` makes a repeat a duplicate, never a second order."""
        return await self.gateway.submit(action, origin=origin, key=key, note=note)

    # --- approvals -------------------------------------------------------------------------

    async def pending_approvals(self) -> list[ApprovalRequest]:
        requests = []
        for approval in await self.store.pending_approvals():
            action = await self.store.action(approval.action_id)
            if action is None:
                continue
            parsed = ACTION_ADAPTER.validate_python(action.action)
            parked = action.outcome or {}
            cost = Decimal(str(parked["cost"])) if parked.get("cost") else None
            requests.append(
                ApprovalRequest(
                    approval_id=approval.id,
                    action_id=action.id,
                    cycle_id=approval.cycle_id,
                    # "… by rebalancer" for an action from outside a plan (director/submit.py)
                    description=parsed.describe()
                    + (f" by {parked['by']}" if "by" in parked else ""),
                    reason=action.reason,
                    cost=cost or None,
                    expires_at=approval.expires_at,
                    market_title=str(parked.get("title") or ""),
                )
            )
        return requests

    async def expire_approvals(self) -> list[ApprovalDecision]:
        decisions = []
        for approval in await self.store.expire_approvals(self.clock()):
            action = await self.store.action(approval.action_id)
            description = ""
            if action is not None:
                description = ACTION_ADAPTER.validate_python(action.action).describe()
            decision = ApprovalDecision(
                approval_id=approval.id,
                ok=False,
                status=ApprovalStatus.EXPIRED.value,
                message=f"Expired at {approval.expires_at:%Y-%m-%d %H:%M} UTC: not executed.",
                description=description,
            )
            decisions.append(decision)
            try:
                await self.reporter.approval_settled(decision)
            except Exception:
                log.exception("reporter failed to update expired approval %s", approval.id)
        return decisions

    async def decide_approval(
        self, approval_id: int, user: str, approve: bool, *, half: bool = False
    ) -> ApprovalDecision:
        """A human pressed Approve or Reject (or Approve ½: half the quantity, re-checked).
        Exactly one press of any number is taken."""
        now = self.clock()
        approval = await self.store.approval(approval_id)
        if approval is None:
            return ApprovalDecision(approval_id, False, "unknown", "No such approval.")
        action = await self.store.action(approval.action_id)
        if action is None:
            return ApprovalDecision(approval_id, False, "unknown", "Its action is gone.")
        try:
            parsed = ACTION_ADAPTER.validate_python(action.action)
        except ValidationError:
            return ApprovalDecision(approval_id, False, "unknown", "Its action is unreadable.")
        if half and approve:
            resized = halved(parsed)
            if resized is None:
                return ApprovalDecision(approval_id, False, "unknown", "This can't be halved.")
            parsed = resized
        description = parsed.describe()

        def decision(ok: bool, status: ApprovalStatus | str, message: str) -> ApprovalDecision:
            return ApprovalDecision(
                approval_id=approval_id,
                ok=ok,
                status=str(status),
                message=message,
                decided_by=user,
                description=description,
            )

        if approval.status is not ApprovalStatus.PENDING:
            # The recorded outcome, by whoever decided it: never the second presser.
            return recorded_decision(approval, description)
        if approval.expired(now):
            await self.expire_approvals()
            return decision(False, ApprovalStatus.EXPIRED, "This approval has expired.")
        if not approve:
            if not await self.store.claim_approval(
                approval_id, to=ApprovalStatus.REJECTED, by=user, now=now
            ):
                return decision(False, "taken", "Someone else decided it first.")
            await self.store.settle_approval(approval_id, ApprovalStatus.REJECTED, "rejected")
            await self.store.update_action(action.id, status=ActionStatus.REJECTED, now=now)
            return decision(True, ApprovalStatus.REJECTED, f"Rejected by {user}.")
        if not await self.store.claim_approval(
            approval_id, to=ApprovalStatus.EXECUTING, by=user, now=now
        ):
            return decision(False, "taken", "Someone else decided it first.")
        crash_point("approval:claimed")
        async with self._act_lock:
            try:
                # It was in the State of the Union when parked: what a scanner says a second
                # later must not undo that (open market and every limit still hold).
                admitted = frozenset({action.market}) if action.market else frozenset()
                state = await with_quotes(self.exchange, await self.sense(), admitted)
                rules = await self.store.active_rules()
                verdict = check_action(parsed, state, self.limits(rules), admitted=admitted)
            except Exception as exc:
                log.exception("approval %s re-check failed", approval_id)
                verdict = Verdict(allowed=False, reason=f"re-check failed: {exc}")
            if not verdict.allowed or verdict.noop:
                why = f"Re-check on fresh state blocked it: {verdict.reason}. Not executed."
                await self.store.settle_approval(approval_id, ApprovalStatus.BLOCKED, why)
                await self.store.update_action(
                    action.id, status=ActionStatus.BLOCKED, now=self.clock(), reason=verdict.reason
                )
                return decision(False, ApprovalStatus.BLOCKED, why)
            coid = action.client_order_id or client_order_id(
                await self.install_id(), action.cycle_id, action.idx
            )
            # Recorded before and after the exchange call (director/execution.py).
            result = await send_recorded(
                self.store, self.exchange, self.clock, action.id, verdict, coid, approved=True
            )
        if result.ok:
            await self.store.settle_approval(approval_id, ApprovalStatus.APPROVED, result.detail)
            return decision(True, ApprovalStatus.APPROVED, f"Approved by {user}: {result.detail}")
        if result.unknown:
            why = f"{result.detail}; checking the exchange before any new order on it"
            await self.store.settle_approval(approval_id, ApprovalStatus.UNKNOWN, why)
            return decision(False, ApprovalStatus.UNKNOWN, f"Approved by {user}, but {why}")
        await self.store.settle_approval(approval_id, ApprovalStatus.FAILED, result.detail)
        return decision(False, ApprovalStatus.FAILED, f"Approved by {user}, but {result.detail}")

    async def close(self) -> None:
        for closer in (
            *self.closers,
            self.brain.close,
            self.exchange.close,
            self.store.close,
            *self.final_closers,
        ):
            try:
                await closer()
            except Exception:
                log.exception("error while closing")


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)


def _summary(state: SystemState) -> StateSummary:
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


def _report_dict(report: CycleReport) -> dict[str, object]:
    return asdict(report)
