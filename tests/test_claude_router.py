"""The routed brain: Claude within budget and while it answers; the fallback otherwise, with
the operator told once; misconfigurations told apart from passing outages; no call at all
when the world did not change. Driven through the real SDK at the Messages API stand-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from director.brains.base import LLMCall, ThinkContext, ThinkResult
from director.brains.claude import ClaudeBrain
from director.brains.router import RoutedBrain
from director.models import SystemState
from director.rulebook import DEFAULT_RULESET, RuleSet
from director.store import Store
from tests.anthropic_standin import AnthropicStandIn, Reply, Usage
from tests.builders import NOW, opportunity, order, state
from tests.claude_helpers import (
    HOLD,
    PLAN,
    PLANNER,
    BrokenLedger,
    MakeRouter,
    SpyBrain,
    make_settings,
    sotu,
)
from tests.clocks import ManualClock


async def _cycle(router: RoutedBrain, n: int = 1, world: SystemState | None = None) -> ThinkResult:
    return await router.think(world or sotu(), DEFAULT_RULESET, ThinkContext(cycle_id=n, now=NOW))


@pytest.mark.parametrize("status", [429, 529, 500])
async def test_outage_falls_back_to_rules_and_alerts_once_then_on_recovery(
    api: AnthropicStandIn, make_router: MakeRouter, status: int
) -> None:
    router, spy = make_router(ai_max_retries=1, skip_unchanged=False)
    api.script(*[Reply.error(status)] * 4, Reply.json(PLAN), Reply.json(PLAN))

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


@pytest.mark.parametrize(
    ("status", "needle"),
    [
        (400, "request refused by the API"),
        (401, "check ANTHROPIC_API_KEY"),
        (403, "permission denied"),
        (404, "not found (check OMEGA_MODEL_PLANNER)"),
    ],
)
async def test_each_4xx_is_a_misconfiguration_alerted_once_and_not_retried_each_cycle(
    api: AnthropicStandIn, make_router: MakeRouter, status: int, needle: str
) -> None:
    clock = ManualClock(NOW)
    router, spy = make_router(clock=clock, skip_unchanged=False)
    api.script(Reply.error(status, "refused"), Reply.json(PLAN))

    first = await _cycle(router, 1)
    assert first.brain == "claude→rules (misconfigured)" and spy.calls == 1
    [alert] = first.alerts
    assert alert.startswith("Claude brain misconfigured") and needle in alert
    assert "will not pass by itself" in alert
    assert first.error is not None and needle in first.error
    summary = router.status().summary()
    assert summary.startswith("AI MISCONFIGURED") and needle in summary
    assert router.degraded

    clock.now = NOW + timedelta(minutes=15)
    second = await _cycle(router, 2)
    assert len(api.requests) == 1  # not called again before the retry interval
    assert second.alerts == [] and second.brain == "claude→rules (misconfigured)"
    assert "AI MISCONFIGURED" in router.status().summary()  # shown until a call succeeds

    clock.now = NOW + timedelta(hours=1, minutes=1)
    third = await _cycle(router, 3)
    assert len(api.requests) == 2 and third.brain == "claude"
    assert third.alerts[0].startswith("Claude brain recovered")
    assert not router.degraded and router.status().retry_at is None


async def test_an_unchanged_world_skips_the_planner(
    api: AnthropicStandIn, make_router: MakeRouter
) -> None:
    router, spy = make_router()
    quiet = state(opportunities=[opportunity("KXHEAT")], orders=[order("ord-1", "KXB", 1)])
    api.script(Reply.json(HOLD), Reply.json(HOLD))

    first = await _cycle(router, 1, quiet)
    assert first.brain == "claude" and len(api.requests) == 1

    # Quote noise is not material: the same opportunities, positions, orders and health.
    second = await _cycle(router, 2, quiet.model_copy(update={"current_risk_score": 0.01}))
    assert len(api.requests) == 1 and second.calls == []
    assert second.plan.actions == [] and second.brain == "claude (unchanged)"
    assert "Unchanged since cycle 1" in second.plan.reasoning
    assert "no AI call" in second.plan.reasoning
    assert spy.calls == 0

    moved = quiet.model_copy(update={"active_opportunities": [opportunity("KXHEAT", edge="0.30")]})
    third = await _cycle(router, 3, moved)
    assert third.brain == "claude" and len(api.requests) == 2


async def test_a_stale_order_is_always_worth_a_call(
    api: AnthropicStandIn, make_router: MakeRouter
) -> None:
    router, _ = make_router()
    stale = state(orders=[order("ord-1", "KXB", age_hours=3)])
    api.script(Reply.json(HOLD), Reply.json(HOLD))
    await _cycle(router, 1, stale)
    await _cycle(router, 2, stale)
    assert len(api.requests) == 2


async def test_the_skip_can_be_turned_off(api: AnthropicStandIn, make_router: MakeRouter) -> None:
    router, _ = make_router(skip_unchanged=False)
    quiet = state()
    api.script(Reply.json(HOLD), Reply.json(HOLD))
    await _cycle(router, 1, quiet)
    await _cycle(router, 2, quiet)
    assert len(api.requests) == 2


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
    clock = ManualClock(NOW)
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
    api.script(Reply.json(PLAN))
    third = await _cycle(router, 3)
    assert third.brain == "claude" and third.alerts == []
    assert spy.calls == 2
    assert router.status().mode == "claude"


async def test_the_brains_own_spend_reaches_the_cap(
    api: AnthropicStandIn, make_router: MakeRouter
) -> None:
    router, _ = make_router(daily_budget_usd=Decimal("0.05"), skip_unchanged=False)
    # 10,000 output tokens of Sonnet 5.5 at $10/M = $0.10, past the $0.05 cap.
    api.script(Reply.json(PLAN, usage=Usage(input_tokens=100, output_tokens=10_000)))
    first = await _cycle(router, 1)
    assert first.brain == "claude" and first.cost_usd == Decimal("0.1002")
    second = await _cycle(router, 2)
    assert second.brain == "claude→rules (budget)"
    assert len(api.requests) == 1
    assert "$0.10 of $0.05" in second.alerts[0]


async def test_unreadable_spend_never_calls_the_ai(api: AnthropicStandIn) -> None:
    settings = make_settings(api)
    spy = SpyBrain()
    primary = ClaudeBrain(settings, ledger=BrokenLedger(), clock=ManualClock(NOW))
    router = RoutedBrain(primary, spy, BrokenLedger(), settings, ManualClock(NOW))
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
    router = RoutedBrain(ExplodingBrain(), spy, store, settings, ManualClock(NOW))
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
    api.script(Reply.refusal(), Reply.refusal())
    result = await _cycle(router)
    assert result.brain == "claude" and result.plan.actions == []
    assert result.error is not None and result.alerts == []
    assert spy.calls == 0 and not router.degraded
