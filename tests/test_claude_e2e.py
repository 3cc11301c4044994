"""End to end: Director + paper exchange + the routed claude brain, the real anthropic SDK
talking to the local Messages API stand-in. The assertions are on what reached the exchange
(resting orders, fills), not only on what the brain returned."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.reporter import loud_keys
from director.brains.base import LLMCall
from director.brains.claude import ClaudeBrain
from director.brains.router import RoutedBrain
from director.brains.rules import RulesBrain
from director.director import Director
from director.exchanges.paper import PaperExchange
from director.models import Autonomy, Market, Order
from director.reporting import CycleReport
from director.scanners.feed import JsonlFeed
from director.scanners.sources import FeedSource
from director.settings import Settings
from director.store import Store
from tests.anthropic_standin import AnthropicStandIn, Reply
from tests.clocks import ManualClock
from tests.fakes import RecordingReporter

NOW = datetime(2026, 11, 24, 14, 15, tzinfo=UTC)
API_KEY = "sk-ant-e2e-secret"
CENT = Decimal("0.01")


@dataclass
class World:
    api: AnthropicStandIn
    store: Store
    exchange: PaperExchange
    director: Director
    reporter: RecordingReporter
    market: Market
    router: RoutedBrain
    clock: ManualClock

    @property
    def resting_price(self) -> Decimal:
        """A YES price below the bid: the order rests instead of filling, so it stays visible
        on the book exactly as sent."""
        assert self.market.yes_bid is not None
        return max(self.market.yes_bid - Decimal("0.05"), CENT)

    async def sent_orders(self) -> list[Order]:
        return await self.exchange.get_resting_orders()

    async def filled(self) -> int:
        return len(await self.exchange.get_fills())


def _pick_market(exchange: PaperExchange) -> Market:
    """The first open market, by ticker, with a two-sided quote away from the edges."""
    for _, candidate in sorted(exchange.markets_snapshot().items()):
        bid, ask = candidate.yes_bid, candidate.yes_ask
        if bid is not None and ask is not None and Decimal("0.15") <= bid and ask <= 0.85:
            return candidate
    raise AssertionError("the paper simulator offered no usable market")


async def _world(tmp_path: Path, api: AnthropicStandIn, **overrides: Any) -> World:
    clock = ManualClock(NOW)
    values: dict[str, Any] = {
        "_env_file": None,
        "db_path": tmp_path / "omega.db",
        "autonomy_setting": Autonomy.AUTO,
        "brain": "claude",
        "anthropic_api_key": API_KEY,
        "anthropic_base_url": api.base_url,
        "ai_timeout_seconds": 5.0,
        "ai_max_retries": 1,
        "daily_budget_usd": Decimal(10),
        "brain_fallback": "rules",
        "opportunity_feed": tmp_path / "feed.jsonl",
    }
    values.update(overrides)
    settings = Settings(**values)
    store = await Store.open(settings.db_path)
    exchange = await PaperExchange.open(
        store, seed=7, n_markets=12, starting_cash=Decimal("10000.00"), clock=clock
    )
    market = _pick_market(exchange)
    line = {
        "market": market.ticker,
        "edge": 0.15,
        "confidence": 0.8,
        "expires_in_hours": 2,
        "side": "yes",
        "source": "e2e",
    }
    (tmp_path / "feed.jsonl").write_text(json.dumps(line) + "\n")
    router = RoutedBrain(
        primary=ClaudeBrain(settings, ledger=store, clock=clock),
        fallback=RulesBrain(settings),
        ledger=store,
        settings=settings,
        clock=clock,
    )
    reporter = RecordingReporter()
    director = Director(
        settings=settings,
        store=store,
        exchange=exchange,
        brain=router,
        reporter=reporter,
        clock=clock,
        sources=[FeedSource(JsonlFeed(tmp_path / "feed.jsonl"))],
    )
    return World(api, store, exchange, director, reporter, market, router, clock)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    with AnthropicStandIn() as api:
        built = await _world(tmp_path, api)
        yield built
        await built.director.close()


def _plan(*actions: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "reasoning": fields.pop("reasoning", "Rule 2: the opportunity clears both thresholds."),
        "actions": list(actions),
        "priority": fields.pop("priority", "MEDIUM"),
        "requires_opus_consult": fields.pop("requires_opus_consult", False),
    }


def _buy(market: str, price: Decimal | None, quantity: int | None) -> dict[str, Any]:
    # Every key present, null where the planner leaves it to the executor: the schema's shape.
    details: dict[str, Any] = {
        "market": market,
        "side": "yes",
        "price": None if price is None else float(price),
        "quantity": quantity,
    }
    return {"action_type": "place_order", "details": details}


async def _run(world: World) -> CycleReport:
    return await world.director.run_cycle(trigger="manual")


async def test_a_valid_plan_reaches_the_exchange_as_sent(world: World) -> None:
    world.api.script(Reply.json(_plan(_buy(world.market.ticker, world.resting_price, 5))))
    report = await _run(world)

    assert report.error is None and report.brain_error is None
    assert report.brain == "claude" and report.model == "claude-sonnet-5-5"
    [outcome] = report.outcomes
    assert outcome.status == "executed", outcome
    [order] = await world.sent_orders()
    assert (order.market, order.side.value, order.price, order.quantity) == (
        world.market.ticker,
        "yes",
        world.resting_price,
        5,
    )
    assert await world.filled() == 0
    # The spend is in the report and in the ledger.
    assert report.cost_usd > 0
    assert await world.store.llm_spend_since(NOW - timedelta(hours=1)) == report.cost_usd
    # The AI saw the opportunity and its market (title inside the untrusted block).
    prompt = world.api.requests[0].user_text
    assert world.market.ticker in prompt
    assert world.market.title in prompt.split("<untrusted_data>")[1]


async def test_a_missing_price_is_filled_by_the_executor_then_sent(world: World) -> None:
    world.api.script(
        Reply.json(_plan(_buy(world.market.ticker, None, 4)), model="claude-sonnet-5-5"),
        Reply.json(
            {"price": float(world.resting_price), "quantity": 4, "reasoning": "rest below"},
            model="claude-haiku-5-5",
        ),
    )
    report = await _run(world)
    assert report.brain_error is None
    [order] = await world.sent_orders()
    assert (order.price, order.quantity) == (world.resting_price, 4)
    assert [r.model for r in world.api.requests] == ["claude-sonnet-5-5", "claude-haiku-5-5"]


async def test_an_invalid_plan_sends_nothing_and_the_report_says_why(world: World) -> None:
    nameless = _plan(_buy("", world.resting_price, 5))  # the schema allows it, the model not
    world.api.script(Reply.json(nameless), Reply.json(nameless))
    report = await _run(world)
    assert report.outcomes == []
    assert report.brain_error is not None and "did not validate" in report.brain_error
    assert loud_keys(report)  # told aloud
    assert await world.sent_orders() == [] and await world.filled() == 0


async def test_an_escalated_plan_waits_for_approval(world: World) -> None:
    proposal = _plan(
        _buy(world.market.ticker, world.resting_price, 5),
        requires_opus_consult=True,
        reasoning="Large move overnight; unsure whether the edge is real.",
    )
    final = _plan(_buy(world.market.ticker, world.resting_price, 2), reasoning="Half size.")
    world.api.script(
        Reply.json(proposal, model="claude-sonnet-5-5"),
        Reply.json(final, model="claude-opus-5-5"),
    )
    report = await _run(world)
    assert report.escalated is True
    assert "unsure whether the edge is real" in report.escalation_reason
    [outcome] = report.outcomes
    assert outcome.status == "awaiting_approval"
    assert outcome.description.endswith("×2)")  # the escalation model's size, not the planner's
    assert await world.sent_orders() == []
    [request] = world.reporter.requests
    assert request.escalated is True


async def test_limits_still_apply_to_the_ais_plan(world: World) -> None:
    world.api.script(Reply.json(_plan(_buy(world.market.ticker, world.resting_price, 100_000))))
    report = await _run(world)
    [outcome] = report.outcomes
    assert outcome.status == "blocked"
    assert await world.sent_orders() == []


@pytest.mark.parametrize("failure", [Reply.error(429), Reply.error(529), Reply.error(500)])
async def test_an_outage_falls_back_to_rules_and_alerts_once(world: World, failure: Reply) -> None:
    world.api.script(failure, failure, failure, failure)
    first = await _run(world)
    assert first.brain == "claude→rules"
    assert first.brain_error is not None and "AI brain failed" in first.brain_error
    assert sum("Claude brain unavailable" in a for a in first.alerts) == 1
    # What reached the exchange is exactly what the rules brain's plan executed.
    executed = [o for o in first.outcomes if o.status == "executed"]
    assert len(await world.sent_orders()) + await world.filled() >= len(executed) > 0
    assert len(world.api.requests) == 2  # one attempt and one SDK retry

    world.clock.now += timedelta(minutes=15)
    second = await _run(world)
    assert second.brain == "claude→rules"
    assert not any("Claude brain unavailable" in a for a in second.alerts)

    world.clock.now += timedelta(minutes=15)
    world.api.script(Reply.json(_plan()))
    third = await _run(world)
    assert third.brain == "claude" and third.brain_error is None
    assert sum("Claude brain recovered" in a for a in third.alerts) == 1


async def test_a_hang_past_the_timeout_falls_back(tmp_path: Path) -> None:
    with AnthropicStandIn() as api:
        built = await _world(tmp_path, api, ai_timeout_seconds=0.3, ai_max_retries=0)
        try:
            api.script(Reply.hang(10))
            report = await _run(built)
        finally:
            await built.director.close()
    assert report.brain == "claude→rules"
    assert report.brain_error is not None and "timed out" in report.brain_error


async def test_the_safe_fallback_sends_no_new_orders(tmp_path: Path) -> None:
    with AnthropicStandIn() as api:
        built = await _world(tmp_path, api, brain_fallback="safe", ai_max_retries=0)
        try:
            api.script(Reply.error(529))
            report = await _run(built)
            assert report.brain == "claude→safe"
            assert report.outcomes == []
            assert await built.sent_orders() == [] and await built.filled() == 0
        finally:
            await built.director.close()


async def test_over_budget_the_rules_brain_trades_and_the_ai_is_not_called(world: World) -> None:
    await world.store.record_llm_call(
        LLMCall(
            created_at=NOW - timedelta(hours=1),
            purpose="think",
            tier="planner",
            model="claude-sonnet-5-5",
            cost_usd=Decimal("10.00"),
        )
    )
    first = await _run(world)
    assert world.api.requests == []
    assert first.brain == "claude→rules (budget)"
    assert sum(a.startswith("AI budget reached") for a in first.alerts) == 1
    assert first.brain_error is None
    executed = [o for o in first.outcomes if o.status == "executed"]
    assert executed and len(await world.sent_orders()) + await world.filled() >= len(executed)

    world.clock.now += timedelta(minutes=15)
    second = await _run(world)
    assert not any(a.startswith("AI budget reached") for a in second.alerts)
    assert world.api.requests == []


async def test_a_misconfigured_model_is_alerted_once_and_shown_in_health_until_fixed(
    world: World,
) -> None:
    world.api.script(Reply.error(404, "model: claude-sonnet-5-5"))
    first = await _run(world)
    assert first.brain == "claude→rules (misconfigured)"
    [alert] = [a for a in first.alerts if "misconfigured" in a]
    assert "check OMEGA_MODEL_PLANNER" in alert and "will not pass by itself" in alert
    # The rules brain traded meanwhile, within the limits.
    assert any(o.status == "executed" for o in first.outcomes)

    world.clock.now += timedelta(minutes=15)
    state = await world.director.sense()
    ai = state.system_health.sources["ai"]
    assert not ai.ok and ai.detail.startswith("AI MISCONFIGURED")
    assert not ai.critical  # the rules brain keeps trading: not a reason for safe mode
    second = await _run(world)
    assert len(world.api.requests) == 1  # left alone until the retry interval
    assert not any("misconfigured" in a for a in second.alerts)
