"""The risk gateway for outside actions (director/submit.py): the same guard, policy and
executors as a cycle, under the ACT lock, idempotent by key across a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from director.director import Director
from director.models import (
    CancelOrder,
    CancelOrderDetails,
    NewsItem,
    Plan,
    SourceHealth,
)
from director.settings import Settings
from director.store import Store
from director.submit import SubmissionError, SubmissionStatus
from tests.builders import NOW, buy, market, opportunity
from tests.fakes import FakeExchange, ListSource, RecordingReporter, ScriptedBrain

Make = Callable[..., Director]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    stores: list[Store] = []
    exchange = FakeExchange(markets=[market("KXA"), market("KXB")])
    reporter = RecordingReporter()

    async def make(autonomy: str = "auto", brain: Any = None, news: Any = None) -> Director:
        store = await Store.open(tmp_path / "o.db")
        stores.append(store)
        return Director(
            settings=Settings(autonomy_setting=autonomy, db_path=tmp_path / "o.db"),
            store=store,
            exchange=exchange,
            brain=brain or ScriptedBrain(Plan(reasoning="idle")),
            reporter=reporter,
            clock=lambda: NOW,
            sources=[ListSource([opportunity("KXA"), opportunity("KXB")])],
            news=news,
        )

    yield {"make": make, "exchange": exchange, "reporter": reporter}
    for store in stores:
        await store.close()


async def test_an_intent_within_limits_executes_and_says_who_asked(env: dict[str, Any]) -> None:
    director = await env["make"]()
    answer = await director.submit_action(buy(), origin="rebalancer", key="intent:r-1")
    assert answer.status is SubmissionStatus.EXECUTED and answer.order_id == "f1"
    [sent] = env["exchange"].placed
    assert sent.client_order_id.endswith("-0-1")  # the outside cycle, submission #1
    record = await director.store.action(answer.action_id)
    assert record is not None and record.cycle_id == 0 and record.status == "executed"
    row = await director.store.fetch_one(
        "SELECT origin, key, status FROM submissions WHERE action_id = ?", (answer.action_id,)
    )
    assert row is not None and tuple(row) == ("rebalancer", "intent:r-1", "executed")
    # The next cycle's report says so, once.
    report = await director.run_cycle("manual")
    assert any("by rebalancer: executed" in line for line in report.alerts)
    again = await director.run_cycle("manual")
    assert not any("rebalancer" in line for line in again.alerts)


async def test_an_intent_over_a_limit_is_blocked_with_the_guards_reason(
    env: dict[str, Any],
) -> None:
    director = await env["make"]()
    answer = await director.submit_action(buy(quantity=500), origin="rebalancer", key="k")
    assert answer.status is SubmissionStatus.BLOCKED and "max 100 contracts" in answer.reason
    assert env["exchange"].placed == []


async def test_the_same_key_twice_is_one_order_even_across_a_restart(
    env: dict[str, Any],
) -> None:
    director = await env["make"]()
    first, second = await asyncio.gather(
        director.submit_action(buy(), origin="rebalancer", key="intent:x"),
        director.submit_action(buy(), origin="rebalancer", key="intent:x"),
    )
    assert sorted([first.status, second.status]) == ["duplicate", "executed"]
    await director.store.close()
    restarted = await env["make"]()
    third = await restarted.submit_action(buy(), origin="rebalancer", key="intent:x")
    assert third.status is SubmissionStatus.DUPLICATE and third.order_id == "f1"
    assert "executed" in third.reason
    assert len(env["exchange"].placed) == 1


async def test_in_confirm_an_intent_waits_with_who_asked_on_the_request(
    env: dict[str, Any],
) -> None:
    director = await env["make"](autonomy="confirm")
    answer = await director.submit_action(buy(), origin="rebalancer", key="c-1")
    assert answer.status is SubmissionStatus.AWAITING_APPROVAL and answer.approval_id
    [request] = env["reporter"].requests
    assert request.description.endswith("by rebalancer") and request.cycle_id == 0
    [listed] = await director.pending_approvals()
    assert listed.description == request.description
    # The same action again is not a second request: it points at the one waiting.
    again = await director.submit_action(buy(), origin="rebalancer", key="c-2")
    assert again.status is SubmissionStatus.AWAITING_APPROVAL
    assert again.approval_id == answer.approval_id and len(env["reporter"].requests) == 1
    decision = await director.decide_approval(answer.approval_id, "alice", True)
    assert decision.ok and len(env["exchange"].placed) == 1


async def test_an_intent_parked_while_a_cycle_thinks_is_not_asked_for_twice(
    env: dict[str, Any],
) -> None:
    brain = ScriptedBrain(Plan(reasoning="buy", actions=[buy()]))
    director = await env["make"](autonomy="confirm", brain=brain)
    brain.hold()
    cycle = asyncio.create_task(director.run_cycle("test"))
    await brain.thinking.wait()  # the cycle read what waits for approval before THINK
    assert director.running
    answer = await director.submit_action(buy(), origin="rebalancer", key="t-1")
    assert answer.status is SubmissionStatus.AWAITING_APPROVAL
    brain.release.set()
    report = await cycle
    [outcome] = report.outcomes
    assert outcome.approval_id == answer.approval_id
    assert outcome.reason == f"already awaiting approval #{answer.approval_id}"
    assert len(env["reporter"].requests) == 1


async def test_an_approval_rejected_while_a_cycle_thinks_is_not_pointed_at(
    env: dict[str, Any],
) -> None:
    brain = ScriptedBrain(Plan(reasoning="buy", actions=[buy()]))
    director = await env["make"](autonomy="confirm", brain=brain)
    first = (await director.run_cycle("test")).outcomes[0].approval_id
    assert first is not None
    brain.hold()
    cycle = asyncio.create_task(director.run_cycle("test"))
    await brain.thinking.wait()  # the cycle read what waits: approval `first`
    assert director.running
    assert (await director.decide_approval(first, "alice", False)).ok
    brain.release.set()
    [outcome] = (await cycle).outcomes
    # Asked again, not "already awaiting" an approval that was just rejected.
    assert outcome.status == "awaiting_approval" and outcome.approval_id not in (None, first)
    assert [r.approval_id for r in await director.pending_approvals()] == [outcome.approval_id]


async def test_observe_and_safe_mode_block_outside_orders_but_not_cancels(
    env: dict[str, Any],
) -> None:
    director = await env["make"](autonomy="observe")
    observed = await director.submit_action(buy(), origin="script", key="o")
    assert observed.status is SubmissionStatus.BLOCKED and "observe" in observed.reason
    await director.set_autonomy(director.settings.autonomy.__class__("auto"), "test")
    await director.set_safe_mode(True, "test")
    blocked = await director.submit_action(buy(), origin="script", key="s")
    assert blocked.status is SubmissionStatus.BLOCKED and "safe mode" in blocked.reason
    unknown = CancelOrder(details=CancelOrderDetails(order_id="nope"))
    cancel = await director.submit_action(unknown, origin="operator alice")
    assert cancel.status is SubmissionStatus.BLOCKED and "not a resting order" in cancel.reason
    assert env["exchange"].placed == []


async def test_a_submission_without_an_origin_is_refused(env: dict[str, Any]) -> None:
    director = await env["make"]()
    with pytest.raises(SubmissionError, match="origin"):
        await director.submit_action(buy(), origin="  ")


async def test_a_submission_waits_for_a_cycles_execution(env: dict[str, Any]) -> None:
    director = await env["make"]()
    async with director.act_lock:  # a cycle (or an approval) is executing
        pending = asyncio.ensure_future(director.submit_action(buy(), origin="r", key="w"))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert not pending.done() and env["exchange"].placed == []
    answer = await pending
    assert answer.status is SubmissionStatus.EXECUTED


async def test_a_key_whose_first_submission_was_interrupted_is_never_sent_again(
    env: dict[str, Any],
) -> None:
    director = await env["make"]()
    # What a crash between recording the key and settling it leaves behind.
    await director.gateway.log.begin(
        key="intent:crashed",
        origin="rebalancer",
        action_json=buy().model_dump_json(),
        description="place_order(KXA yes 0.42×10) by rebalancer",
        note="",
        now=NOW,
    )
    answer = await director.submit_action(buy(), origin="rebalancer", key="intent:crashed")
    assert answer.status is SubmissionStatus.DUPLICATE and "interrupted (not sent)" in answer.reason
    assert env["exchange"].placed == []


class CountingNews:
    def __init__(self) -> None:
        self.fetches = 0

    async def fetch(self, terms: set[str]) -> tuple[list[NewsItem], dict[str, SourceHealth]]:
        self.fetches += 1
        return [], {}


async def test_an_intent_never_makes_the_director_fetch_the_news(env: dict[str, Any]) -> None:
    news = CountingNews()
    director = await env["make"](news=news)
    answer = await director.submit_action(buy(), origin="rebalancer", key="n-1")
    assert answer.status is SubmissionStatus.EXECUTED and news.fetches == 0
    await director.run_cycle("manual")
    assert news.fetches == 1  # the cycle still reads it
