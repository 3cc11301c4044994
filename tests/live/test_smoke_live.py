"""A live smoke test against the real Messages API, opt-in: `make smoke-live`.

Skipped unless ANTHROPIC_API_KEY is set AND OMEGA_SMOKE_LIVE=1 (which `make smoke-live` sets),
so `make test` never spends money, even on a machine that has a key. It sends one planner,
one executor and one escalation question with the default models and prints, per call, the
model, tokens, cache reads and cost. It costs a few cents.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from director.brains.base import LLMCall
from director.brains.claude import EXECUTOR_MAX_TOKENS, PLANNER_MAX_TOKENS, ClaudeBrain
from director.brains.plan_parsing import validate_plan
from director.brains.plan_schema import order_schema, plan_schema
from director.brains.prompt import (
    EXECUTOR_SYSTEM,
    escalation_message,
    executor_message,
    planner_message,
    static_prefix,
)
from director.brains.structured import Calls, Question
from director.guard import Limits
from director.models import PlaceOrder, PlaceOrderDetails, Plan
from director.rulebook import DEFAULT_RULESET
from director.settings import load_settings
from tests.builders import market, opportunity, position, state

pytestmark = pytest.mark.skipif(
    not os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("OMEGA_SMOKE_LIVE") != "1",
    reason="live smoke test: run `make smoke-live` with ANTHROPIC_API_KEY set",
)


def _line(call: LLMCall) -> str:
    return (
        f"{call.tier:<10} {call.model:<20} in {call.input_tokens:>6} out {call.output_tokens:>6}"
        f" cache read {call.cache_read_tokens:>6} write {call.cache_write_tokens:>5}"
        f"+{call.cache_write_1h_tokens:<5} ${call.cost_usd:.5f} {call.latency_ms:.0f} ms"
        + ("" if call.ok else f" FAILED {call.error}")
    )


async def test_one_call_per_tier_with_the_default_models() -> None:
    settings = load_settings(OMEGA_BRAIN="claude")
    brain = ClaudeBrain(settings, clock=lambda: datetime.now(UTC))
    limits = Limits.from_settings(settings, DEFAULT_RULESET)
    world = state(
        positions=[position("KXA", 10)],
        opportunities=[opportunity("KXHEAT")],
        markets=[market("KXHEAT", bid="0.40", ask="0.42")],
    )
    system = static_prefix(DEFAULT_RULESET, limits)
    calls = Calls(cycle_id=None)
    try:
        planned, error = await brain.asker.ask(
            Question(
                "think",
                "planner",
                settings.model_planner,
                settings.effort_planner,
                system,
                planner_message(world, guard=limits),
                plan_schema(),
                PLANNER_MAX_TOKENS,
                validate_plan,
            ),
            calls,
        )
        assert planned is not None, error
        blank = PlaceOrder(details=PlaceOrderDetails(market="KXHEAT", quantity=5))
        proposal = Plan(reasoning="Take KXHEAT at the ask.", actions=[blank])
        filled, error = await brain.asker.ask(
            Question(
                "fill",
                "executor",
                settings.model_executor,
                settings.effort_executor,
                EXECUTOR_SYSTEM,
                executor_message(proposal, blank, world.markets["KXHEAT"], world, limits),
                order_schema(),
                EXECUTOR_MAX_TOKENS,
                lambda answer: answer,
            ),
            calls,
        )
        assert filled is not None, error
        final, error = await brain.asker.ask(
            Question(
                "escalate",
                "escalation",
                settings.model_escalation,
                settings.effort_escalation,
                system,
                escalation_message(world, planned, guard=limits),
                plan_schema(),
                PLANNER_MAX_TOKENS,
                validate_plan,
            ),
            calls,
        )
        assert final is not None, error
    finally:
        await brain.close()
        print()
        for call in calls.made:
            print(_line(call))
