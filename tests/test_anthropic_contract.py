"""The Messages API stand-in refuses what the real API refuses for today's models, and
caches the way the API caches: so the brain's tests fail where production would.

Each refusal is checked through the real SDK, then the brain's own requests are shown to
pass the same contract, and its static prefix to be read from the cache across cycles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anthropic
import pytest

from director.brains.base import ThinkContext
from director.brains.plan_schema import order_schema, plan_schema
from director.brains.router import RoutedBrain
from director.rulebook import DEFAULT_RULESET
from tests.anthropic_standin import AnthropicStandIn, Reply
from tests.builders import NOW
from tests.claude_helpers import (
    API_KEY,
    CONTEXT,
    HOLD,
    PLAN,
    MakeBrain,
    MakeRouter,
    Seconds,
    sotu,
)

SONNET = "claude-sonnet-5-5"
HAIKU = "claude-haiku-5-5"
USER: list[Any] = [{"role": "user", "content": "Plan."}]


@pytest.fixture
async def client(api: AnthropicStandIn) -> AsyncIterator[anthropic.AsyncAnthropic]:
    sdk = anthropic.AsyncAnthropic(api_key=API_KEY, base_url=api.base_url, max_retries=0)
    yield sdk
    await sdk.close()


async def _refused(call: Any) -> str:
    with pytest.raises(anthropic.BadRequestError) as caught:
        await call
    body = caught.value.body
    assert isinstance(body, dict)
    return str(body["error"]["message"])


async def test_forced_tool_use_is_a_400_on_the_5_5_models(
    api: AnthropicStandIn, client: anthropic.AsyncAnthropic
) -> None:
    tool: Any = {"name": "submit_plan", "input_schema": {"type": "object", "properties": {}}}
    for model in ("claude-sonnet-5-5", "claude-opus-5-5", "claude-haiku-5-5"):
        for choice in ({"type": "tool", "name": "submit_plan"}, {"type": "any"}):
            message = await _refused(
                client.messages.create(
                    model=model, max_tokens=100, messages=USER, tools=[tool], tool_choice=choice
                )
            )
            assert "forced tool use is not supported" in message
    assert api.requests == []  # no scripted answer was consumed by a refused request


async def test_prefill_is_a_400(client: anthropic.AsyncAnthropic) -> None:
    prefill: Any = [*USER, {"role": "assistant", "content": "{"}]
    message = await _refused(client.messages.create(model=SONNET, max_tokens=100, messages=prefill))
    assert "does not support assistant message prefill" in message


async def test_haiku_with_a_temperature_is_a_400(client: anthropic.AsyncAnthropic) -> None:
    message = await _refused(
        client.messages.create(
            model=HAIKU, max_tokens=100, messages=USER, extra_body={"temperature": 0.2}
        )
    )
    assert "temperature" in message


async def test_manual_thinking_and_disabling_it_on_opus_are_400s(
    client: anthropic.AsyncAnthropic,
) -> None:
    enabled: Any = {"type": "enabled", "budget_tokens": 2048}
    assert "not supported" in await _refused(
        client.messages.create(model=SONNET, max_tokens=4096, messages=USER, thinking=enabled)
    )
    assert "not supported" in await _refused(
        client.messages.create(
            model="claude-opus-5-5", max_tokens=100, messages=USER, thinking={"type": "disabled"}
        )
    )


async def test_every_answer_starts_with_a_signed_thinking_block(
    api: AnthropicStandIn, client: anthropic.AsyncAnthropic
) -> None:
    api.script(Reply.text("hello"))
    answer = await client.messages.create(model=SONNET, max_tokens=100, messages=USER)
    first, second = answer.content
    assert first.type == "thinking" and first.signature.startswith(SONNET)
    assert second.type == "text"


async def test_a_tool_use_turn_sent_back_without_its_thinking_is_a_400(
    api: AnthropicStandIn, client: anthropic.AsyncAnthropic
) -> None:
    tool: Any = {"name": "lookup", "input_schema": {"type": "object", "properties": {}}}
    api.script(Reply.tool({}, name="lookup"))
    answer = await client.messages.create(model=SONNET, max_tokens=100, messages=USER, tools=[tool])
    thinking, tool_use = (block.model_dump(exclude_none=True) for block in answer.content)
    result: Any = {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": tool_use["id"], "content": "42"}],
    }
    without: Any = [*USER, {"role": "assistant", "content": [tool_use]}, result]
    message = await _refused(
        client.messages.create(model=SONNET, max_tokens=100, messages=without, tools=[tool])
    )
    assert "expected thinking or redacted_thinking" in message

    edited = {**thinking, "thinking": "I changed my mind."}
    modified: Any = [*USER, {"role": "assistant", "content": [edited, tool_use]}, result]
    message = await _refused(
        client.messages.create(model=SONNET, max_tokens=100, messages=modified, tools=[tool])
    )
    assert "signature is invalid or modified" in message

    other: Any = [*USER, {"role": "assistant", "content": [thinking, tool_use]}, result]
    message = await _refused(
        client.messages.create(
            model="claude-opus-5-5", max_tokens=100, messages=other, tools=[tool]
        )
    )
    assert "produced by another model" in message


async def test_a_schema_outside_the_structured_outputs_subset_is_a_400(
    client: anthropic.AsyncAnthropic,
) -> None:
    loose: Any = {
        "type": "object",
        "properties": {"x": {"type": "number", "minimum": 0}},
        "additionalProperties": False,
    }
    message = await _refused(
        client.messages.create(
            model=SONNET,
            max_tokens=100,
            messages=USER,
            output_config={"format": {"type": "json_schema", "schema": loose}},
        )
    )
    assert "'minimum' is not supported" in message
    open_object: Any = {"type": "object", "properties": {}}
    message = await _refused(
        client.messages.create(
            model=SONNET,
            max_tokens=100,
            messages=USER,
            output_config={"format": {"type": "json_schema", "schema": open_object}},
        )
    )
    assert "additionalProperties" in message


async def test_the_brains_schemas_are_accepted_and_bind_the_answer(
    api: AnthropicStandIn, client: anthropic.AsyncAnthropic
) -> None:
    for schema, answer in (
        (plan_schema(), PLAN),
        (order_schema(), {"price": 0.4, "quantity": 2, "reasoning": "ok"}),
    ):
        api.script(Reply.json(answer))
        await client.messages.create(
            model=SONNET,
            max_tokens=100,
            messages=USER,
            output_config={"format": {"type": "json_schema", "schema": schema}},
        )
    # An answer the schema could never produce is a script error, not a pass.
    api.script(Reply.json({"reasoning": "no actions key"}))
    with pytest.raises(anthropic.InternalServerError):
        await client.messages.create(
            model=SONNET,
            max_tokens=100,
            messages=USER,
            output_config={"format": {"type": "json_schema", "schema": plan_schema()}},
        )
    assert api.script_errors == [
        "a JSON reply that does not match the requested output_config.format schema"
    ]


async def test_count_tokens_counts_the_request(client: anthropic.AsyncAnthropic) -> None:
    counted = await client.messages.count_tokens(model=SONNET, messages=USER)
    assert counted.input_tokens >= 1


# --- the prompt cache, on a clock the test controls ------------------------------------


async def test_two_cycles_15_minutes_apart_read_the_prefix_from_the_cache(
    api: AnthropicStandIn, make_brain: MakeBrain, seconds: Seconds
) -> None:
    api.script(Reply.json(HOLD), Reply.json(HOLD), Reply.json(HOLD))
    brain = make_brain()
    first = await brain.think(sotu(), DEFAULT_RULESET, CONTEXT)
    seconds.t += 15 * 60
    second = await brain.think(sotu(), DEFAULT_RULESET, ThinkContext(8, NOW))
    [write], [read] = first.calls, second.calls
    assert write.cache_write_1h_tokens > 500 and write.cache_read_tokens == 0
    assert read.cache_read_tokens == write.cache_write_1h_tokens
    assert read.cache_write_tokens == read.cache_write_1h_tokens == 0
    assert read.cost_usd < write.cost_usd
    seconds.t += 61 * 60  # past the hour: the entry expired
    third = await brain.think(sotu(), DEFAULT_RULESET, ThinkContext(9, NOW))
    assert third.calls[0].cache_read_tokens == 0 and third.calls[0].cache_write_1h_tokens > 0


async def test_the_default_5_minute_ttl_would_never_be_read_at_a_15_minute_cadence(
    api: AnthropicStandIn, client: anthropic.AsyncAnthropic, seconds: Seconds
) -> None:
    system: Any = [{"type": "text", "text": "x " * 3000, "cache_control": {"type": "ephemeral"}}]
    api.script(Reply.text("a"), Reply.text("b"))
    first = await client.messages.create(model=SONNET, max_tokens=10, system=system, messages=USER)
    seconds.t += 15 * 60
    second = await client.messages.create(model=SONNET, max_tokens=10, system=system, messages=USER)
    assert first.usage.cache_creation_input_tokens
    assert second.usage.cache_read_input_tokens == 0
    assert second.usage.cache_creation_input_tokens == first.usage.cache_creation_input_tokens


async def test_the_router_plans_through_the_default_models_without_a_refusal(
    api: AnthropicStandIn, make_router: MakeRouter
) -> None:
    router: RoutedBrain
    router, _ = make_router()
    api.script(Reply.json(PLAN))
    result = await router.think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert result.brain == "claude" and result.error is None
    assert api.refused == [] and api.script_errors == []
