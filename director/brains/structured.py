"""One structured question to Claude, with one repair: the request shape today's models take.

- The answer's shape is decoded against a JSON schema (structured outputs,
  `output_config.format`): no tool is forced (the 5.5 models refuse it with a 400), nothing
  is prefilled, no sampling parameter is sent.
- Adaptive thinking, with `output_config.effort` per tier; thinking counts toward
  `max_tokens`, so each tier's budget leaves room for it.
- The static system prefix carries the cache breakpoint, with the 1-hour TTL when cycles are
  further apart than the default 5 minutes (Settings.prompt_cache_ttl).
- The answer is untrusted: `parse` turns the decoded JSON into the model it must be and raises
  PlanParseError otherwise; a repair turn then sends the answer back unchanged, thinking blocks
  and their signatures included, with the error quoted. A second failure is returned as an
  error, never retried again.
- Every call is recorded through the UsageLedger the moment it returns, so spend is counted
  even if a later step fails. API failures raise BrainUnavailable (claude_errors).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, TypeVar

import anthropic
from anthropic import AsyncAnthropic
from anthropic.types import Message, MessageParam, TextBlock, TextBlockParam

from director.brains.base import LLMCall, Tier, UsageLedger
from director.brains.claude_errors import BrainUnavailable, describe_api_error, is_misconfiguration
from director.brains.plan_parsing import MAX_ANSWER_CHARS, PlanParseError
from director.brains.pricing import PriceTable, TokenUsage
from director.clock import Clock
from director.settings import Effort, Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True)
class Question(Generic[T_co]):
    """What to ask, and how to read the answer."""

    purpose: str  # "think", "escalate", "fill", "review"
    tier: Tier
    model: str
    effort: Effort
    system: str
    user: str
    schema: dict[str, Any]
    max_tokens: int
    parse: Callable[[Any], T_co]  # decoded JSON -> the answer; raises PlanParseError


@dataclass
class Calls:
    """The calls made for one think or review, in order (each already in the ledger)."""

    cycle_id: int | None
    made: list[LLMCall] = field(default_factory=list)


class Asker:
    """Sends Questions through one AsyncAnthropic client and records what each call cost."""

    def __init__(
        self,
        client: AsyncAnthropic,
        settings: Settings,
        *,
        prices: PriceTable,
        ledger: UsageLedger | None,
        clock: Clock,
        monotonic: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._client = client
        self._settings = settings
        self._prices = prices
        self._ledger = ledger
        self._clock = clock
        self._monotonic = monotonic

    def system_blocks(self, text: str) -> list[TextBlockParam]:
        """The static prefix with its cache breakpoint (tools, none here, would come first)."""
        return [
            {
                "type": "text",
                "text": text,
                "cache_control": {"type": "ephemeral", "ttl": self._settings.prompt_cache_ttl},
            }
        ]

    async def ask(self, question: Question[T], calls: Calls) -> tuple[T | None, str | None]:
        """The parsed answer, or None and what was wrong with both tries."""
        messages: list[MessageParam] = [{"role": "user", "content": question.user}]
        answer = await self._call(question, messages, calls, question.purpose)
        try:
            return read_answer(answer, question.parse), None
        except PlanParseError as exc:
            first = str(exc)
        log.warning("%s answer from %s did not validate: %s", question.tier, question.model, first)
        messages = [*messages, *repair_turns(answer, first)]
        answer = await self._call(question, messages, calls, "repair")
        try:
            return read_answer(answer, question.parse), None
        except PlanParseError as exc:
            log.warning(
                "%s repair from %s did not validate: %s", question.tier, question.model, exc
            )
            return None, f"{first}; after repair: {exc}"

    async def _call(
        self,
        question: Question[Any],
        messages: list[MessageParam],
        calls: Calls,
        purpose: str,
    ) -> Message:
        started = self._monotonic()
        try:
            message = await self._client.messages.create(
                model=question.model,
                max_tokens=question.max_tokens,
                system=self.system_blocks(question.system),
                messages=messages,
                thinking={"type": "adaptive"},
                output_config={
                    "effort": question.effort,
                    "format": {"type": "json_schema", "schema": question.schema},
                },
            )
        except anthropic.APIError as exc:
            reason = describe_api_error(
                exc, self._settings, tier=question.tier, model=question.model
            )
            failed = self._entry(question, calls, purpose, started, ok=False, error=reason)
            await self._record(calls, failed)
            raise BrainUnavailable(
                f"{question.tier} ({question.model}): {reason}",
                list(calls.made),
                misconfigured=is_misconfiguration(exc),
            ) from exc
        usage = TokenUsage.from_api(message.usage)
        cost = self._prices.cost(question.model, usage)
        entry = self._entry(question, calls, purpose, started, usage=usage, cost=cost)
        await self._record(calls, entry)
        return message

    def _entry(
        self,
        question: Question[Any],
        calls: Calls,
        purpose: str,
        started: float,
        *,
        usage: TokenUsage | None = None,
        cost: Decimal = Decimal(0),
        ok: bool = True,
        error: str | None = None,
    ) -> LLMCall:
        usage = usage or TokenUsage()
        return LLMCall(
            created_at=self._clock(),
            purpose=purpose,
            tier=question.tier,
            model=question.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_5m_tokens,
            cache_write_1h_tokens=usage.cache_write_1h_tokens,
            latency_ms=round(max(self._monotonic() - started, 0.0) * 1000, 1),
            cost_usd=cost,
            ok=ok,
            error=error,
            cycle_id=calls.cycle_id,
        )

    async def _record(self, calls: Calls, call: LLMCall) -> None:
        calls.made.append(call)
        if self._ledger is None:
            return
        try:
            await self._ledger.record_llm_call(call)
        except Exception:
            # Losing one usage row must not lose the cycle; the log says spend is undercounted.
            log.exception(
                "could not record an LLM call (%s, %s): spend undercounted",
                call.purpose,
                call.model,
            )


def read_answer(message: Message, parse: Callable[[Any], T]) -> T:
    """The decoded JSON answer through `parse`; PlanParseError says what is wrong."""
    if message.stop_reason == "refusal":
        raise PlanParseError("the model refused to answer")
    text = "".join(block.text for block in message.content if isinstance(block, TextBlock))
    cut = " (the answer was cut off at max_tokens)" if message.stop_reason == "max_tokens" else ""
    if not text.strip():
        raise PlanParseError(f"the answer has no text{cut}")
    if len(text) > MAX_ANSWER_CHARS:
        raise PlanParseError(f"the answer is too long ({len(text)} characters)")
    try:
        # Decimal, never float: a price must reach the plan exactly as the model wrote it.
        payload = json.loads(text, parse_float=Decimal)
    except ValueError:
        raise PlanParseError(f"the answer is not valid JSON{cut}") from None
    return parse(payload)


def repair_turns(answer: Message, error: str) -> list[MessageParam]:
    """The model's answer exactly as received (thinking blocks are bound to it), then a user
    turn quoting what was wrong."""
    content: list[Any] = [
        block.model_dump(mode="json", exclude_none=True) for block in answer.content
    ]
    if not content:
        content = [{"type": "text", "text": "(no answer)"}]
    instruction = (
        f"Your answer did not validate: {error}\n"
        "Answer again with the complete, corrected JSON object."
    )
    return [
        {"role": "assistant", "content": content},
        {"role": "user", "content": [{"type": "text", "text": instruction}]},
    ]
