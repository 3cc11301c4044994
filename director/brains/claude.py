"""The `claude` brain: three model tiers through the official anthropic SDK.

- planner (Sonnet class): every cycle's plan;
- executor (Haiku class): only for a place_order the plan left without price or quantity;
- escalation (Opus class): when the planner sets requires_opus_consult, it sees the state and
  the planner's plan and returns the plan to act on.

Answers are untrusted input: a plan arrives through a forced `submit_plan` tool (a text answer
holding JSON is accepted too), goes through plan_parsing and the pydantic Plan, gets one repair
request quoting the validation error, and is otherwise replaced by a no-op plan with
ThinkResult.error set, so the operator is told. An API failure (connection, timeout, 429, 529,
5xx after the SDK's retries, auth) raises BrainUnavailable; the RoutedBrain turns that into the
fallback. Every call is recorded through the UsageLedger the moment it returns, so spend is
counted even if a later step of the cycle fails.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import anthropic
from anthropic import AsyncAnthropic
from anthropic.types import (
    Message,
    MessageParam,
    TextBlock,
    TextBlockParam,
    ToolChoiceToolParam,
    ToolParam,
    ToolUseBlock,
)

from director.brains.base import (
    LLMCall,
    ThinkContext,
    ThinkResult,
    Tier,
    UsageLedger,
    day_start,
)
from director.brains.plan_parsing import (
    PlanParseError,
    extract_json_object,
    parse_action,
    parse_plan,
)
from director.brains.pricing import PriceTable, TokenUsage
from director.brains.prompt import (
    EXECUTOR_SYSTEM,
    ORDER_TOOL_NAME,
    PLAN_TOOL_NAME,
    GuardLimits,
    StateLimits,
    escalation_message,
    executor_message,
    order_tool,
    plan_tool,
    planner_message,
    system_blocks,
)
from director.models import Action, PlaceOrder, Plan, SystemState
from director.rulebook import RuleSet
from director.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

PLANNER_MAX_TOKENS = 2048
ESCALATION_MAX_TOKENS = 4096
EXECUTOR_MAX_TOKENS = 300
# Bounds what one cycle can spend on the executor tier whatever the planner proposes.
MAX_EXECUTOR_CALLS = 5


class BrainUnavailable(Exception):
    """The Messages API could not be used this cycle. `calls` holds every call made before
    (and including) the one that failed, all already recorded through the ledger."""

    def __init__(self, message: str, calls: list[LLMCall]) -> None:
        super().__init__(message)
        self.message = message
        self.calls = calls


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Cycle:
    """Per-think bookkeeping: the calls made so far."""

    context: ThinkContext
    calls: list[LLMCall] = field(default_factory=list)


class ClaudeBrain:
    name = "claude"

    def __init__(
        self,
        settings: Settings,
        *,
        ledger: UsageLedger | None = None,
        clock: Callable[[], datetime] = _utc_now,
        client: AsyncAnthropic | None = None,
        prices: PriceTable | None = None,
        state_limits: StateLimits | None = None,
        monotonic: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._settings = settings
        self._ledger = ledger
        self._clock = clock
        self._monotonic = monotonic
        self._prices = prices or PriceTable(settings.model_prices)
        self._limits = GuardLimits.from_settings(settings)
        self._state_limits = state_limits or StateLimits()
        self._owns_client = client is None
        self._client = client or _client_from(settings)
        for model in (settings.model_planner, settings.model_executor, settings.model_escalation):
            if not self._prices.known(model):
                log.warning(
                    "no price for model %s: its calls are counted at the dearest known rate",
                    model,
                )

    async def close(self) -> None:
        if self._owns_client:
            await self._client.close()

    async def think(self, state: SystemState, rules: RuleSet, context: ThinkContext) -> ThinkResult:
        cycle = _Cycle(context)
        settings = self._settings
        system = system_blocks(rules, self._limits)
        tool = plan_tool()

        plan, error = await self._ask(
            cycle,
            purpose="think",
            tier="planner",
            model=settings.model_planner,
            system=system,
            user=planner_message(state, self._state_limits),
            tool=tool,
            max_tokens=PLANNER_MAX_TOKENS,
            parse=_plan_from,
        )
        if plan is None:
            return self._failed(cycle, settings.model_planner, f"planner: {error}")

        model = settings.model_planner
        escalated = False
        reason = ""
        if plan.requires_opus_consult and await self._budget_spent():
            # The consult is skipped, not the caution: every action still waits for a human.
            escalated = True
            reason = (
                "planner requested an Opus consult, not made: the daily AI budget is spent; "
                "the planner's plan waits for approval. " + _clip(plan.reasoning, 200)
            )
        elif plan.requires_opus_consult:
            escalated = True
            reason = "planner requested an Opus consult: " + _clip(plan.reasoning, 240)
            model = settings.model_escalation
            final, error = await self._ask(
                cycle,
                purpose="escalate",
                tier="escalation",
                model=model,
                system=system,
                user=escalation_message(state, plan, self._state_limits),
                tool=tool,
                max_tokens=ESCALATION_MAX_TOKENS,
                parse=_plan_from,
            )
            if final is None:
                result = self._failed(cycle, model, f"escalation: {error}")
                result.escalated, result.escalation_reason = True, reason
                return result
            plan = final

        plan, problems = await self._complete_orders(cycle, plan, state)
        return ThinkResult(
            plan=plan,
            brain=self.name,
            model=model,
            escalated=escalated,
            escalation_reason=reason,
            error="; ".join(problems) or None,
            calls=cycle.calls,
        )

    def _failed(self, cycle: _Cycle, model: str, error: str) -> ThinkResult:
        message = f"the AI's plan did not validate after one repair ({error})"
        return ThinkResult(
            plan=Plan.no_op(f"No actions this cycle: {message}."),
            brain=self.name,
            model=model,
            error=_clip(message, 600),
            calls=cycle.calls,
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
        self, cycle: _Cycle, plan: Plan, state: SystemState
    ) -> tuple[Plan, list[str]]:
        """Fill in every place_order missing price or quantity; an order that can't be
        completed is dropped and named in the returned problems."""
        actions: list[Action] = []
        problems: list[str] = []
        fills = 0
        for action in plan.actions:
            if not isinstance(action, PlaceOrder) or not _incomplete(action):
                actions.append(action)
                continue
            what = action.describe()
            market = state.markets.get(action.details.market)
            if market is None:
                problems.append(f"{what} dropped: no quote for the market to complete it from")
                continue
            if not market.is_open:
                problems.append(f"{what} dropped: the market is {market.status.value}")
                continue
            if fills >= MAX_EXECUTOR_CALLS:
                problems.append(f"{what} dropped: more than {MAX_EXECUTOR_CALLS} orders to fill")
                continue
            if await self._budget_spent():
                problems.append(f"{what} dropped: the daily AI budget is spent")
                continue
            fills += 1
            filled, error = await self._ask(
                cycle,
                purpose="fill",
                tier="executor",
                model=self._settings.model_executor,
                system=[{"type": "text", "text": EXECUTOR_SYSTEM}],
                user=executor_message(plan, action, market, state, self._limits),
                tool=order_tool(),
                max_tokens=EXECUTOR_MAX_TOKENS,
                parse=functools.partial(_filled_order, original=action),
            )
            if filled is None:
                problems.append(f"{what} dropped: the executor's answer did not validate ({error})")
                continue
            actions.append(filled)
        if fills == 0 and not problems:
            return plan, []
        return plan.model_copy(update={"actions": actions}), problems

    async def ask_structured(
        self,
        *,
        purpose: str,
        tier: Tier,
        model: str,
        system: str,
        user: str,
        tool: ToolParam,
        max_tokens: int,
        parse: Callable[[Message], T],
        context: ThinkContext,
    ) -> tuple[T | None, str | None, list[LLMCall]]:
        """One structured question outside a cycle's THINK (the review): the answer or None
        with the errors, and the calls made (recorded through the ledger). API failures raise
        BrainUnavailable."""
        cycle = _Cycle(context)
        blocks: list[TextBlockParam] = [
            {"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}
        ]
        answer, error = await self._ask(
            cycle,
            purpose=purpose,
            tier=tier,
            model=model,
            system=blocks,
            user=user,
            tool=tool,
            max_tokens=max_tokens,
            parse=parse,
        )
        return answer, error, cycle.calls

    # --- one question, with one repair ---------------------------------------------------

    async def _ask(
        self,
        cycle: _Cycle,
        *,
        purpose: str,
        tier: Tier,
        model: str,
        system: list[TextBlockParam],
        user: str,
        tool: ToolParam,
        max_tokens: int,
        parse: Callable[[Message], T],
    ) -> tuple[T | None, str | None]:
        """Ask, validate, and on a validation error ask once more quoting it. Returns the
        parsed answer, or None and the errors. API failures raise BrainUnavailable."""
        messages: list[MessageParam] = [{"role": "user", "content": user}]
        answer = await self._call(cycle, purpose, tier, model, system, messages, tool, max_tokens)
        try:
            return parse(answer), None
        except PlanParseError as exc:
            first = str(exc)
        log.warning("%s answer from %s did not validate: %s", tier, model, first)
        messages = [*messages, *_repair_turns(answer, first, tool["name"])]
        answer = await self._call(cycle, "repair", tier, model, system, messages, tool, max_tokens)
        try:
            return parse(answer), None
        except PlanParseError as exc:
            log.warning("%s repair answer from %s did not validate: %s", tier, model, exc)
            return None, f"{first}; after repair: {exc}"

    async def _call(
        self,
        cycle: _Cycle,
        purpose: str,
        tier: Tier,
        model: str,
        system: list[TextBlockParam],
        messages: list[MessageParam],
        tool: ToolParam,
        max_tokens: int,
    ) -> Message:
        choice: ToolChoiceToolParam = {"type": "tool", "name": tool["name"]}
        started = self._monotonic()
        try:
            message = await self._client.messages.create(
                model=model,
                max_tokens=max_tokens,
                system=system,
                messages=messages,
                tools=[tool],
                tool_choice=choice,
            )
        except anthropic.APIError as exc:
            reason = describe_api_error(exc, self._settings)
            await self._record(
                cycle,
                LLMCall(
                    created_at=self._clock(),
                    purpose=purpose,
                    tier=tier,
                    model=model,
                    latency_ms=_elapsed_ms(started, self._monotonic()),
                    ok=False,
                    error=reason,
                    cycle_id=cycle.context.cycle_id,
                ),
            )
            raise BrainUnavailable(f"{tier} ({model}): {reason}", list(cycle.calls)) from exc
        usage = TokenUsage.from_api(message.usage)
        await self._record(
            cycle,
            LLMCall(
                created_at=self._clock(),
                purpose=purpose,
                tier=tier,
                model=model,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_tokens,
                cache_write_tokens=usage.cache_write_tokens,
                latency_ms=_elapsed_ms(started, self._monotonic()),
                cost_usd=self._prices.cost(model, usage),
                cycle_id=cycle.context.cycle_id,
            ),
        )
        return message

    async def _record(self, cycle: _Cycle, call: LLMCall) -> None:
        cycle.calls.append(call)
        if self._ledger is None:
            return
        try:
            await self._ledger.record_llm_call(call)
        except Exception:
            # Losing one usage row must not lose the cycle; the log says spend is undercounted.
            log.exception("could not record an LLM call (%s, %s): spend undercounted", *_ids(call))


# --- answers -------------------------------------------------------------------------------


def _plan_from(message: Message) -> Plan:
    payload = tool_input_or_text(message, PLAN_TOOL_NAME)
    return parse_plan(payload)


def _filled_order(message: Message, original: PlaceOrder) -> PlaceOrder:
    """The executor may only fill blanks: market and side stay the planner's, and a value the
    planner set is kept whatever the executor says."""
    payload = tool_input_or_text(message, ORDER_TOOL_NAME)
    answer: Mapping[str, Any] = (
        payload if isinstance(payload, Mapping) else extract_json_object(payload)
    )
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


def tool_input_or_text(message: Message, tool_name: str) -> Mapping[str, Any] | str:
    """The forced tool's input when the model called it, else the text answer."""
    if message.stop_reason == "refusal":
        raise PlanParseError("the model refused to answer")
    inputs = [
        block.input
        for block in message.content
        if isinstance(block, ToolUseBlock) and block.name == tool_name
    ]
    distinct = [value for i, value in enumerate(inputs) if value not in inputs[:i]]
    if len(distinct) > 1:
        raise PlanParseError(f"{tool_name} was called {len(distinct)} times with different input")
    truncated = (
        " (the answer was cut off at max_tokens)" if message.stop_reason == "max_tokens" else ""
    )
    if distinct:
        value = distinct[0]
        if not isinstance(value, Mapping):
            raise PlanParseError(f"{tool_name} input is not a JSON object{truncated}")
        return value
    text = "".join(block.text for block in message.content if isinstance(block, TextBlock))
    if not text.strip():
        raise PlanParseError(f"the answer has neither a {tool_name} call nor text{truncated}")
    return text


def _repair_turns(answer: Message, error: str, tool_name: str) -> list[MessageParam]:
    """The model's own answer, then a user turn quoting what was wrong with it."""
    assistant: list[Any] = []
    results: list[Any] = []
    for block in answer.content:
        if isinstance(block, TextBlock) and block.text:
            assistant.append({"type": "text", "text": block.text})
        elif isinstance(block, ToolUseBlock):
            assistant.append(
                {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
            )
            # The API requires a result for every tool_use before the next user text.
            results.append(
                {
                    "type": "tool_result",
                    "tool_use_id": block.id,
                    "content": f"Rejected: {error}",
                    "is_error": True,
                }
            )
    if not assistant:
        assistant.append({"type": "text", "text": "(no answer)"})
    instruction = (
        f"Your answer did not validate: {error}\n"
        f"Call {tool_name} once more with the complete, corrected answer."
    )
    return [
        {"role": "assistant", "content": assistant},
        {"role": "user", "content": [*results, {"type": "text", "text": instruction}]},
    ]


# --- helpers ---------------------------------------------------------------------------------


def _client_from(settings: Settings) -> AsyncAnthropic:
    if settings.anthropic_api_key is None:
        raise ValueError("ANTHROPIC_API_KEY: required for the claude brain")
    return AsyncAnthropic(
        api_key=settings.anthropic_api_key.get_secret_value(),
        base_url=settings.anthropic_base_url,
        timeout=settings.ai_timeout_seconds,
        max_retries=settings.ai_max_retries,
    )


def describe_api_error(exc: anthropic.APIError, settings: Settings) -> str:
    """One line for the operator; never includes a credential (the SDK's errors don't)."""
    count = settings.ai_max_retries
    retries = f" after {count} {'retry' if count == 1 else 'retries'}" if count else ""
    if isinstance(exc, anthropic.APITimeoutError):
        return f"timed out ({settings.ai_timeout_seconds:g}s per attempt){retries}"
    if isinstance(exc, anthropic.APIConnectionError):
        return f"connection failed{retries}"
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        label = {
            401: "authentication failed (check ANTHROPIC_API_KEY)",
            403: "permission denied",
            404: "not found (check the model ids)",
            429: "rate limited",
            529: "overloaded",
        }.get(status, "server error" if status >= 500 else "request rejected")
        retried = retries if status in (408, 409, 429) or status >= 500 else ""
        detail = _api_message(exc.body)
        return f"HTTP {status} {label}{retried}" + (f": {detail}" if detail else "")
    return _clip(f"{type(exc).__name__}: {exc}", 200)


def _api_message(body: object) -> str:
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return _clip(str(error["message"]), 160)
    return ""


def _incomplete(action: PlaceOrder) -> bool:
    return action.details.price is None or action.details.quantity is None


def _elapsed_ms(start: float, end: float) -> float:
    return round(max(end - start, 0.0) * 1000, 1)


def _clip(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _ids(call: LLMCall) -> tuple[str, str]:
    return call.purpose, call.model
