"""Shared pieces of the Claude brain tests: clocks, a spy fallback, a broken ledger, the
standard state, settings pointed at the Messages API stand-in, and the fixtures that build
brains and routers on a temporary store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from director.brains.base import LLMCall, ThinkContext, ThinkResult
from director.brains.claude import ClaudeBrain
from director.brains.router import RoutedBrain
from director.models import Plan, SystemState
from director.rulebook import RuleSet
from director.settings import Settings
from director.store import Store
from tests.anthropic_standin import AnthropicStandIn
from tests.builders import NOW, market, opportunity, order, position, state
from tests.clocks import ManualClock

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
HOLD: dict[str, Any] = {
    "reasoning": "Nothing clears rule 2.",
    "actions": [],
    "priority": "LOW",
    "requires_opus_consult": False,
}
CONTEXT = ThinkContext(cycle_id=7, now=NOW)


def plan(**changes: Any) -> dict[str, Any]:
    return {**PLAN, **changes}


def buy(**details: Any) -> dict[str, Any]:
    return {**BUY, "details": {**BUY["details"], **details}}


class Seconds:
    """A monotonic clock for the stand-in's cache TTLs, moved by the test."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


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
MakeRouter = Callable[..., tuple[RoutedBrain, SpyBrain]]


@pytest.fixture
def seconds() -> Seconds:
    return Seconds()


@pytest.fixture
def api(seconds: Seconds) -> Iterator[AnthropicStandIn]:
    with AnthropicStandIn(clock=seconds) as standin:
        yield standin


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "omega.db")
    yield opened
    await opened.close()


@pytest.fixture
async def make_brain(api: AnthropicStandIn, store: Store) -> AsyncIterator[MakeBrain]:
    made: list[ClaudeBrain] = []

    def make(clock: ManualClock | None = None, **overrides: Any) -> ClaudeBrain:
        brain = ClaudeBrain(
            make_settings(api, **overrides),
            ledger=store,
            clock=clock or ManualClock(NOW),
            monotonic=Ticker(),
        )
        made.append(brain)
        return brain

    yield make
    for brain in made:
        await brain.close()


@pytest.fixture
async def make_router(api: AnthropicStandIn, store: Store) -> AsyncIterator[MakeRouter]:
    made: list[RoutedBrain] = []

    def make(
        clock: ManualClock | None = None, fallback: SpyBrain | None = None, **overrides: Any
    ) -> tuple[RoutedBrain, SpyBrain]:
        clock = clock or ManualClock(NOW)
        settings = make_settings(api, **overrides)
        spy = fallback or SpyBrain()
        primary = ClaudeBrain(settings, ledger=store, clock=clock, monotonic=Ticker())
        router = RoutedBrain(primary, spy, store, settings, clock)
        made.append(router)
        return router, spy

    yield make
    for router in made:
        await router.close()
