"""The brain the director uses when the claude brain is selected: Claude, within budget and
while it answers; otherwise the fallback, with the operator told once.

- Budget: before each cycle the day's spend (UTC) is read through the UsageLedger. At or past
  OMEGA_DAILY_BUDGET_USD the fallback brain (the rules brain) plans until the next UTC day,
  and one alert says so. The cap is checked per cycle, so one cycle can overshoot it by at
  most its own cost.
- Failures: when the Claude brain can't be reached or fails unexpectedly, the cycle falls back
  per OMEGA_BRAIN_FALLBACK: `rules` asks the fallback brain; `safe` returns a no-op plan with
  block_new_orders set. ThinkResult.error says the AI failed. One alert when an outage starts,
  one when Claude answers again; nothing in between.
- A plan that did not validate is not an outage (the API answered); ClaudeBrain reports it
  through ThinkResult.error on its own no-op plan.

- Misconfiguration (HTTP 400/401/403/404/413: a bad key, an unknown model, no access, a request
  the API refuses): the same fallback, but the alert says what to fix, /state shows it until a
  call succeeds, and the API is tried again only every OMEGA_AI_MISCONFIGURED_RETRY_SECONDS,
  not every cycle as if it would pass.
- Unchanged world (OMEGA_SKIP_UNCHANGED): when nothing material changed since the last cycle
  Claude planned (brains/unchanged.py) and no order is stale, no call is made and the cycle
  reports "unchanged since cycle N".

The ClaudeBrain records its calls through the ledger itself, as each one returns; this
router only reads spend, so nothing is counted twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from director.brains.base import (
    Brain,
    LLMCall,
    ThinkContext,
    ThinkResult,
    UsageLedger,
    day_start,
)
from director.brains.claude_errors import BrainUnavailable
from director.brains.unchanged import fingerprint, has_stale_orders
from director.clock import Clock, wall_clock
from director.describe import clip, describe_error
from director.models import Plan, SystemState
from director.rulebook import RuleSet
from director.settings import Settings

log = logging.getLogger(__name__)

Mode = Literal["claude", "fallback", "over_budget", "misconfigured", "unchanged"]


@dataclass(frozen=True)
class BrainStatus:
    """What /state and health show about the AI."""

    mode: Mode
    degraded: bool
    budget_usd: Decimal
    spent_today_usd: Decimal | None  # as last read; None before the first cycle
    last_error: str | None
    down_since: datetime | None
    failed_cycles: int
    retry_at: datetime | None = None  # set while misconfigured: the next API attempt

    def summary(self) -> str:
        spend = (
            "spend unknown"
            if self.spent_today_usd is None
            else f"${self.spent_today_usd:.2f} of ${self.budget_usd:.2f} today"
        )
        if self.mode == "over_budget":
            return f"AI over budget ({spend}): rules brain until 00:00 UTC"
        if self.retry_at is not None:
            since = f" since {self.down_since:%H:%M} UTC" if self.down_since else ""
            return (
                f"AI MISCONFIGURED{since} ({self.last_error}); next try "
                f"{self.retry_at:%H:%M} UTC; {spend}"
            )
        if self.degraded:
            since = f" since {self.down_since:%H:%M} UTC" if self.down_since else ""
            return f"AI DEGRADED{since} ({self.last_error}); {spend}"
        return f"AI ok; {spend}"


class RoutedBrain:
    name = "claude"

    def __init__(
        self,
        primary: Brain,
        fallback: Brain,
        ledger: UsageLedger,
        settings: Settings,
        clock: Clock = wall_clock,
    ) -> None:
        self._primary = primary
        self._fallback = fallback
        self._ledger = ledger
        self._budget = settings.daily_budget_usd
        self._on_failure = settings.brain_fallback
        self._skip_unchanged = settings.skip_unchanged
        self._misconfigured_retry = timedelta(seconds=settings.ai_misconfigured_retry_seconds)
        self._clock = clock
        self._mode: Mode = "claude"
        self._budget_alerted_for: date | None = None
        self._spent: Decimal | None = None
        self._down_since: datetime | None = None
        self._last_error: str | None = None
        self._failed_cycles = 0
        self._retry_at: datetime | None = None
        # (fingerprint of the state, cycle id) of the last cycle Claude planned.
        self._planned: tuple[str, int] | None = None

    @property
    def degraded(self) -> bool:
        """The AI failed on its last attempt and has not answered since."""
        return self._down_since is not None

    def status(self) -> BrainStatus:
        return BrainStatus(
            mode=self._mode,
            degraded=self.degraded,
            budget_usd=self._budget,
            spent_today_usd=self._spent,
            last_error=self._last_error,
            down_since=self._down_since,
            failed_cycles=self._failed_cycles,
            retry_at=self._retry_at,
        )

    async def close(self) -> None:
        try:
            await self._primary.close()
        finally:
            await self._fallback.close()

    async def think(self, state: SystemState, rules: RuleSet, context: ThinkContext) -> ThinkResult:
        now = self._clock()
        key = fingerprint(state, rules) if self._skip_unchanged else None
        planned = self._planned
        if planned is not None and key == planned[0] and not has_stale_orders(state, rules):
            return self._unchanged(planned[1])
        try:
            self._spent = await self._ledger.llm_spend_since(day_start(now))
        except Exception as exc:
            # Without the day's spend the cap can't be honoured: no AI call this cycle.
            log.exception("cannot read today's AI spend")
            result = await self._run_fallback(state, rules, context)
            result.error = clip(
                f"cannot read today's AI spend ({type(exc).__name__}); "
                f"{result.brain} planned this cycle",
                300,
            )
            return result

        if self._spent >= self._budget:
            return await self._over_budget(state, rules, context, now)
        if self._retry_at is not None and now < self._retry_at:
            return await self._while_misconfigured(state, rules, context)
        self._mode = "claude"

        try:
            result = await self._primary.think(state, rules, context)
        except BrainUnavailable as exc:
            if exc.misconfigured:
                return await self._on_misconfiguration(state, rules, context, now, exc)
            return await self._on_outage(state, rules, context, now, exc.message, exc.calls)
        except Exception as exc:
            # A bug or an SDK surprise must not stop the loop: same path as an outage.
            log.exception("the claude brain failed unexpectedly")
            reason = describe_error(exc)
            return await self._on_outage(state, rules, context, now, reason, [])

        self._recovered(result)
        if key is not None and result.error is None:
            self._planned = (key, context.cycle_id)
        return result

    def _unchanged(self, since: int) -> ThinkResult:
        self._mode = "unchanged"
        return ThinkResult(
            plan=Plan.no_op(
                f"Unchanged since cycle {since}: nothing material moved and no order is stale, "
                "so no AI call this cycle."
            ),
            brain="claude (unchanged)",
        )

    def _recovered(self, result: ThinkResult) -> None:
        if self._down_since is None:
            return
        result.alerts.append(
            f"Claude brain recovered: answering again after {self._failed_cycles} "
            f"cycle(s) on the fallback (down since {self._down_since:%Y-%m-%d %H:%M} UTC)."
        )
        log.info("claude brain recovered")
        self._down_since, self._failed_cycles, self._last_error = None, 0, None
        self._retry_at = None

    async def _on_misconfiguration(
        self,
        state: SystemState,
        rules: RuleSet,
        context: ThinkContext,
        now: datetime,
        exc: BrainUnavailable,
    ) -> ThinkResult:
        first = self._retry_at is None
        self._retry_at = now + self._misconfigured_retry
        self._failed_cycles += 1
        self._last_error = exc.message
        self._down_since = self._down_since or now
        log.error("claude brain misconfigured (%s); next try %s", exc.message, self._retry_at)
        result = await self._while_misconfigured(state, rules, context)
        result.calls = [*exc.calls, *result.calls]
        if first:
            minutes = int(self._misconfigured_retry.total_seconds() // 60)
            result.alerts.insert(
                0,
                f"Claude brain misconfigured: {exc.message}. This will not pass by itself: "
                f"fix the setting named and restart. Until then the {self._fallback.name} brain "
                f"plans and the API is tried again every {minutes} min.",
            )
        return result

    async def _while_misconfigured(
        self, state: SystemState, rules: RuleSet, context: ThinkContext
    ) -> ThinkResult:
        self._mode = "misconfigured"
        result = await self._run_fallback(state, rules, context, label="misconfigured")
        result.error = clip(f"AI brain misconfigured: {self._last_error}", 400)
        return result

    async def _over_budget(
        self, state: SystemState, rules: RuleSet, context: ThinkContext, now: datetime
    ) -> ThinkResult:
        self._mode = "over_budget"
        result = await self._run_fallback(state, rules, context, label="budget")
        today = now.astimezone(UTC).date()
        if self._budget_alerted_for != today:
            self._budget_alerted_for = today
            result.alerts.insert(
                0,
                f"AI budget reached: ${self._spent or 0:.2f} of ${self._budget:.2f} spent today "
                "(UTC). The rules brain plans until 00:00 UTC; raise OMEGA_DAILY_BUDGET_USD "
                "to resume sooner.",
            )
            log.warning("AI daily budget reached; rules brain until the next UTC day")
        return result

    async def _on_outage(
        self,
        state: SystemState,
        rules: RuleSet,
        context: ThinkContext,
        now: datetime,
        reason: str,
        calls: list[LLMCall],
    ) -> ThinkResult:
        self._mode = "fallback"
        self._failed_cycles += 1
        self._last_error = reason
        first = self._down_since is None
        if first:
            self._down_since = now
        log.warning("claude brain unavailable (%s); fallback: %s", reason, self._on_failure)

        if self._on_failure == "safe":
            result = ThinkResult(
                plan=Plan.no_op(
                    f"The AI brain is unavailable ({reason}). Safe fallback: no new orders "
                    "this cycle."
                ),
                brain="claude→safe",
                block_new_orders=True,
            )
            consequence = "Safe fallback: no new orders until it recovers."
        else:
            result = await self._run_fallback(state, rules, context)
            consequence = f"The {self._fallback.name} brain plans until it recovers."
        result.error = clip(f"AI brain failed: {reason}", 400)
        result.calls = [*calls, *result.calls]
        if first:
            result.alerts.insert(0, f"Claude brain unavailable: {reason}. {consequence}")
        return result

    async def _run_fallback(
        self, state: SystemState, rules: RuleSet, context: ThinkContext, label: str = ""
    ) -> ThinkResult:
        brain = f"claude→{self._fallback.name}" + (f" ({label})" if label else "")
        try:
            result = await self._fallback.think(state, rules, context)
        except Exception as exc:
            log.exception("the fallback brain failed too")
            reason = describe_error(exc)
            return ThinkResult(
                plan=Plan.no_op(f"The fallback brain failed ({reason}); no new orders."),
                brain=brain,
                block_new_orders=True,
                error=f"fallback brain failed: {reason}",
            )
        result.brain = brain
        return result
