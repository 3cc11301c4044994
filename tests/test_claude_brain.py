"""The claude brain, driven through the real anthropic SDK at a local stand-in for the
Messages API that enforces today's contract (tests/anthropic_contract.py): a request the real
API refuses is refused here too, so these tests fail where production would."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from director.brains.base import LLMCall, RecentAction, ThinkContext
from director.brains.claude import ClaudeBrain
from director.brains.claude_errors import BrainUnavailable
from director.models import CancelOrder, MarketStatus, NewsItem, PlaceOrder, Plan, Priority
from director.rulebook import DEFAULT_RULESET
from director.store import Store
from tests.anthropic_standin import AnthropicStandIn, Reply, Usage
from tests.builders import NOW, market, state
from tests.claude_helpers import (
    API_KEY,
    CANCEL,
    CONTEXT,
    ESCALATION,
    EXECUTOR,
    HOLD,
    PLAN,
    PLANNER,
    BrokenLedger,
    MakeBrain,
    buy,
    make_settings,
    plan,
    sotu,
)
from tests.clocks import ManualClock

# --- requests the current models accept ----------------------------------------------------


async def test_a_plan_comes_through_json_outputs_with_adaptive_thinking_and_effort(
    api: AnthropicStandIn, make_brain: MakeBrain, store: Store
) -> None:
    usage = Usage(
        input_tokens=1000,
        output_tokens=200,
        cache_read_input_tokens=3000,
        cache_creation_input_tokens=500,
    )
    api.script(Reply.json(PLAN, usage=usage, model=PLANNER))
    result = await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)

    assert result.error is None and result.brain == "claude" and result.model == PLANNER
    assert not result.escalated
    assert [a.describe() for a in result.plan.actions] == [
        "place_order(KXHEAT yes 0.43×10)",
        "cancel_order(ord-1)",
    ]
    assert result.plan.priority is Priority.MEDIUM

    [call] = result.calls
    # Sonnet 5.5: $2 in, $10 out, $2.50 per 5-minute cache write, $0.10 per cache read.
    expected = Decimal(1000 * 2 + 500 * 2.5 + 3000 * 0.1 + 200 * 10) / 1_000_000
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
    assert result.cost_usd == Decimal("0.00555")
    assert await store.llm_spend_since(NOW - timedelta(hours=1)) == Decimal("0.00555")

    [request] = api.requests
    body = request.body
    assert body["model"] == PLANNER
    assert "tool_choice" not in body and "tools" not in body
    assert not any(k in body for k in ("temperature", "top_p", "top_k"))
    assert body["thinking"] == {"type": "adaptive"}
    assert body["output_config"]["effort"] == "medium"
    assert body["output_config"]["format"]["type"] == "json_schema"
    assert body["max_tokens"] >= 16_000  # room for the thinking that counts toward it
    # The cycle is 15 minutes apart: the prefix must outlive the default 5-minute TTL.
    assert body["system"][-1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert body["messages"][-1]["role"] == "user"  # no prefill
    assert "RULES (version 1)" in request.system_text
    assert "STATE OF THE UNION" in request.user_text
    assert "KXHEAT" not in request.system_text  # the state never enters the cached prefix
    assert api.refused == [] and api.script_errors == []


async def test_a_short_cycle_keeps_the_default_cache_ttl(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    api.script(Reply.json(PLAN))
    await make_brain(cycle_seconds=120).think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert api.requests[0].body["system"][-1]["cache_control"] == {
        "type": "ephemeral",
        "ttl": "5m",
    }


async def test_effort_per_tier_comes_from_the_settings(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    blank = {
        "action_type": "place_order",
        "details": {"market": "KXHEAT", "side": "yes", "price": None, "quantity": 10},
    }
    api.script(
        Reply.json(plan(actions=[blank], requires_opus_consult=True), model=PLANNER),
        Reply.json(plan(actions=[blank]), model=ESCALATION),
        Reply.json({"price": 0.42, "quantity": 10, "reasoning": "at the ask"}, model=EXECUTOR),
    )
    brain = make_brain(effort_planner="low", effort_escalation="max", effort_executor="medium")
    result = await brain.think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert result.error is None
    efforts = [(r.model, r.body["output_config"]["effort"]) for r in api.requests]
    assert efforts == [(PLANNER, "low"), (ESCALATION, "max"), (EXECUTOR, "medium")]


async def test_static_prefix_is_identical_between_cycles(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    api.script(Reply.json(PLAN), Reply.json(HOLD))
    brain = make_brain()
    await brain.think(sotu(), DEFAULT_RULESET, CONTEXT)
    other = state(cash="5", risk_score=0.9)
    await brain.think(other, DEFAULT_RULESET, ThinkContext(cycle_id=8, now=NOW))
    first, second = api.requests
    assert json.dumps(first.body["system"]) == json.dumps(second.body["system"])
    assert json.dumps(first.body["output_config"]) == json.dumps(second.body["output_config"])
    assert first.user_text != second.user_text


# --- repair ------------------------------------------------------------------------------


async def test_a_cut_off_answer_gets_one_repair_that_sends_it_back_with_its_thinking(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    api.script(
        Reply.text(
            '{"reasoning": "cut off", "actions": [{"action_type": "pla', stop_reason="max_tokens"
        ),
        Reply.json(PLAN),
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
    thinking, text = messages[1]["content"]
    # Sent back exactly as received: the stand-in verified the signature against the model
    # and the conversation before it (a modified block is a 400).
    assert thinking["type"] == "thinking" and thinking["signature"].startswith(PLANNER)
    assert text["text"].startswith('{"reasoning": "cut off"')
    assert "did not validate: the answer is not valid JSON" in repair.user_text
    assert "cut off at max_tokens" in repair.user_text
    # The repair repeats the same cached prefix.
    assert repair.body["system"] == api.requests[0].body["system"]
    assert api.refused == []


async def test_wrong_values_are_repaired_quoting_the_validation_error(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    # Within the schema (a string), outside the model's bounds: what decoding can't prevent.
    api.script(Reply.json(plan(actions=[buy(market="")])), Reply.json(PLAN))
    result = await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert result.error is None and len(result.plan.actions) == 2
    quoted = api.requests[1].user_text
    assert "actions.0.place_order.details.market" in quoted
    assert "at least 1 character" in quoted


async def test_invalid_twice_is_a_no_op_plan_with_an_error(
    api: AnthropicStandIn, make_brain: MakeBrain, store: Store
) -> None:
    bad = plan(actions=[buy(market="")])
    api.script(Reply.json(bad), Reply.json(bad))
    result = await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert result.plan.actions == []
    assert result.error is not None
    assert "did not validate after one repair" in result.error
    assert "market" in result.error
    assert "No actions this cycle" in result.plan.reasoning  # never a silent hold
    assert len(result.calls) == 2
    # Both calls cost money, and both were recorded.
    assert await store.llm_spend_since(NOW - timedelta(days=1)) == result.cost_usd > 0


async def test_refusal_is_repaired_then_a_no_op(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    api.script(Reply.refusal(), Reply.refusal())
    result = await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert result.plan.actions == []
    assert result.error is not None and "refused" in result.error


# --- the executor tier -------------------------------------------------------------------


def _blank(market: str = "KXHEAT", **details: Any) -> dict[str, Any]:
    values = {"market": market, "side": "yes", "price": None, "quantity": None, **details}
    return {"action_type": "place_order", "details": values}


async def test_a_null_price_calls_the_executor_and_keeps_the_planners_values(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    api.script(
        Reply.json(plan(actions=[_blank(quantity=10), CANCEL]), model=PLANNER),
        # The executor tries to change the quantity too: only the blank is taken.
        Reply.json({"price": 0.42, "quantity": 99, "reasoning": "ask"}, model=EXECUTOR),
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
    assert "tool_choice" not in fill.body and "temperature" not in fill.body
    assert fill.body["output_config"]["effort"] == "low"
    assert "ORDER TO COMPLETE" in fill.user_text
    assert '"ask":0.42' in fill.user_text
    assert result.model == PLANNER  # the plan is still the planner's


async def test_complete_plan_makes_no_executor_call(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    api.script(Reply.json(PLAN))
    result = await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert len(api.requests) == 1
    assert [c.tier for c in result.calls] == ["planner"]


async def test_executor_answer_invalid_twice_drops_only_that_order(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    api.script(
        Reply.json(plan(actions=[_blank(), CANCEL])),
        Reply.refusal(),
        Reply.text('{"price": 0.4, "quan', stop_reason="max_tokens"),
    )
    result = await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert [a.describe() for a in result.plan.actions] == ["cancel_order(ord-1)"]
    assert result.error is not None
    assert "place_order(KXHEAT yes ?×?) dropped" in result.error
    assert [c.purpose for c in result.calls] == ["think", "fill", "repair"]


async def test_order_without_a_quote_is_dropped_without_an_executor_call(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    api.script(Reply.json(plan(actions=[_blank("KXNOWHERE", quantity=3)])))
    result = await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert result.plan.actions == []
    assert result.error is not None and "no quote" in result.error
    assert len(api.requests) == 1


async def test_order_on_a_closed_market_is_dropped_without_an_executor_call(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    closed = market("KXSHUT").model_copy(update={"status": MarketStatus.CLOSED})
    s = sotu().model_copy(update={"markets": {**sotu().markets, "KXSHUT": closed}})
    api.script(Reply.json(plan(actions=[_blank("KXSHUT", quantity=3), CANCEL])))
    result = await make_brain().think(s, DEFAULT_RULESET, CONTEXT)
    assert [a.describe() for a in result.plan.actions] == ["cancel_order(ord-1)"]
    assert result.error is not None and "the market is closed" in result.error
    assert len(api.requests) == 1


# --- escalation --------------------------------------------------------------------------


async def test_escalation_returns_the_escalation_models_plan(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    proposal = plan(
        reasoning="Signals conflict on KXHEAT; want a second opinion.", requires_opus_consult=True
    )
    final = plan(reasoning="Take a smaller position.", actions=[buy(quantity=3)], priority="HIGH")
    api.script(Reply.json(proposal, model=PLANNER), Reply.json(final, model=ESCALATION))

    result = await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert result.escalated is True
    assert "the planner requested an Opus consult" in result.escalation_reason
    assert "Signals conflict on KXHEAT" in result.escalation_reason
    assert result.model == ESCALATION
    assert [a.describe() for a in result.plan.actions] == ["place_order(KXHEAT yes 0.43×3)"]
    assert result.plan.reasoning == "Take a smaller position."
    assert [(c.tier, c.purpose) for c in result.calls] == [
        ("planner", "think"),
        ("escalation", "escalate"),
    ]
    consult = api.requests[1]
    assert consult.body["output_config"]["effort"] == "high"
    assert "PLANNER'S PROPOSAL" in consult.user_text
    assert "want a second opinion" in consult.user_text
    assert "STATE OF THE UNION" in consult.user_text
    assert consult.body["system"] == api.requests[0].body["system"]


async def test_new_orders_near_the_risk_limit_escalate_without_the_planners_flag(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    risky = sotu().model_copy(update={"current_risk_score": 0.7})
    api.script(Reply.json(PLAN, model=PLANNER), Reply.json(PLAN, model=ESCALATION))
    result = await make_brain().think(risky, DEFAULT_RULESET, CONTEXT)
    assert result.escalated and result.model == ESCALATION
    assert "above the near-risk threshold 0.60" in result.escalation_reason


async def test_news_on_a_held_market_escalates(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    news = [NewsItem(title="KXA resolves early", published=NOW, matched=["KXA"])]
    s = sotu().model_copy(update={"news": news})
    api.script(Reply.json(PLAN, model=PLANNER), Reply.json(PLAN, model=ESCALATION))
    result = await make_brain().think(s, DEFAULT_RULESET, CONTEXT)
    assert result.escalated
    assert "news on held market KXA" in result.escalation_reason


async def test_a_planner_call_that_spends_the_budget_skips_the_consult_not_the_caution(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    proposal = plan(
        reasoning="Signals conflict on KXHEAT; want a second opinion.", requires_opus_consult=True
    )
    # 10,000 output tokens of Sonnet 5.5 at $10/M = $0.10: past a $0.05 budget.
    api.script(
        Reply.json(proposal, model=PLANNER, usage=Usage(input_tokens=100, output_tokens=10_000))
    )
    result = await make_brain(daily_budget_usd=Decimal("0.05")).think(
        sotu(), DEFAULT_RULESET, CONTEXT
    )
    assert len(api.requests) == 1  # no escalation call
    assert result.escalated is True  # so every action still waits for approval
    assert result.escalation_reason.startswith(
        "consult not made, the daily AI budget is spent (the planner requested an Opus consult"
    )
    assert result.model == PLANNER
    assert [a.describe() for a in result.plan.actions] == [
        a.describe() for a in Plan.model_validate(proposal).actions
    ]


async def test_an_order_to_complete_past_the_budget_is_dropped_without_a_call(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    api.script(
        Reply.json(
            plan(actions=[_blank(quantity=10), CANCEL]),
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
    bad = plan(actions=[buy(market="")])
    api.script(Reply.json(plan(requires_opus_consult=True)), Reply.json(bad), Reply.json(bad))
    result = await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert result.escalated and result.plan.actions == []
    assert result.error is not None and result.error.startswith("the AI's plan did not validate")
    assert "escalation" in result.error


async def test_no_escalation_unless_asked_or_a_condition_holds(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    api.script(Reply.json(PLAN))
    result = await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert not result.escalated and result.escalation_reason == ""
    assert [r.model for r in api.requests] == [PLANNER]


# --- what the planner is told --------------------------------------------------------------


async def test_the_planner_sees_fees_headroom_flags_and_the_last_cycles(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    recent = (RecentAction(6, "place_order(KXB yes 0.40×5)", "blocked", "over the cost cap"),)
    api.script(Reply.json(PLAN))
    await make_brain().think(sotu(), DEFAULT_RULESET, ThinkContext(7, NOW, recent=recent))
    told = api.requests[0].user_text
    body = json.loads(told.split("\n")[1])
    opportunities = body["opportunities"]
    assert opportunities["cols"][:5] == ["market", "side", "edge", "fee", "net_edge"]
    row = dict(zip(opportunities["cols"], opportunities["rows"][0], strict=True))
    assert row["fee"] == 0.017  # 0.07 x 0.42 x 0.58 at the ask
    assert row["net_edge"] == round(row["edge"] - row["fee"], 3)
    assert body["summary"]["headroom"]["per_order"] == 50
    assert body["recent_actions"]["rows"] == [
        [6, "place_order(KXB yes 0.40×5)", "blocked", "over the cost cap"]
    ]
    system = api.requests[0].system_text
    assert "near_risk = 0.6: rule 2: above it, take only the single best opportunity" in system
    assert "kelly_fraction = 0.25" in system and "Kelly = edge / (1 - price)" in system


# --- API failures ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "label"),
    [(429, "rate limited"), (529, "overloaded"), (500, "server error")],
)
async def test_passing_api_errors_raise_after_the_sdks_retries(
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
    assert caught.value.misconfigured is False
    [call] = caught.value.calls
    assert call.ok is False and call.cost_usd == 0 and call.tier == "planner"
    assert call.error is not None and str(status) in call.error
    assert await store.llm_spend_since(NOW - timedelta(days=1)) == 0
    assert API_KEY not in caplog.text
    assert API_KEY not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "fix"),
    [
        (400, "check OMEGA_MODEL_PLANNER and OMEGA_EFFORT_PLANNER"),
        (401, "check ANTHROPIC_API_KEY"),
        (403, "has no access to claude-sonnet-5-5"),
        (404, "model claude-sonnet-5-5 not found (check OMEGA_MODEL_PLANNER)"),
    ],
)
async def test_a_refused_request_is_a_misconfiguration_named_with_its_fix(
    api: AnthropicStandIn, make_brain: MakeBrain, status: int, fix: str
) -> None:
    api.script(Reply.error(status, "nope"))
    with pytest.raises(BrainUnavailable) as caught:
        await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert caught.value.misconfigured is True
    assert fix in caught.value.message and "nope" in caught.value.message
    assert len(api.requests) == 1  # not retried as if it would pass


async def test_an_unknown_model_is_refused_by_the_api_as_a_misconfiguration(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    # Priced (so the settings accept it) but not served: the API answers 404.
    brain = make_brain(model_planner="claude-fable-5-1")
    with pytest.raises(BrainUnavailable) as caught:
        await brain.think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert caught.value.misconfigured and "HTTP 404" in caught.value.message
    assert api.refused == ["model: claude-fable-5-1"]


async def test_a_hang_past_the_timeout_raises(api: AnthropicStandIn, make_brain: MakeBrain) -> None:
    api.script(Reply.hang(10))
    with pytest.raises(BrainUnavailable, match="timed out"):
        await make_brain(ai_timeout_seconds=0.3, ai_max_retries=0).think(
            sotu(), DEFAULT_RULESET, CONTEXT
        )


async def test_the_cycles_ai_deadline_ends_a_slow_think(
    api: AnthropicStandIn, make_brain: MakeBrain
) -> None:
    api.script(Reply.json(plan(requires_opus_consult=True)), Reply.hang(10))
    brain = make_brain(ai_cycle_deadline_seconds=0.5, ai_timeout_seconds=5.0)
    started = asyncio.get_running_loop().time()
    with pytest.raises(BrainUnavailable, match=r"AI deadline of 0\.5s passed") as caught:
        await brain.think(sotu(), DEFAULT_RULESET, CONTEXT)
    assert asyncio.get_running_loop().time() - started < 4
    assert [c.purpose for c in caught.value.calls] == ["think"]  # the paid call is kept
    assert caught.value.misconfigured is False


async def test_failure_after_a_paid_call_keeps_its_cost(
    api: AnthropicStandIn, make_brain: MakeBrain, store: Store
) -> None:
    api.script(Reply.json(plan(requires_opus_consult=True)), Reply.error(500), Reply.error(500))
    with pytest.raises(BrainUnavailable) as caught:
        await make_brain().think(sotu(), DEFAULT_RULESET, CONTEXT)
    planner, escalation = caught.value.calls
    assert planner.ok and planner.cost_usd > 0
    assert not escalation.ok and escalation.tier == "escalation"
    assert await store.llm_spend_since(NOW - timedelta(days=1)) == planner.cost_usd


async def test_a_failing_ledger_does_not_lose_the_plan(api: AnthropicStandIn) -> None:
    api.script(Reply.json(PLAN))
    brain = ClaudeBrain(make_settings(api), ledger=BrokenLedger(), clock=ManualClock(NOW))
    try:
        result = await brain.think(sotu(), DEFAULT_RULESET, CONTEXT)
    finally:
        await brain.close()
    assert result.error is None and len(result.plan.actions) == 2
    assert len(result.calls) == 1


def test_plans_decode_to_the_same_actions_as_the_plan_model() -> None:
    assert [type(a) for a in Plan.model_validate(PLAN).actions] == [PlaceOrder, CancelOrder]
