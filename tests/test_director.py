from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from director.director import CycleInProgress, Director
from director.models import (
    Autonomy,
    CancelOrder,
    CancelOrderDetails,
    Plan,
    Priority,
)
from director.settings import Settings
from director.store import Store
from tests.builders import NOW, D, buy, market, opportunity, order
from tests.clocks import ManualClock
from tests.fakes import FakeExchange, ListSource, RecordingReporter, ScriptedBrain

MakeDirector = Callable[..., Director]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    store = await Store.open(tmp_path / "o.db")
    exchange = FakeExchange(markets=[market("KXA"), market("KXB")])
    clock = ManualClock(NOW)
    reporter = RecordingReporter()
    made: list[Director] = []

    def make(brain: Any, autonomy: str = "auto", **settings: Any) -> Director:
        director = Director(
            settings=Settings(autonomy_setting=autonomy, db_path=tmp_path / "o.db", **settings),
            store=store,
            exchange=exchange,
            brain=brain,
            reporter=reporter,
            clock=clock,
            sources=[ListSource([opportunity("KXA"), opportunity("KXB")])],
        )
        made.append(director)
        return director

    yield {"store": store, "exchange": exchange, "clock": clock, "reporter": reporter, "make": make}
    await store.close()


async def test_a_cycle_executes_records_and_reports(env: dict[str, Any]) -> None:
    director = env["make"](ScriptedBrain(Plan(reasoning="go", actions=[buy()], priority="MEDIUM")))
    report = await director.run_cycle("manual")
    assert report.error is None and report.brain == "scripted"
    [outcome] = report.outcomes
    assert outcome.status == "executed" and "KXA" in outcome.detail
    [sent] = env["exchange"].placed
    assert sent.client_order_id.startswith("omega-") and sent.client_order_id.endswith(
        f"-{report.cycle_id}-0"
    )
    assert env["reporter"].reports == [report]
    record = await env["store"].cycle(report.cycle_id)
    assert record.status == "done" and record.plan is not None and record.plan.reasoning == "go"
    assert set(record.timings) >= {"sense_ms", "think_ms", "act_ms", "total_ms"}
    [action] = await env["store"].cycle_actions(report.cycle_id)
    assert action.status == "executed" and action.order_id == "f1"


async def test_observe_never_sends(env: dict[str, Any]) -> None:
    director = env["make"](ScriptedBrain(Plan(reasoning="go", actions=[buy()])), autonomy="observe")
    report = await director.run_cycle("manual")
    assert [o.status for o in report.outcomes] == ["observed"]
    assert env["exchange"].placed == []


async def test_blocked_actions_are_recorded_with_their_reason(env: dict[str, Any]) -> None:
    director = env["make"](ScriptedBrain(Plan(reasoning="x", actions=[buy(price="1.20")])))
    report = await director.run_cycle("manual")
    assert report.outcomes[0].status == "blocked" and "outside" in report.outcomes[0].reason
    assert env["exchange"].placed == []


async def test_approval_flow_confirm_then_approve_once(env: dict[str, Any]) -> None:
    director = env["make"](ScriptedBrain(Plan(reasoning="x", actions=[buy()])), autonomy="confirm")
    report = await director.run_cycle("manual")
    [request] = env["reporter"].requests
    assert report.outcomes[0].status == "awaiting_approval" and env["exchange"].placed == []
    [listed] = await director.pending_approvals()
    assert listed.cost == request.cost == D("4.38") and listed.market_title == "Will KXA happen?"
    # Two presses at the same moment: one executes, the other is told.
    first, second = await asyncio.gather(
        director.decide_approval(request.approval_id, "alice", True),
        director.decide_approval(request.approval_id, "bob", True),
    )
    assert sorted([first.ok, second.ok]) == [False, True]
    assert len(env["exchange"].placed) == 1
    again = await director.decide_approval(request.approval_id, "carol", True)
    assert not again.ok and "Already approved by" in again.message
    assert len(env["exchange"].placed) == 1


async def test_reject_and_expiry(env: dict[str, Any]) -> None:
    director = env["make"](
        ScriptedBrain(
            Plan(reasoning="x", actions=[buy("KXA")]), Plan(reasoning="y", actions=[buy("KXB")])
        ),
        autonomy="confirm",
        approval_ttl_setting=60,
    )
    await director.run_cycle("manual")
    await director.run_cycle("manual")
    first, second = env["reporter"].requests
    rejected = await director.decide_approval(first.approval_id, "alice", False)
    assert rejected.ok and rejected.status == "rejected"
    env["clock"].advance(seconds=61)
    late = await director.decide_approval(second.approval_id, "alice", True)
    assert not late.ok and late.status == "expired"
    assert env["exchange"].placed == []
    assert [d.approval_id for d in env["reporter"].settled] == [second.approval_id]


async def test_approval_is_rechecked_on_fresh_state(env: dict[str, Any]) -> None:
    director = env["make"](ScriptedBrain(Plan(reasoning="x", actions=[buy()])), autonomy="confirm")
    await director.run_cycle("manual")
    [request] = env["reporter"].requests
    await director.set_safe_mode(True, "alice")
    decision = await director.decide_approval(request.approval_id, "alice", True)
    assert not decision.ok and decision.status == "blocked" and "safe mode" in decision.message
    assert env["exchange"].placed == []


async def test_auto_holds_high_priority_and_escalated_plans(env: dict[str, Any]) -> None:
    high = env["make"](ScriptedBrain(Plan(reasoning="x", actions=[buy()], priority=Priority.HIGH)))
    report = await high.run_cycle("manual")
    assert report.outcomes[0].reason == "HIGH-priority plan"
    escalated = env["make"](
        ScriptedBrain(Plan(reasoning="x", actions=[buy("KXB")]), escalated=True)
    )
    report = await escalated.run_cycle("manual")
    assert report.outcomes[0].reason == "plan was escalated"
    assert env["exchange"].placed == []


async def test_second_cycle_is_refused_while_one_runs(env: dict[str, Any]) -> None:
    brain = ScriptedBrain(Plan(reasoning="slow"))
    director = env["make"](brain)
    brain.hold()
    running = asyncio.create_task(director.run_cycle("schedule"))
    await brain.thinking.wait()
    assert director.running
    with pytest.raises(CycleInProgress):
        await director.run_cycle("manual")
    brain.release.set()
    await running
    assert not director.running


async def test_approval_press_is_answered_while_a_cycle_thinks(env: dict[str, Any]) -> None:
    brain = ScriptedBrain(Plan(reasoning="x", actions=[buy()]), Plan(reasoning="slow"))
    director = env["make"](brain, autonomy="confirm")
    await director.run_cycle("manual")
    [request] = env["reporter"].requests
    brain.hold()
    thinking = asyncio.create_task(director.run_cycle("manual"))
    await asyncio.wait_for(brain.thinking.wait(), 2)
    assert director.running  # the press lands while that cycle is in THINK
    decision = await asyncio.wait_for(director.decide_approval(request.approval_id, "a", True), 2)
    assert decision.ok
    brain.release.set()
    await thinking


async def test_paused_schedule_skips_but_manual_runs(env: dict[str, Any]) -> None:
    director = env["make"](ScriptedBrain(Plan(reasoning="x")))
    await director.set_paused(True, "alice")
    skipped = await director.run_cycle("schedule")
    assert skipped.cycle_id == 0 and "Paused" in skipped.reasoning
    manual = await director.run_cycle("manual")
    assert manual.cycle_id > 0


async def test_a_failing_critical_source_means_safe_mode_not_a_crash(env: dict[str, Any]) -> None:
    env["exchange"].fail_reads.add("balance")
    brain = ScriptedBrain(Plan(reasoning="x", actions=[buy()]))
    report = await env["make"](brain).run_cycle("manual")
    assert report.error is None and report.state is not None and report.state.degraded
    assert report.outcomes[0].status == "blocked" and "safe mode" in report.outcomes[0].reason
    assert brain.seen[0].system_health.sources["balance"].ok is False
    assert any("safe mode" in a for a in report.alerts)


async def test_exchange_refusal_is_recorded_and_the_next_cycle_runs(env: dict[str, Any]) -> None:
    env["exchange"].refuse_orders = "market halted"
    director = env["make"](ScriptedBrain(Plan(reasoning="x", actions=[buy()])))
    report = await director.run_cycle("manual")
    assert report.outcomes[0].status == "failed" and "market halted" in report.outcomes[0].detail
    env["exchange"].refuse_orders = None
    nxt = await director.run_cycle("manual")
    assert nxt.outcomes[0].status == "executed"


async def test_a_brain_exception_is_a_reported_noop(env: dict[str, Any]) -> None:
    class Broken(ScriptedBrain):
        async def think(self, *args: Any) -> Any:
            raise RuntimeError("model on fire")

    report = await env["make"](Broken(Plan(reasoning="x"))).run_cycle("manual")
    assert report.brain_error is not None and "model on fire" in report.brain_error
    assert report.outcomes == [] and report.error is None


async def test_reporter_failure_never_stops_the_loop(env: dict[str, Any]) -> None:
    env["reporter"].fail = True
    director = env["make"](ScriptedBrain(Plan(reasoning="x", actions=[buy()])), autonomy="confirm")
    report = await director.run_cycle("manual")
    assert report.outcomes[0].status == "awaiting_approval"


async def test_panic_cancels_everything_and_turns_safe_mode_on(env: dict[str, Any]) -> None:
    exchange = env["exchange"]
    exchange.orders = {"o1": order("o1", "KXA"), "o2": order("o2", "KXB")}
    director = env["make"](ScriptedBrain(Plan(reasoning="x")))
    result = await director.panic("alice")
    assert sorted(result.canceled) == ["o1", "o2"] and result.failed == []
    assert await env["store"].safe_mode()
    cancel = CancelOrder(details=CancelOrderDetails(order_id="o1"))
    assert cancel.describe() == "cancel_order(o1)"


async def test_operator_autonomy_override(env: dict[str, Any]) -> None:
    director = env["make"](ScriptedBrain(Plan(reasoning="x")))
    assert await director.autonomy() is Autonomy.AUTO
    await director.set_autonomy(Autonomy.OBSERVE, "alice")
    assert await director.autonomy() is Autonomy.OBSERVE


async def test_old_cycle_states_are_dropped_once_a_day_and_their_figures_kept(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, clock = env["store"], env["clock"]
    director = env["make"](ScriptedBrain(Plan.no_op("hold")), state_retention_days=30)
    old = await director.run_cycle("manual")
    clock.advance(days=31)
    recent = await director.run_cycle("manual")
    dropped = await store.cycle(old.cycle_id)
    assert dropped.state is None and dropped.equity is not None and dropped.plan is not None
    assert (await store.cycle(recent.cycle_id)).state is not None

    calls: list[datetime] = []
    forget = store.forget_states_before

    async def counting(when: datetime) -> int:
        calls.append(when)
        return await forget(when)

    monkeypatch.setattr(store, "forget_states_before", counting)
    clock.advance(hours=1)
    await director.run_cycle("manual")  # the same UTC day: not again
    assert calls == []
    clock.advance(days=1)
    await director.run_cycle("manual")
    assert calls == [clock.now - timedelta(days=30)]
