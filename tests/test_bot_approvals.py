"""Approval buttons end to end, and the approval state machine as the bot drives it."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.keyboards import ApprovalPress, PanicPress, approval_keyboard, parse_press
from bot.render import render_decision
from director.brains.rules import RulesBrain
from director.director import Director
from director.settings import Settings
from director.store import ActionStatus, ApprovalStatus, Store
from tests.bot_harness import (
    DEPUTY,
    FAST,
    HEAT_TITLE,
    OPERATOR,
    STRANGER,
    BookExchange,
    make_settings,
    one_opportunity,
    running_bot,
)
from tests.clocks import ManualClock
from tests.telegram_standin import StoredMessage, TelegramStandIn

TTL = 600


async def settled(tg: TelegramStandIn, message: StoredMessage) -> StoredMessage:
    return await tg.wait_for_edit(message)


# --- the callback data -------------------------------------------------------------------


def test_callback_data_round_trips_and_rejects_anything_else() -> None:
    keyboard = approval_keyboard(42)
    labels = [b.text for row in keyboard.inline_keyboard for b in row]
    data = [b.callback_data for row in keyboard.inline_keyboard for b in row]
    assert labels == ["✅ Approve", "❌ Reject"]
    assert [parse_press(d if isinstance(d, str) else None) for d in data] == [
        ApprovalPress(42, True),
        ApprovalPress(42, False),
    ]
    assert parse_press("pn:1700000000:y") == PanicPress(1700000000, True)
    for bad in (None, "", "ap:1:x", "ap::y", "ap:-1:y", "ap:1:y ", "ap:1234567890123:y", "pn:a:y"):
        assert parse_press(bad) is None


# --- end to end --------------------------------------------------------------------------


async def test_approve_executes_and_the_message_shows_outcome_and_who(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange, source = one_opportunity(clock, HEAT_TITLE)
    settings = make_settings(tg, tmp_path / "omega.db", approval_ttl_setting=TTL)
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        message = await h.approval_message(1)
        assert "Why: autonomy is confirm" in message.text
        assert "Cost: $43.71" in message.text
        assert "Heat wave in July?" in message.text
        assert exchange.placed == []

        query = tg.press(OPERATOR, message, "Approve")
        answer = await tg.wait_for_answer(query)
        assert answer["show_alert"] == "false"
        assert answer["text"].startswith("Approved by User1001 (1001): buy 100 KXHEAT yes @ 0.42")
        edited = await settled(tg, message)
        assert edited.text.startswith("✅ Approved · approval #1")
        assert "Approved by User1001 (1001)" in edited.text
        assert edited.buttons() == []
        assert [r.client_order_id for r in exchange.placed] == [
            f"omega-{await h.director.store.install_id()}-1-0"
        ]
        record = await h.director.store.approval(1)
        assert record is not None and record.status is ApprovalStatus.APPROVED
        assert record.decided_by == "User1001 (1001)"


async def test_reject_executes_nothing(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange, source = one_opportunity(clock, HEAT_TITLE)
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        message = await h.approval_message(1)
        query = tg.press(DEPUTY, message, "Reject")
        assert (await tg.wait_for_answer(query))["text"] == "Rejected by User1002 (1002)."
        edited = await settled(tg, message)
        assert edited.text.startswith("🚫 Rejected · approval #1")
        assert exchange.placed == []
        action = await h.director.store.action(1)
        assert action is not None and action.status == ActionStatus.REJECTED.value


async def test_a_second_press_is_told_why_and_executes_nothing(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange, source = one_opportunity(clock, HEAT_TITLE)
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        message = await h.approval_message(1)
        await tg.wait_for_answer(tg.press(OPERATOR, message, "Approve"))
        await settled(tg, message)
        # The buttons are gone from the chat now; a client that still shows them sends this.
        for data in ("ap:1:y", "ap:1:n"):
            answer = await tg.wait_for_answer(tg.press_data(DEPUTY, message, data))
            assert answer["show_alert"] == "true"
            assert answer["text"].startswith("Already approved by User1001 (1001). buy 100")
        assert len(exchange.placed) == 1
        assert message.edits == 1


async def test_simultaneous_presses_execute_once(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange, source = one_opportunity(clock, HEAT_TITLE)
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        message = await h.approval_message(1)
        # Queued together, fetched in one getUpdates, handled concurrently.
        with tg.batch():
            queries = [
                tg.press(OPERATOR, message, "Approve"),
                tg.press(DEPUTY, message, "Approve"),
                tg.press(OPERATOR, message, "Reject"),
            ]
        answers = [await tg.wait_for_answer(q) for q in queries]
        taken = [a for a in answers if a["show_alert"] == "false"]
        refused = [a for a in answers if a["show_alert"] == "true"]
        assert len(taken) == 1 and len(refused) == 2
        for answer in refused:
            assert answer["text"].startswith(("Someone else decided it first.", "Already "))
        executed = len(exchange.placed)
        assert executed == (1 if taken[0]["text"].startswith("Approved") else 0)
        await settled(tg, message)
        assert message.edits == 1


async def test_a_press_after_expiry_is_refused_and_the_message_says_expired(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange, source = one_opportunity(clock, HEAT_TITLE)
    settings = make_settings(tg, tmp_path / "omega.db", approval_ttl_setting=TTL)
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        message = await h.approval_message(1)
        clock.advance(seconds=TTL)
        answer = await tg.wait_for_answer(tg.press(OPERATOR, message, "Approve"))
        assert answer == {"text": "This approval has expired.", "show_alert": "true"}
        edited = await settled(tg, message)
        assert edited.text.startswith("⌛ Expired · approval #1")
        assert "not executed" in edited.text
        assert edited.buttons() == []
        assert exchange.placed == []


async def test_the_expiry_job_settles_approvals_nobody_pressed(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange, source = one_opportunity(clock, HEAT_TITLE)
    settings = make_settings(tg, tmp_path / "omega.db", approval_ttl_setting=TTL)
    tuning = dataclasses.replace(FAST, expiry_check_seconds=0.05)
    async with running_bot(
        tg, settings, exchange=exchange, clock=clock, source=source, tuning=tuning
    ) as h:
        message = await h.approval_message(1)
        clock.advance(seconds=TTL + 1)
        edited = await settled(tg, message)
        assert edited.text.startswith("⌛ Expired · approval #1")
        record = await h.director.store.approval(1)
        assert record is not None and record.status is ApprovalStatus.EXPIRED


async def test_a_press_the_recheck_now_blocks_executes_nothing(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange, source = one_opportunity(clock, HEAT_TITLE)
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        message = await h.approval_message(1)
        await h.command("/safemode on")  # pending approvals included
        answer = await tg.wait_for_answer(tg.press(OPERATOR, message, "Approve"))
        assert answer["show_alert"] == "true"
        assert answer["text"].startswith("Re-check on fresh state blocked it")
        assert "safe mode" in answer["text"]
        edited = await settled(tg, message)
        assert edited.text.startswith("⛔ Blocked on re-check · approval #1")
        assert "Decided by User1001 (1001)" in edited.text
        assert exchange.placed == []


async def test_an_unauthorized_press_changes_nothing(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    exchange, source = one_opportunity(clock, HEAT_TITLE)
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        caplog.set_level(logging.WARNING, logger="bot.auth")
        message = await h.approval_message(1)
        answer = await tg.wait_for_answer(tg.press(STRANGER, message, "Approve"))
        assert answer == {"text": "⛔ Not authorized.", "show_alert": "true"}
        record = await h.director.store.approval(1)
        assert record is not None and record.status is ApprovalStatus.PENDING
        assert message.edits == 0 and exchange.placed == []
        assert any(
            "unauthorized button press 'ap:1:y' from User6666 (6666)" in r.getMessage()
            for r in caplog.records
        )
        # The approval still works for the operator afterwards.
        await tg.wait_for_answer(tg.press(OPERATOR, message, "Approve"))
        assert len(exchange.placed) == 1


async def test_forged_or_unknown_button_data_is_refused(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange, source = one_opportunity(clock, HEAT_TITLE)
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        message = await h.approval_message(1)
        unknown = await tg.wait_for_answer(tg.press_data(OPERATOR, message, "ap:999:y"))
        assert unknown == {"text": "No such approval.", "show_alert": "true"}
        garbage = await tg.wait_for_answer(tg.press_data(OPERATOR, message, "rm -rf /"))
        assert garbage == {"text": "This button is not recognized.", "show_alert": "true"}
        assert message.edits == 0 and exchange.placed == []


async def test_an_approval_still_works_after_a_restart(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange, source = one_opportunity(clock, HEAT_TITLE)
    settings = make_settings(tg, tmp_path / "omega.db", approval_ttl_setting=TTL)
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        message = await h.approval_message(1)
        await h.command("/pause")  # so the restart's first tick adds no second approval

    async with running_bot(
        tg, settings, exchange=exchange, clock=clock, source=source, first_cycle=False
    ) as h:
        await tg.wait_for_message("online", chat_id=OPERATOR, after=message.message_id)
        answer = await tg.wait_for_answer(tg.press(OPERATOR, message, "Approve"))
        assert answer["text"].startswith("Approved by User1001 (1001)")
        edited = await settled(tg, message)
        assert edited.text.startswith("✅ Approved · approval #1")
        assert len(exchange.placed) == 1
        assert await h.director.store.cycle_count() == 1


async def test_an_approval_left_pending_by_a_restart_is_edited_when_it_expires(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange, source = one_opportunity(clock, HEAT_TITLE)
    settings = make_settings(tg, tmp_path / "omega.db", approval_ttl_setting=TTL)
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        message = await h.approval_message(1)
        await h.command("/pause")

    async with running_bot(
        tg, settings, exchange=exchange, clock=clock, source=source, first_cycle=False
    ) as h:
        clock.advance(seconds=TTL)
        expired = await h.director.expire_approvals()
        assert [d.approval_id for d in expired] == [1]
        edited = await settled(tg, message)
        assert edited.text.startswith("⌛ Expired · approval #1")


# --- the state machine behind the buttons, without Telegram ------------------------------


class RecordingReporter:
    def __init__(self) -> None:
        self.requests: list[int] = []
        self.settled: list[str] = []

    async def cycle_report(self, report: object) -> None:
        return None

    async def approval_requested(self, request: object) -> None:
        self.requests.append(getattr(request, "approval_id", 0))

    async def approval_settled(self, decision: object) -> None:
        self.settled.append(getattr(decision, "status", ""))

    async def alert(self, text: str) -> None:
        return None


@pytest.fixture
async def machine(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Director]:
    settings = Settings(
        _env_file=None,
        db_path=tmp_path / "omega.db",
        autonomy_setting="confirm",
        brain="rules",
        approval_ttl_setting=TTL,
    )
    exchange, source = one_opportunity(clock, HEAT_TITLE)
    director = Director(
        settings=settings,
        store=await Store.open(settings.db_path),
        exchange=exchange,
        brain=RulesBrain(settings),
        reporter=RecordingReporter(),
        clock=clock,
        sources=[source],
    )
    report = await director.run_cycle()
    assert [o.approval_id for o in report.outcomes] == [1]
    yield director
    await director.close()


async def test_machine_pending_to_approved_once(machine: Director) -> None:
    first = await machine.decide_approval(1, "alice (1)", approve=True)
    assert (first.ok, first.status) == (True, "approved")
    again = await machine.decide_approval(1, "bob (2)", approve=False)
    assert (again.ok, again.status, again.decided_by) == (False, "approved", "alice (1)")
    assert again.message.startswith("Already approved by alice (1). buy 100 KXHEAT")
    assert "Approved by alice (1)" in render_decision(first)


async def test_machine_concurrent_presses_take_exactly_one(machine: Director) -> None:
    decisions = await asyncio.gather(
        *(machine.decide_approval(1, f"user{i}", approve=i % 2 == 0) for i in range(6))
    )
    assert sum(d.ok for d in decisions) == 1
    exchange = machine.exchange
    assert isinstance(exchange, BookExchange)
    winner = next(d for d in decisions if d.ok)
    assert len(exchange.placed) == (1 if winner.status == "approved" else 0)


async def test_machine_expiry_settles_and_reports(machine: Director, clock: ManualClock) -> None:
    clock.advance(seconds=TTL - 1)
    assert await machine.expire_approvals() == []
    clock.advance(seconds=1)
    decision = await machine.decide_approval(1, "alice (1)", approve=True)
    assert (decision.ok, decision.status) == (False, "expired")
    reporter = machine.reporter
    assert isinstance(reporter, RecordingReporter)
    assert reporter.settled == ["expired"]
    assert render_decision(decision).startswith("<b>⌛ Expired</b> · approval #1")
