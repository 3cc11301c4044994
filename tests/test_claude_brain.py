"""The claude brain and its router, driven through the real anthropic SDK at a local stand-in
for the Messages API (tests/anthropic_standin.py)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from director.brains.base import LLMCall, ThinkContext, ThinkResult
from director.brains.claude import BrainUnavailable, ClaudeBrain
from director.brains.pricing import PriceTable, TokenUsage, parse_model_prices
from director.brains.router import RoutedBrain
from director.models import (
    CancelOrder,
    MarketStatus,
    PlaceOrder,
    Plan,
    Priority,
    Side,
    SystemState,
)
from director.rulebook import DEFAULT_RULESET, RuleSet
from director.settings import DEFAULT_MODEL_PRICES, Settings
from director.store import Store
from tests.anthropic_standin import AnthropicStandIn, Reply, Usage
from tests.builders import NOW, market, opportunity, order, position, state

D = Decimal
API_KEY = "sk-ant-test-secret-0123456789"
PLANNER = "claude-sonnet-5-5"
EXECUTOR = "claude-haiku-5-5"
ESCALATION = "claude-opus-5-5"

BUY: dict[str, Any] = {
    "action_type": "place_order",
    "details": {"market": "KXHEAT", "side": "yes", "price": 0.43, "quantity": 10},
}
CANCEL: dict[str, Any] = {"action_type": "cancel_order", "details": {"order_id": "ord-1"}}
PLAN: dict[str, Any] = {
    "reasoning": "Rule 2: KXHEAT edge 0.15 at 0.8. Rule 3: ord-1 is 3h old.",
    "actions": [BUY, CANCEL],
    "priority": "MEDIUM",
    "requires_opus_consult": False,
}


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Ticker:
    """A monotonic clock that moves 0.25 s per reading: latency is always 250 ms."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 0.25
        return self.t


class SpyBrain:
    """A stand-in fallback: says which plan it made, and counts how often it was asked."""

    name = "rules"

    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail
        self.closed = False

    async def think(self, state: SystemState, rules: RuleSet, context: ThinkContext) -> ThinkResult:
        self.calls += 1
        if self.fail:
            raise RuntimeError("fallback exploded")
        return ThinkResult(plan=Plan(reasoning="rules brain plan"), brain=self.name)

    async def close(self) -> None:
        self.closed = True


class BrokenLedger:
    async def record_llm_call(self, call: LLMCall) -> None:
        raise RuntimeError("disk full")

    async def llm_spend_since(self, since: datetime) -> Decimal:
        raise RuntimeError("database is locked")


def sotu() -> SystemState:
    return state(
        positions=[position("KXA", 10)],
        opportunities=[opportunity("KXHEAT")],
        orders=[order("ord-1", "KXB", age_hours=3)],
        markets=[market("KXHEAT", bid="0.40", ask="0.42"), market("KXB")],
    )


CONTEXT = ThinkContext(cycle_id=7, now=NOW)


@pytest.fixture
def api() -> Iterator[AnthropicStandIn]:
    with AnthropicStandIn() as standin:
        yield standin


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "omega.db")
    yield opened
    await opened.close()


def make_settings(api: AnthropicStandIn, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "_env_file": None,
        "brain": "claude",
        "anthropic_api_key": API_KEY,
        "anthropic_base_url": api.base_url,
        "ai_timeout_seconds": 5.0,
        "ai_max_retries": 1,
        "daily_budget_usd": Decimal(10),
        "brain_fallback": "rules",
    }
    values.update(overrides)
    return Settings(**values)


MakeBrain = Callable[..., ClaudeBrain]


@pytest.fixture
async def make_brain(api: AnthropicStandIn, store: Store) -> AsyncIterator[MakeBrain]:
    made: list[ClaudeBrain] = []

    def make(clock: Clock | None = None, **overrides: Any) -> ClaudeBrain:
        brain = ClaudeBrain(
            make_settings(api, **overrides),
            ledger=store,
            clock=clock or Clock(),
            monotonic=Ticker(),
        )
        made.append(brain)
        return brain

    yield make
    for brain in made:
        await brain.close()


def _plan(**changes: Any) -> dict[str, Any]:
    return {**PLAN, **changes}


# --- valid answers -----------------------------------------------------------------------


async def test_valid_plan_from_tool_use(
    api: AnthropicStandIn, make_brain: MakeBrain, store: Store
) -> None:
    usage = Usage(
        input_tokens=1000,
        output_tokens=200,
        cache_read_input_tokens=3000,
        cache_creation_input_tokens=500,
    )
    api.script(Reply.tool(PLAN, usage=usage, model=PLANNER))
    result = await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)

    assert result.error is None and result.brain == "claude" and result.model == PLANNER
    assert not result.escalated
    assert [a.describe() for a in result.plan.actions] == [
        "place_order(KXHEAT yes 0.43×10)",
        "cancel_order(ord-1)",
    ]
    assert result.plan.priority is Priority.MEDIUM

    [call] = result.calls
    # Sonnet: $3 in, $15 out per million; cache writes 1.25x, reads 0.1x of the input rate.
    expected = (
        Decimal(1000 * 3) + Decimal(500 * 3) * Decimal("1.25") + Decimal(3000 * 3) / 10
    ) / 1_000_000 + Decimal(200 * 15) / 1_000_000
    assert call == LLMCall(
        created_at=NOW,
        purpose="think",
        tier="planner",
        model=PLANNER,
        input_tokens=1000,
        output_tokens=200,
        cache_read_tokens=3000,
        cache_write_tokens=500,
        latency_ms=250.0,
        cost_usd=expected,
        cycle_id=7,
    )
    assert result.cost_usd == Decimal("0.008775")
    assert await store.llm_spend_since(NOW - timedelta(hours=1)) == Decimal("0.008775")

    [request] = api.requests
    body = request.body
    assert body["model"] == PLANNER
    assert body["tool_choice"] == {"type": "tool", "name": "submit_plan"}
    assert [t["name"] for t in body["tools"]] == ["submit_plan"]
    assert body["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert "RULES (version 1)" in request.system_text
    assert "STATE OF THE UNION" in request.user_text
    assert "KXHEAT" not in request.system_text  # the state never enters the cached prefix


async def test_static_prefix_is_identical_between_cycles(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    api.script(Reply.tool(PLAN), Reply.tool(PLAN))
    brain = make_brain()
    await brain.think(sotu(), DEFAULT_RULESET, CONTEXT)
    other = state(cash="5", opportunities=[opportunity("KXOTHER", edge="0.4")], risk_score=0.9)
    await brain.think(other, DEFAULT_RULESET, ThinkContext(cycle_id=8, now=NOW))
    first, second = api.requests
    assert json.dumps(first.body["tools"]) == json.dumps(second.body["tools"])
    assert json.dumps(first.body["system"]) == json.dumps(second.body["system"])
    assert first.user_text != second.user_text


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(PLAN),
        "```json\n" + json.dumps(PLAN, indent=2) + "\n```",
        "Risk is moderate; rule 2 applies to KXHEAT and rule 3 to ord-1.\n\n" + json.dumps(PLAN),
    ],
    ids=["bare-text", "code-fences", "prose-then-json"],
)
async def test_valid_plan_from_text(
    api: AnthropicStandIn, make_brain: MakeBrain, text: str
) -> None:
    api.script(Reply.text(text))
    result = await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert result.error is None
    assert result.plan.model_dump() == Plan.model_validate(PLAN).model_dump()
    assert len(api.requests) == 1


async def test_yes_in_capitals_is_accepted(api: AnthropicStandIn, make_brain: MakeBrain) -> None:
    shouting = {**BUY, "details": {**BUY["details"], "side": "YES"}}
    api.script(Reply.tool(_plan(actions=[shouting], priority="high")))
    result = await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)
    [action] = result.plan.actions
    assert isinstance(action, PlaceOrder) and action.details.side is Side.YES
    assert result.plan.priority is Priority.HIGH


# --- repair ------------------------------------------------------------------------------


async def test_invalid_json_gets_one_repair_then_succeeds(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    api.script(
        Reply.text('{"reasoning": "cut off", "actions": [{"action_type": "pla'),
        Reply.tool(PLAN),
    )
    result = await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert result.error is None
    assert len(result.plan.actions) == 2
    assert [c.purpose for c in result.calls] == ["think", "repair"]
    assert [c.tier for c in result.calls] == ["planner", "planner"]

    repair = api.requests[1]
    assert repair.model == PLANNER
    messages = repair.body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"][0]["text"].startswith('{"reasoning": "cut off"')
    assert "did not validate: no JSON object found" in repair.user_text
    # The repair repeats the same cached prefix.
    assert repair.body["system"] == api.requests[0].body["system"]


async def test_wrong_types_repair_quotes_the_error_in_a_tool_result(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    wrong = {**BUY, "details": {**BUY["details"], "quantity": "ten"}}
    api.script(Reply.tool(_plan(actions=[wrong])), Reply.tool(PLAN))
    result = await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert result.error is None and len(result.plan.actions) == 2

    first_answer_id = "toolu_standin_1"
    messages = api.requests[1].body["messages"]
    assert messages[1]["content"][0] == {
        "type": "tool_use",
        "id": first_answer_id,
        "name": "submit_plan",
        "input": _plan(actions=[wrong]),
    }
    result_block = messages[2]["content"][0]
    assert result_block["type"] == "tool_result"
    assert result_block["tool_use_id"] == first_answer_id
    assert result_block["is_error"] is True
    assert "actions.0.place_order.details.quantity" in result_block["content"]
    assert "'ten'" in result_block["content"]


async def test_unknown_action_type_is_repaired(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    api.script(
        Reply.tool(_plan(actions=[{"action_type": "short_sell", "details": {"market": "X"}}])),
        Reply.tool(_plan(actions=[CANCEL])),
    )
    result = await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert result.error is None
    assert [type(a) for a in result.plan.actions] == [CancelOrder]
    assert "'short_sell'" in api.requests[1].user_text


async def test_invalid_twice_is_a_no_op_plan_with_an_error(
    api: AnthropicStandIn, make_brain: MakeBrain, store: Store
) -> None:
    api.script(Reply.text("I would hold."), Reply.text("Still holding, no JSON for you."))
    result = await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert result.plan.actions == []
    assert result.error is not None
    assert "did not validate after one repair" in result.error
    assert "no JSON object" in result.error
    assert "No actions this cycle" in result.plan.reasoning  # never a silent hold
    assert len(result.calls) == 2
    # Both calls cost money, and both were recorded.
    assert await store.llm_spend_since(NOW - timedelta(days=1)) == result.cost_usd > 0


async def test_refusal_is_repaired_then_a_no_op(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    refusal = Reply(kind="message", content=(), stop_reason="refusal")
    api.script(refusal, refusal)
    result = await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert result.plan.actions == []
    assert result.error is not None and "refused" in result.error


# --- the executor tier -------------------------------------------------------------------


async def test_missing_price_calls_the_executor_and_keeps_the_planners_values(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    blank = {"action_type": "place_order", "details": {"market": "KXHEAT", "quantity": 10}}
    api.script(
        Reply.tool(_plan(actions=[blank, CANCEL]), model=PLANNER),
        # The executor tries to change the quantity too: only the blank is taken.
        Reply.tool({"price": 0.42, "quantity": 99}, name="submit_order", model=EXECUTOR),
    )
    result = await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert result.error is None
    assert [a.describe() for a in result.plan.actions] == [
        "place_order(KXHEAT yes 0.42×10)",
        "cancel_order(ord-1)",
    ]
    assert [(c.tier, c.purpose) for c in result.calls] == [
        ("planner", "think"),
        ("executor", "fill"),
    ]
    fill = api.requests[1]
    assert fill.body["tool_choice"] == {"type": "tool", "name": "submit_order"}
    assert "ORDER TO COMPLETE" in fill.user_text
    assert '"ask":0.42' in fill.user_text
    assert result.model == PLANNER  # the plan is still the planner's


async def test_complete_plan_makes_no_executor_call(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    api.script(Reply.tool(PLAN))
    result = await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert len(api.requests) == 1
    assert [c.tier for c in result.calls] == ["planner"]


async def test_executor_answer_invalid_twice_drops_only_that_order(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    blank = {"action_type": "place_order", "details": {"market": "KXHEAT"}}
    api.script(
        Reply.tool(_plan(actions=[blank, CANCEL])),
        Reply.tool({"price": "cheap", "quantity": 5}, name="submit_order"),
        Reply.text("somewhere around the ask"),
    )
    result = await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert [a.describe() for a in result.plan.actions] == ["cancel_order(ord-1)"]
    assert result.error is not None
    assert "place_order(KXHEAT yes ?×?) dropped" in result.error
    assert [c.purpose for c in result.calls] == ["think", "fill", "repair"]


async def test_order_without_a_quote_is_dropped_without_an_executor_call(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    blank = {"action_type": "place_order", "details": {"market": "KXNOWHERE", "quantity": 3}}
    api.script(Reply.tool(_plan(actions=[blank])))
    result = await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert result.plan.actions == []
    assert result.error is not None and "no quote" in result.error
    assert len(api.requests) == 1


async def test_order_on_a_closed_market_is_dropped_without_an_executor_call(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    closed = market("KXSHUT").model_copy(update={"status": MarketStatus.CLOSED})
    s = sotu().model_copy(update={"markets": {**sotu().markets, "KXSHUT": closed}})
    blank = {"action_type": "place_order", "details": {"market": "KXSHUT", "quantity": 3}}
    api.script(Reply.tool(_plan(actions=[blank, CANCEL])))
    result = await make_brain().think(s, DEFAULT_RULESET, CONTEXT)
    assert [a.describe() for a in result.plan.actions] == ["cancel_order(ord-1)"]
    assert result.error is not None and "the market is closed" in result.error
    assert len(api.requests) == 1


# --- escalation --------------------------------------------------------------------------


async def test_escalation_returns_the_escalation_models_plan(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    proposal = _plan(reasoning="Signals conflict on KXHEAT; want a second opinion.")
    proposal["requires_opus_consult"] = True
    smaller = {**BUY, "details": {**BUY["details"], "quantity": 3}}
    final = _plan(reasoning="Take a smaller position.", actions=[smaller], priority="HIGH")
    api.script(Reply.tool(proposal, model=PLANNER), Reply.tool(final, model=ESCALATION))

    result = await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert result.escalated is True
    assert "Signals conflict on KXHEAT" in result.escalation_reason
    assert result.model == ESCALATION
    assert [a.describe() for a in result.plan.actions] == ["place_order(KXHEAT yes 0.43×3)"]
    assert result.plan.reasoning == "Take a smaller position."
    assert [(c.tier, c.purpose) for c in result.calls] == [
        ("planner", "think"),
        ("escalation", "escalate"),
    ]
    consult = api.requests[1]
    assert "PLANNER'S PROPOSAL" in consult.user_text
    assert "want a second opinion" in consult.user_text
    assert "STATE OF THE UNION" in consult.user_text
    assert consult.body["system"] == api.requests[0].body["system"]


async def test_a_planner_call_that_spends_the_budget_skips_the_consult_not_the_caution(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    proposal = _plan(reasoning="Signals conflict on KXHEAT; want a second opinion.")
    proposal["requires_opus_consult"] = True
    # 10,000 output tokens of Sonnet at $15/M = $0.15: past a $0.05 budget.
    api.script(
        Reply.tool(proposal, model=PLANNER, usage=Usage(input_tokens=100, output_tokens=10_000))
    )

    result = await make_brain(daily_budget_usd=Decimal("0.05")).think(
        sotu(), DEFAULT_RULESET, CONTEXT
    )
    assert len(api.requests) == 1  # no escalation call
    assert result.escalated is True  # so every action still waits for approval
    assert result.escalation_reason.startswith(
        "planner requested an Opus consult, not made: the daily AI budget is spent"
    )
    assert result.model == PLANNER
    assert [a.describe() for a in result.plan.actions] == [
        a.describe() for a in Plan.model_validate(proposal).actions
    ]


async def test_an_order_to_complete_past_the_budget_is_dropped_without_a_call(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    blank = {"action_type": "place_order", "details": {"market": "KXHEAT", "quantity": 10}}
    api.script(
        Reply.tool(
            _plan(actions=[blank, CANCEL]),
            model=PLANNER,
            usage=Usage(input_tokens=100, output_tokens=10_000),
        )
    )
    result = await make_brain(daily_budget_usd=Decimal("0.05")).think(
        sotu(), DEFAULT_RULESET, CONTEXT
    )
    assert len(api.requests) == 1
    assert [a.describe() for a in result.plan.actions] == ["cancel_order(ord-1)"]
    assert result.error == "place_order(KXHEAT yes ?×10) dropped: the daily AI budget is spent"


async def test_escalation_answer_invalid_twice_is_a_no_op(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    proposal = _plan(requires_opus_consult=True)
    api.script(Reply.tool(proposal), Reply.text("hmm"), Reply.text("hmm again"))
    result = await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert result.escalated and result.plan.actions == []
    assert result.error is not None and result.error.startswith("the AI's plan did not validate")
    assert "escalation" in result.error


async def test_no_escalation_unless_asked(api: AnthropicStandIn, make_brain: MakeBrain) -> None:
    api.script(Reply.tool(PLAN))
    result = await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert not result.escalated and result.escalation_reason == ""
    assert [r.model for r in api.requests] == [PLANNER]


# --- API failures ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "label"),
    [(429, "rate limited"), (529, "overloaded"), (500, "server error")],
)
async def test_api_errors_raise_after_the_sdks_retries(
    api: AnthropicStandIn,
    make_brain: MakeBrain,
    store: Store,
    status: int,
    label: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    api.script(Reply.error(status), Reply.error(status))
    with pytest.raises(BrainUnavailable) as caught:
        await make_brain(ai_max_retries=1).think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert len(api.requests) == 2  # the first attempt and one SDK retry
    assert f"HTTP {status} {label} after 1 retry" in caught.value.message
    [call] = caught.value.calls
    assert call.ok is False and call.cost_usd == 0 and call.tier == "planner"
    assert call.error is not None and str(status) in call.error
    assert await store.llm_spend_since(NOW - timedelta(days=1)) == 0
    assert API_KEY not in caplog.text
    assert API_KEY not in str(caught.value)


async def test_a_hang_past_the_timeout_raises(api: AnthropicStandIn, make_brain: MakeBrain) -> None:
    api.script(Reply.hang(10))
    with pytest.raises(BrainUnavailable, match="timed out"):
        await make_brain(ai_timeout_seconds=0.3, ai_max_retries=0).think(
            sotu(), DEFAULT_RULESET, CONTEXT
        )


async def test_a_bad_key_is_an_outage_not_a_crash(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    api.script(Reply.error(401, "invalid x-api-key"))
    with pytest.raises(BrainUnavailable, match="authentication failed"):
        await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert len(api.requests) == 1  # 401 is not retried


async def test_failure_after_a_paid_call_keeps_its_cost(
    api: AnthropicStandIn, make_brain: MakeBrain, store: Store
) -> None:
    api.script(Reply.tool(_plan(requires_opus_consult=True)), Reply.error(500), Reply.error(500))
    with pytest.raises(BrainUnavailable) as caught:
        await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)
    planner, escalation = caught.value.calls
    assert planner.ok and planner.cost_usd > 0
    assert not escalation.ok and escalation.tier == "escalation"
    assert await store.llm_spend_since(NOW - timedelta(days=1)) == planner.cost_usd


async def test_a_failing_ledger_does_not_lose_the_plan(api: AnthropicStandIn) -> None:
    api.script(Reply.tool(PLAN))
    brain = ClaudeBrain(make_settings(api), ledger=BrokenLedger(), clock=Clock())
    try:
        result = await brain.think(sotu(), DEFAULT_RULESET, CONTEXT)
    finally:
        await brain.close()
    assert result.error is None and len(result.plan.actions) == 2
    assert len(result.calls) == 1


# --- the router: fallback, alerts, budget ------------------------------------------------


MakeRouter = Callable[..., tuple[RoutedBrain, SpyBrain]]


@pytest.fixture
async def make_router(
    api: AnthropicStandIn, store: Store
) -> AsyncIterator[Callable[..., tuple[RoutedBrain, SpyBrain]]]:
    made: list[RoutedBrain] = []

    def make(
        clock: Clock | None = None, fallback: SpyBrain | None = None, **overrides: Any
    ) -> tuple[RoutedBrain, SpyBrain]:
        clock = clock or Clock()
        settings = make_settings(api, **overrides)
        spy = fallback or SpyBrain()
        primary = ClaudeBrain(settings, ledger=store, clock=clock, monotonic=Ticker())
        router = RoutedBrain(primary, spy, store, settings, clock)
        made.append(router)
        return router, spy

    yield make
    for router in made:
        await router.close()


async def _cycle(router: RoutedBrain, n: int = 1) -> ThinkResult:
    return await router.think(sotu(), DEFAULT_RULESET, ThinkContext(cycle_id=n, now=NOW))


@pytest.mark.parametrize("status", [429, 529, 500])
async def test_outage_falls_back_to_rules_and_alerts_once_then_on_recovery(
    api: AnthropicStandIn, make_router: MakeRouter, status: int
) -> None:
    router, spy = make_router(ai_max_retries=1)
    api.script(*[Reply.error(status)] * 4, Reply.tool(PLAN), Reply.tool(PLAN))

    first = await _cycle(router, 1)
    assert first.brain == "claude→rules"
    assert first.plan.reasoning == "rules brain plan"
    assert first.error is not None and f"HTTP {status}" in first.error
    assert len(first.alerts) == 1 and first.alerts[0].startswith("Claude brain unavailable")
    assert "rules brain plans until it recovers" in first.alerts[0]
    assert [c.ok for c in first.calls] == [False]
    assert router.degraded and router.status().mode == "fallback"

    second = await _cycle(router, 2)
    assert second.brain == "claude→rules" and second.error is not None
    assert second.alerts == []  # one alert per outage
    assert spy.calls == 2

    third = await _cycle(router, 3)
    assert third.brain == "claude" and third.error is None
    assert len(third.plan.actions) == 2
    assert len(third.alerts) == 1 and third.alerts[0].startswith("Claude brain recovered")
    assert "after 2 cycle(s)" in third.alerts[0]
    assert not router.degraded

    fourth = await _cycle(router, 4)
    assert fourth.alerts == [] and fourth.brain == "claude"
    assert spy.calls == 2
    assert api.unused == 0


async def test_a_hang_past_the_timeout_falls_back(
    api: AnthropicStandIn, make_router: MakeRouter
) -> None:
    router, spy = make_router(ai_timeout_seconds=0.3, ai_max_retries=0)
    api.script(Reply.hang(10))
    result = await _cycle(router)
    assert result.brain == "claude→rules" and spy.calls == 1
    assert result.error is not None and "timed out" in result.error
    assert len(result.alerts) == 1


async def test_safe_fallback_blocks_new_orders(
    api: AnthropicStandIn, make_router: MakeRouter
) -> None:
    router, spy = make_router(brain_fallback="safe", ai_max_retries=0)
    api.script(Reply.error(529))
    result = await _cycle(router)
    assert result.block_new_orders is True
    assert result.plan.actions == []
    assert result.brain == "claude→safe"
    assert result.error is not None and "529" in result.error
    assert "no new orders" in result.alerts[0]
    assert spy.calls == 0


async def test_budget_overrun_hands_over_to_rules_until_the_next_day(
    api: AnthropicStandIn, make_router: MakeRouter, store: Store
) -> None:
    clock = Clock(NOW)
    router, spy = make_router(clock=clock, daily_budget_usd=Decimal("1.00"))
    await store.record_llm_call(
        LLMCall(
            created_at=NOW - timedelta(minutes=5),
            purpose="think",
            tier="planner",
            model=PLANNER,
            cost_usd=Decimal("1.00"),
        )
    )
    first = await _cycle(router, 1)
    second = await _cycle(router, 2)
    assert api.requests == []  # no AI call at all past the cap
    assert first.brain == second.brain == "claude→rules (budget)"
    assert first.plan.reasoning == "rules brain plan"
    assert len(first.alerts) == 1 and first.alerts[0].startswith(
        "AI budget reached: $1.00 of $1.00"
    )
    assert second.alerts == []  # told once
    assert first.error is None  # a policy, not a failure
    assert router.status().mode == "over_budget"
    assert "over budget" in router.status().summary()

    clock.now = datetime.combine(NOW.date() + timedelta(days=1), datetime.min.time(), UTC)
    api.script(Reply.tool(PLAN))
    third = await _cycle(router, 3)
    assert third.brain == "claude" and third.alerts == []
    assert spy.calls == 2
    assert router.status().mode == "claude"


async def test_the_brains_own_spend_reaches_the_cap(
    api: AnthropicStandIn, make_router: MakeRouter
) -> None:
    router, _ = make_router(daily_budget_usd=Decimal("0.05"))
    # 10,000 output tokens of Sonnet at $15/M = $0.15, past the $0.05 cap.
    api.script(Reply.tool(PLAN, usage=Usage(input_tokens=100, output_tokens=10_000)))
    first = await _cycle(router, 1)
    assert first.brain == "claude" and first.cost_usd == Decimal("0.1503")
    second = await _cycle(router, 2)
    assert second.brain == "claude→rules (budget)"
    assert len(api.requests) == 1
    assert "$0.15 of $0.05" in second.alerts[0]


async def test_unreadable_spend_never_calls_the_ai(api: AnthropicStandIn) -> None:
    settings = make_settings(api)
    spy = SpyBrain()
    primary = ClaudeBrain(settings, ledger=BrokenLedger(), clock=Clock())
    router = RoutedBrain(primary, spy, BrokenLedger(), settings, Clock())
    try:
        result = await _cycle(router)
    finally:
        await router.close()
    assert api.requests == []
    assert result.brain == "claude→rules"
    assert result.error is not None and "cannot read today's AI spend" in result.error
    assert spy.closed


class ExplodingBrain:
    name = "claude"

    async def think(self, state: SystemState, rules: RuleSet, context: ThinkContext) -> ThinkResult:
        raise KeyError("surprise")

    async def close(self) -> None:
        return None


async def test_an_unexpected_exception_is_an_outage(api: AnthropicStandIn, store: Store) -> None:
    settings = make_settings(api)
    spy = SpyBrain()
    router = RoutedBrain(ExplodingBrain(), spy, store, settings, Clock())
    result = await _cycle(router)
    assert result.brain == "claude→rules" and spy.calls == 1
    assert result.error is not None and "KeyError" in result.error
    assert len(result.alerts) == 1


async def test_a_failing_fallback_still_returns_a_safe_no_op(
    api: AnthropicStandIn, make_router: MakeRouter
) -> None:
    router, _ = make_router(fallback=SpyBrain(fail=True), ai_max_retries=0)
    api.script(Reply.error(500))
    result = await _cycle(router)
    assert result.plan.actions == [] and result.block_new_orders is True
    assert result.error is not None and result.error.startswith("AI brain failed")
    assert len(result.alerts) == 1


async def test_an_invalid_plan_is_not_an_outage(
    api: AnthropicStandIn, make_router: MakeRouter
) -> None:
    router, spy = make_router()
    api.script(Reply.text("no"), Reply.text("still no"))
    result = await _cycle(router)
    assert result.brain == "claude" and result.plan.actions == []
    assert result.error is not None and result.alerts == []
    assert spy.calls == 0 and not router.degraded


# --- pricing -----------------------------------------------------------------------------


def test_prices_match_model_class_and_prefer_an_exact_id() -> None:
    table = PriceTable({**DEFAULT_MODEL_PRICES, "claude-sonnet-5-5-fast": (D(6), D(30))})
    usage = TokenUsage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert table.cost("claude-haiku-5-5", usage) == D(6)
    assert table.cost("claude-sonnet-5-5", usage) == D(18)
    assert table.cost("claude-sonnet-5-5-fast", usage) == D(36)
    assert table.cost("CLAUDE-OPUS-5-5", usage) == D(30)


def test_an_unknown_model_is_priced_at_the_dearest_rate() -> None:
    table = PriceTable(DEFAULT_MODEL_PRICES)
    assert not table.known("claude-mythos-5-2")
    assert table.rates("claude-mythos-5-2") == DEFAULT_MODEL_PRICES["opus"]


def test_cache_tokens_are_priced_at_their_own_rates() -> None:
    table = PriceTable(DEFAULT_MODEL_PRICES)
    writes = TokenUsage(cache_write_tokens=1_000_000)
    reads = TokenUsage(cache_read_tokens=1_000_000)
    assert table.cost("claude-haiku-5-5", writes) == D("1.25")
    assert table.cost("claude-haiku-5-5", reads) == D("0.1")


def test_a_malformed_usage_block_counts_nothing_negative() -> None:
    class Odd:
        input_tokens = -5
        output_tokens = "12"
        cache_read_input_tokens = None
        cache_creation_input_tokens = True

    assert TokenUsage.from_api(Odd()) == TokenUsage()
    assert TokenUsage.from_api(None) == TokenUsage()


def test_parse_model_prices() -> None:
    assert parse_model_prices("opus=5/25, Sonnet:3/15 ,haiku=0.8/4") == {
        "opus": (D(5), D(25)),
        "sonnet": (D(3), D(15)),
        "haiku": (D("0.8"), D(4)),
    }


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "no prices"),
        ("opus=5", "expected name=input/output"),
        ("opus=5/x", "expected name=input/output"),
        ("opus=1.2.3/4", "not a number"),
        ("opus=5/25,OPUS=6/30", "given twice"),
    ],
)
def test_parse_model_prices_rejects(text: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        parse_model_prices(text)


def test_a_price_table_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="negative"):
        PriceTable({"opus": (D(-1), D(25))})
    with pytest.raises(ValueError, match="at least one"):
        PriceTable({})
