"""The `claude` brain: three model tiers through the official anthropic SDK.

- planner (Sonnet class): every cycle's plan;
- escalation (Opus class): when the planner sets requires_opus_consult, or a condition computed
  in code holds (brains/escalation.py), it sees the state and the planner's plan and returns
  the plan to act on; every action of an escalated plan waits for a human;
- executor (Haiku class): only for a place_order whose price or quantity the plan left null.

Each is one structured question (brains/structured.py): JSON outputs against a schema derived
from the pydantic models, validated, one repair, and otherwise a no-op plan with
ThinkResult.error set so the operator is told. An API failure raises BrainUnavailable; the
RoutedBrain turns that into the fallback. The whole THINK has a deadline
(OMEGA_AI_CYCLE_DEADLINE_SECONDS), so a slow API can't stretch a cycle.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from anthropic import AsyncAnthropic

from director.brains.base import ThinkContext, ThinkResult, Tier, UsageLedger, day_start
from director.brains.claude_errors import BrainUnavailable
from director.brains.escalation import escalation_reasons
from director.brains.plan_parsing import PlanParseError, parse_action, validate_plan
from director.brains.plan_schema import order_schema, plan_schema
from director.brains.pricing import PriceTable
from director.brains.prompt import (
    EXECUTOR_SYSTEM,
    StateLimits,
    escalation_message,
    executor_message,
    planner_message,
    static_prefix,
)
from director.brains.structured import Asker, Calls, Question
from director.clock import Clock, wall_clock
from director.describe import clip
from director.guard import Limits
from director.models import Action, PlaceOrder, Plan, SystemState
from director.rulebook import DEFAULT_RULESET, RuleSet
from director.settings import Settings

log = logging.getLogger(__name__)

# Thinking tokens count toward max_tokens: each budget leaves room for the effort's thinking
# on top of the answer (a plan is under ~1,500 tokens of JSON).
PLANNER_MAX_TOKENS = 16_000
ESCALATION_MAX_TOKENS = 32_000
EXECUTOR_MAX_TOKENS = 4_000
# Bounds what one cycle can spend on the executor tier whatever the planner proposes.
MAX_EXECUTOR_CALLS = 5


class ClaudeBrain:
    name = "claude"

    def __init__(
        self,
        settings: Settings,
        *,
        ledger: UsageLedger | None = None,
        clock: Clock = wall_clock,
        client: AsyncAnthropic | None = None,
        prices: PriceTable | None = None,
        state_limits: StateLimits | None = None,
        monotonic: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._settings = settings
        self._ledger = ledger
        self._clock = clock
        self._state_limits = state_limits or StateLimits()
        # The guard's limits under the rules of the think in progress (cycles never overlap);
        # the executor tier reads them too.
        self._limits = Limits.from_settings(settings, DEFAULT_RULESET)
        self._owns_client = client is None
        self._client = client or _client_from(settings)
        self.asker = Asker(
            self._client,
            settings,
            prices=prices or PriceTable(settings.model_prices),
            ledger=ledger,
            clock=clock,
            monotonic=monotonic,
        )

    async def close(self) -> None:
        if self._owns_client:
            await self._client.close()

    async def think(self, state: SystemState, rules: RuleSet, context: ThinkContext) -> ThinkResult:
        calls = Calls(context.cycle_id)
        deadline = self._settings.ai_cycle_deadline_seconds
        try:
            async with asyncio.timeout(deadline):
                return await self._think(state, rules, context, calls)
        except TimeoutError:
            raise BrainUnavailable(
                f"the cycle's AI deadline of {deadline:g}s passed "
                "(OMEGA_AI_CYCLE_DEADLINE_SECONDS)",
                list(calls.made),
            ) from None

    async def _think(
        self, state: SystemState, rules: RuleSet, context: ThinkContext, calls: Calls
    ) -> ThinkResult:
        settings = self._settings
        self._limits = Limits.from_settings(settings, rules)
        system = static_prefix(rules, self._limits)
        plan, error = await self.asker.ask(
            self._plan_question(
                "think",
                "planner",
                settings.model_planner,
                system,
                planner_message(state, self._state_limits, context, self._limits),
            ),
            calls,
        )
        if plan is None:
            return self._failed(calls, settings.model_planner, f"planner: {error}")

        reasons = escalation_reasons(plan, state, rules)
        if plan.requires_opus_consult:
            reasons.insert(0, "the planner requested an Opus consult")
        if not reasons:
            return await self._finish(calls, plan, state, settings.model_planner)
        reason = "; ".join(reasons) + ". " + clip(plan.reasoning, 200)
        if await self._budget_spent():
            # The consult is skipped, not the caution: every action still waits for a human.
            reason = f"consult not made, the daily AI budget is spent ({reason})"
            return await self._finish(calls, plan, state, settings.model_planner, reason)
        final, error = await self.asker.ask(
            self._plan_question(
                "escalate",
                "escalation",
                settings.model_escalation,
                system,
                escalation_message(state, plan, self._state_limits, context, self._limits),
            ),
            calls,
        )
        if final is None:
            result = self._failed(calls, settings.model_escalation, f"escalation: {error}")
            result.escalated, result.escalation_reason = True, reason
            return result
        return await self._finish(calls, final, state, settings.model_escalation, reason)

    def _plan_question(
        self, purpose: str, tier: Tier, model: str, system: str, user: str
    ) -> Question[Plan]:
        escalation = tier == "escalation"
        return Question(
            purpose=purpose,
            tier=tier,
            model=model,
            effort=(
                self._settings.effort_escalation if escalation else self._settings.effort_planner
            ),
            system=system,
            user=user,
            schema=plan_schema(),
            max_tokens=ESCALATION_MAX_TOKENS if escalation else PLANNER_MAX_TOKENS,
            parse=validate_plan,
        )

    async def _finish(
        self, calls: Calls, plan: Plan, state: SystemState, model: str, reason: str = ""
    ) -> ThinkResult:
        plan, problems = await self._complete_orders(calls, plan, state)
        return ThinkResult(
            plan=plan,
            brain=self.name,
            model=model,
            escalated=bool(reason),
            escalation_reason=clip(reason, 600),
            error="; ".join(problems) or None,
            calls=calls.made,
        )

    def _failed(self, calls: Calls, model: str, error: str) -> ThinkResult:
        message = f"the AI's plan did not validate after one repair ({error})"
        return ThinkResult(
            plan=Plan.no_op(f"No actions this cycle: {message}."),
            brain=self.name,
            model=model,
            error=clip(message, 600),
            calls=calls.made,
        )

    async def _budget_spent(self) -> bool:
        """Asked before a cycle's optional calls (escalation, executor), so one cycle can't
        run far past OMEGA_DAILY_BUDGET_USD: the router checks only before the planner."""
        if self._ledger is None:
            return False
        try:
            spent = await self._ledger.llm_spend_since(day_start(self._clock()))
        except Exception:
            log.exception("cannot read today's AI spend; skipping optional AI calls")
            return True
        return spent >= self._settings.daily_budget_usd

    # --- the executor tier ---------------------------------------------------------------

    async def _complete_orders(
        self, calls: Calls, plan: Plan, state: SystemState
    ) -> tuple[Plan, list[str]]:
        """Fill in every place_order left with a null price or quantity; an order that can't
        be completed is dropped and named in the returned problems."""
        actions: list[Action] = []
        problems: list[str] = []
        fills = 0
        for action in plan.actions:
            if not isinstance(action, PlaceOrder) or not _incomplete(action):
                actions.append(action)
                continue
            problem = await self._unfillable(action, state, fills)
            if problem:
                problems.append(f"{action.describe()} dropped: {problem}")
                continue
            fills += 1
            market = state.markets[action.details.market]
            filled, error = await self.asker.ask(
                Question(
                    purpose="fill",
                    tier="executor",
                    model=self._settings.model_executor,
                    effort=self._settings.effort_executor,
                    system=EXECUTOR_SYSTEM,
                    user=executor_message(plan, action, market, state, self._limits),
                    schema=order_schema(),
                    max_tokens=EXECUTOR_MAX_TOKENS,
                    parse=functools.partial(filled_order, original=action),
                ),
                calls,
            )
            if filled is None:
                problems.append(
                    f"{action.describe()} dropped: the executor's answer did not validate ({error})"
                )
                continue
            actions.append(filled)
        if fills == 0 and not problems:
            return plan, []
        return plan.model_copy(update={"actions": actions}), problems

    async def _unfillable(self, action: PlaceOrder, state: SystemState, fills: int) -> str:
        market = state.markets.get(action.details.market)
        if market is None:
            return "no quote for the market to complete it from"
        if not market.is_open:
            return f"the market is {market.status.value}"
        if fills >= MAX_EXECUTOR_CALLS:
            return f"more than {MAX_EXECUTOR_CALLS} orders to fill"
        if await self._budget_spent():
            return "the daily AI budget is spent"
        return ""


def filled_order(answer: Any, original: PlaceOrder) -> PlaceOrder:
    """The executor may only fill blanks: market and side stay the planner's, and a value the
    planner set is kept whatever the executor says."""
    if not isinstance(answer, dict):
        raise PlanParseError("the answer must be a JSON object")
    details = original.details
    price = details.price if details.price is not None else answer.get("price")
    quantity = details.quantity if details.quantity is not None else answer.get("quantity")
    if price is None or quantity is None:
        missing = " and ".join(
            n for n, v in (("price", price), ("quantity", quantity)) if v is None
        )
        raise PlanParseError(f"{missing} missing from the answer")
    action = parse_action(
        {
            "action_type": "place_order",
            "details": {
                "market": details.market,
                "side": details.side.value,
                "price": price,
                "quantity": quantity,
            },
        }
    )
    assert isinstance(action, PlaceOrder)  # the action_type above decides the union member
    return action


def _client_from(settings: Settings) -> AsyncAnthropic:
    if settings.anthropic_api_key is None:
        raise ValueError("ANTHROPIC_API_KEY: required for the claude brain")
    return AsyncAnthropic(
        api_key=settings.anthropic_api_key.get_secret_value(),
        base_url=settings.anthropic_base_url,
        timeout=settings.ai_timeout_seconds,
        max_retries=settings.ai_max_retries,
    )


def _incomplete(action: PlaceOrder) -> bool:
    return action.details.price is None or action.details.quantity is None
