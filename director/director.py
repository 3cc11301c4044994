"""The Director: one cycle is sense → think → guard → act/park → record → report.

Cycles never overlap: a second request while one runs is refused, not queued. The ACT phase and
approval executions share one lock so two executions never interleave, while an approval pressed
during a cycle's (possibly long) THINK phase executes at once.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from director.approvals import Approvals
from director.brains.base import Brain
from director.clock import Clock, wall_clock
from director.cycle import paused_report, run_cycle_body
from director.disposition import Parked
from director.exchanges.base import Exchange
from director.exchanges.status import HaltNotice
from director.guard import Limits
from director.heartbeats import Heartbeats
from director.models import Action, Autonomy, SourceHealth, SystemHealth, SystemState
from director.queries import Queries
from director.reconcile import Reconciler
from director.reporting import ApprovalDecision, ApprovalRequest, CycleReport, Reporter
from director.review import Reviewer
from director.rulebook import RuleSet
from director.sense import NewsSource, OpportunitySource, RiskSettings, Senser
from director.settings import Settings
from director.store import Store
from director.submit import Gateway, Submission

log = logging.getLogger(__name__)


class CycleInProgress(Exception):
    """A cycle is already running; requests are refused, not queued."""


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
        clock: Clock = wall_clock,
        sources: Sequence[OpportunitySource] = (),
        news: NewsSource | None = None,
        resources: AsyncExitStack | None = None,
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
        # What close() releases, newest first. The wiring (director/app.py) passes the stack it
        # opened the parts on (the instance lock under the store, the local API on top); by
        # default the brain, then the exchange, then the store.
        if resources is None:
            resources = AsyncExitStack()
            for part in (store, exchange, brain):
                resources.push_async_callback(part.close)
        self.resources = resources
        self._cycle_lock = asyncio.Lock()
        # The ACT lock: one execution at a time (a cycle's ACT, an approval, an outside action).
        self.act_lock = asyncio.Lock()
        self._install_id: str | None = None
        # Actions from outside a plan (scripts' intents, operator commands): director/submit.py.
        self.gateway = Gateway(self)
        # What waits for a human, and a press of Approve or Reject (director/approvals.py).
        self.approvals = Approvals(self)
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
        return Limits.from_settings(self.settings, rules)

    async def sense(self, *, news: bool = True, parked: Parked | None = None) -> SystemState:
        """A fresh State of the Union, not recorded (for /state and approval re-checks).
        `news=False` skips the news feeds (the guard never reads them; the local API's
        intents must not fetch every feed once per intent). `parked`: what waits for approval,
        when the caller has read it already (a cycle reads it once)."""
        now = self.clock()
        state = await self.senser.gather(
            now,
            safe_mode=await self.store.safe_mode(),
            autonomy=await self.autonomy(),
            equity_24h_ago=await self.store.equity_at(now - timedelta(hours=24)),
            news=news,
        )
        parked = parked if parked is not None else await self.approvals.parked()
        if parked.markets:
            state = state.model_copy(update={"awaiting_approval": list(parked.markets)})
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
        async with self.act_lock:
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
                return paused_report(trigger, self.clock())
            # sense → think → guard → act/park → record (director/cycle.py)
            report = await run_cycle_body(self, trigger)
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
        return await self.approvals.pending()

    async def expire_approvals(self) -> list[ApprovalDecision]:
        return await self.approvals.expire()

    async def decide_approval(
        self, approval_id: int, user: str, approve: bool, *, half: bool = False
    ) -> ApprovalDecision:
        """A human pressed Approve or Reject (or Approve ½): director/approvals.py."""
        return await self.approvals.decide(approval_id, user, approve, half=half)

    async def close(self) -> None:
        """Release every resource, newest first; one that fails does not keep the rest open."""
        try:
            await self.resources.aclose()
        except Exception:
            log.exception("error while closing")
