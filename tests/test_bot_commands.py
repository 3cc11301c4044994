"""End to end: every operator command through the Bot API stand-in, the real bot and Director."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.table import COMMANDS
from director.models import Autonomy
from tests.bot_harness import (
    AUTO,
    DEPUTY,
    HEAT_TITLE,
    OPERATOR,
    STRANGER,
    BookExchange,
    GatedBrain,
    eventually,
    make_settings,
    one_opportunity,
    running_bot,
)
from tests.clocks import ManualClock
from tests.telegram_standin import PNG_MAGIC, TelegramStandIn


async def test_start_up_sets_the_menu_drops_stale_updates_and_reports_the_first_cycle(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    tg.send_command(OPERATOR, "/pause")  # typed while the bot was down: must not take effect
    exchange, source = one_opportunity(clock, HEAT_TITLE)
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        assert [c["command"] for c in tg.commands] == [c.name for c in COMMANDS]
        # The backlog was read from offset 0 and confirmed, so polling drops nothing new.
        offsets = [r.params.get("offset", "0") for r in tg.calls("getUpdates")]
        assert offsets[:2] == ["0", "2"]
        assert tg.calls("deleteWebhook")[0].params["drop_pending_updates"] == "false"
        texts = [m.text for m in tg.bot_messages(OPERATOR)]
        assert texts[0].startswith("📥 While I was down you sent:\n• /pause at ")
        assert "Not run" in texts[0]
        assert texts[1].startswith("🟢 Omega Director online")
        report = next(t for t in texts if t.startswith("🔁 Cycle #1"))
        assert "schedule" in report
        assert "Cash $1,000.00 · Equity $1,000.00" in report
        assert "Taking: KXHEAT yes 100@0.42" in report  # the brain's reasoning
        assert "waiting for approval #1: autonomy is confirm" in report
        assert "Heat wave in July?" in report
        assert "🧠 rules · cost $0.0000 · priority MEDIUM · rules v1" in report
        assert not await h.director.store.paused()


async def test_help_and_start_list_every_command(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=BookExchange([]), clock=clock) as h:
        for command in ("/help", "/start"):
            reply = await h.command(command)
            assert "Omega Director · paper exchange · brain rules · autonomy confirm" in reply.text
            for spec in COMMANDS:
                assert f"/{spec.name} — " in reply.text


async def test_state_shows_money_book_opportunities_health_and_switches(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange, source = one_opportunity(clock, HEAT_TITLE)
    settings = make_settings(tg, tmp_path / "omega.db", **AUTO)
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        # auto: the first cycle placed the order, so there is a resting order to show.
        reply = await h.command("/state")
        text = reply.text
        assert "State of the Union · paper" in text
        assert "Cash $958.00 · Equity $1,000.00" in text
        assert "Exposure $42.00 (4.20% of equity)" in text
        assert "Autonomy auto · Safe mode off · Loop running" in text
        assert "next cycle" in text
        assert "AI spend today $0.0000 of $10.00 budget" in text
        assert "Health ok" in text
        assert "Resting orders (1)" in text
        assert "ord-1 buy KXHEAT yes 100/100 @ 0.42" in text
        assert "Top opportunities (1)" in text
        assert "KXHEAT yes edge 0.15 conf 0.8 [test-scanner]" in text
        assert "Heat wave in July?" in text


async def test_plan_shows_the_last_plan_with_reasoning_and_outcomes(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange, source = one_opportunity(clock, HEAT_TITLE)
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        text = (await h.command("/plan")).text
        assert "Last plan · cycle #1" in text
        assert "priority MEDIUM" in text
        assert "Rule 2 applies" in text
        assert "place_order(KXHEAT yes 0.42×100) waiting for approval #1" in text


async def test_cycle_runs_now_and_is_refused_while_one_runs(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    settings = make_settings(tg, tmp_path / "omega.db")
    brain = GatedBrain(settings)
    async with running_bot(tg, settings, exchange=BookExchange([]), clock=clock, brain=brain) as h:
        brain.hold()
        assert "Cycle started" in (await h.command("/cycle")).text
        await brain.entered.wait()
        refused = await h.command("/cycle", user=DEPUTY)
        assert "A cycle is already running" in refused.text
        brain.gate.set()
        report = await tg.wait_for_message("Cycle #2", chat_id=OPERATOR)
        assert "· manual ·" in report.text
        await h.cycle_done(2)
        assert await h.director.store.cycle_count() == 2


async def test_safemode_pause_resume_and_autonomy_are_persisted(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=BookExchange([]), clock=clock) as h:
        store = h.director.store
        assert "Safe mode is off" in (await h.command("/safemode")).text
        on = await h.command("/safemode on")
        assert "Safe mode ON (by User1001 (1001))" in on.text
        assert await store.safe_mode()
        assert await store.get_flag("safe_mode") == "1"
        bad = await h.command("/safemode maybe")
        assert "Didn't understand maybe. Usage: /safemode on|off" in bad.text
        assert await store.safe_mode()
        await h.command("/safemode OFF")
        assert not await store.safe_mode()

        assert "Paused" in (await h.command("/pause")).text
        assert await store.paused()
        # A scheduled tick while paused runs nothing.
        assert h.bot.runner.start("schedule")
        await h.bot.runner.wait()
        assert await store.cycle_count() == 1
        resumed = await h.command("/resume")
        assert "Resumed (by User1001 (1001))" in resumed.text
        assert "Next cycle" in resumed.text
        assert not await store.paused()

        shown = await h.command("/autonomy")
        assert "Autonomy is confirm: every action waits for your approval" in shown.text
        await h.command("/autonomy observe")
        assert await store.autonomy() is Autonomy.OBSERVE
        assert await h.director.autonomy() is Autonomy.OBSERVE
        bad = await h.command("/autonomy yolo")
        assert "Usage: /autonomy observe|confirm|auto" in bad.text
        assert await store.autonomy() is Autonomy.OBSERVE
        assert "Didn't understand" in (await h.command("/pause now")).text


async def test_history_rules_and_review(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange, source = one_opportunity(clock, HEAT_TITLE)
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        h.bot.runner.start("manual")
        await h.cycle_done(2)
        history = (await h.command("/history")).text
        assert "Last 2 cycle(s)" in history
        lines = history.splitlines()
        assert lines[1].startswith("#2 ") and "manual · done · eq $1,000.00" in lines[1]
        assert lines[2].startswith("#1 ") and "schedule · done" in lines[2]
        assert "1 action(s)" in lines[2]
        assert "Last 1 cycle(s)" in (await h.command("/history 1")).text
        for bad in ("/history 0", "/history 51", "/history x", "/history 1 2", "/history -3"):
            assert "Usage: /history [n], n from 1 to 50" in (await h.command(bad)).text

        rules = (await h.command("/rules")).text
        assert "Rules v1" in rules
        assert "1. Preserve capital. If risk_score > 0.8, reduce positions." in rules
        assert "min_confidence 0.7" in rules

        review = (await h.command("/review")).text
        assert review.startswith("🔬 Review started (statistics)")
        report = await tg.wait_for_message("Review #1", chat_id=OPERATOR)
        assert "No change: the evidence supports none" in report.text


async def test_pnl_sends_a_png_chart_with_the_figures(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    settings = make_settings(tg, tmp_path / "omega.db")
    exchange = BookExchange([], cash="1000")
    async with running_bot(tg, settings, exchange=exchange, clock=clock) as h:
        clock.advance(seconds=3600)
        exchange.cash = exchange.cash + 50
        h.bot.runner.start("manual")
        await h.cycle_done(2)
        before = len(tg.calls("sendPhoto"))
        tg.send_command(OPERATOR, "/pnl")
        photo = await tg.wait_for(lambda: tg.calls("sendPhoto")[before:], what="a chart")
        assert photo[0].files["photo"].startswith(PNG_MAGIC)
        chart = await tg.wait_for_message("Max drawdown", chat_id=OPERATOR)
        assert "Now $1,050.00 · Start $1,000.00 · Change +$50.00 (+5.00%)" in chart.caption
        assert "2 cycle(s)" in chart.caption
        assert "Usage: /pnl [days]" in (await h.command("/pnl forever")).text


async def test_pnl_without_history_says_so(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=BookExchange([]), clock=clock) as h:
        clock.advance(seconds=3 * 86400)  # the only recorded cycle is now older than one day
        reply = await h.command("/pnl 1")
        assert "No equity recorded in the last 1 day(s) yet" in reply.text
        assert tg.calls("sendPhoto") == []


async def test_pending_lists_approvals_and_offers_their_buttons_again(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange, source = one_opportunity(clock, HEAT_TITLE)
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        replies = await h.replies_after("/pending", 2)
        assert "1 approval(s) waiting" in replies[0].text
        assert "#1 place_order(KXHEAT yes 0.42×100) — autonomy is confirm" in replies[0].text
        assert replies[1].button_data("Approve") == "ap:1:y"

        async def remembered() -> bool:
            record = await h.director.store.approval(1)
            return record is not None and record.message_id == replies[1].message_id

        await eventually(remembered, what="the new message id stored")

        # Asked from another chat, the buttons come to that chat.
        deputy = await h.replies_after("/pending", 2, user=DEPUTY)
        assert deputy[1].chat_id == DEPUTY and deputy[1].button_data("Reject") == "ap:1:n"

        # The re-sent buttons work like the originals.
        query = tg.press(OPERATOR, replies[1], "Approve")
        await tg.wait_for_answer(query)
        assert len(exchange.placed) == 1
        assert "No approvals are waiting" in (await h.command("/pending")).text


async def test_unknown_commands_get_a_pointer_to_help(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=BookExchange([]), clock=clock) as h:
        assert "Unknown command. /help" in (await h.command("/frobnicate")).text


async def test_unauthorized_commands_are_refused_logged_and_change_nothing(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    exchange, source = one_opportunity(clock, HEAT_TITLE)
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        caplog.set_level(logging.WARNING, logger="bot.auth")
        for command in ("/safemode on", "/pause", "/autonomy auto", "/state", "/panic", "/cycle"):
            reply = await h.command(command, user=STRANGER)
            assert reply.text == "⛔ Not authorized."
        assert not await h.director.store.safe_mode()
        assert not await h.director.store.paused()
        assert await h.director.store.autonomy() is None
        assert await h.director.store.cycle_count() == 1
        refusals = [r.getMessage() for r in caplog.records if r.name == "bot.auth"]
        assert len(refusals) == 6
        assert "unauthorized command '/safemode on' from User6666 (6666)" in refusals[0]


async def test_panic_asks_then_turns_safe_mode_on_and_cancels_every_order(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange, source = one_opportunity(clock, HEAT_TITLE)
    settings = make_settings(tg, tmp_path / "omega.db", **AUTO)
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        assert len(await exchange.get_resting_orders()) == 1
        prompt = await h.command("/panic")
        assert "Panic?" in prompt.text
        assert not await h.director.store.safe_mode()  # nothing happens before the confirm

        query = tg.press(OPERATOR, prompt, "Confirm panic")
        answer = await tg.wait_for_answer(query)
        assert answer["text"] == "Safe mode ON; canceled 1 order(s)."
        assert await h.director.store.safe_mode()
        assert await exchange.get_resting_orders() == []
        edited = await tg.wait_for_edit(prompt)
        assert "Panic by User1001 (1001): safe mode is ON." in edited.text
        assert "• ord-1" in edited.text
        assert edited.buttons() == []


async def test_panic_can_be_cancelled_and_a_stale_confirm_does_nothing(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange, source = one_opportunity(clock, HEAT_TITLE)
    settings = make_settings(tg, tmp_path / "omega.db", **AUTO)
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        first = await h.command("/panic")
        query = tg.press(OPERATOR, first, "Cancel")
        assert (await tg.wait_for_answer(query))["text"] == "Panic canceled."
        assert "Panic canceled by User1001 (1001)." in (await tg.wait_for_edit(first)).text

        second = await h.command("/panic")
        clock.advance(seconds=301)
        query = tg.press(OPERATOR, second, "Confirm panic")
        answer = await tg.wait_for_answer(query)
        assert "stale" in answer["text"] and answer["show_alert"] == "true"
        assert not await h.director.store.safe_mode()
        assert len(await exchange.get_resting_orders()) == 1


async def test_the_deputy_may_command_too(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=BookExchange([]), clock=clock) as h:
        reply = await h.command("/pause", user=DEPUTY)
        assert "Paused (by User1002 (1002))" in reply.text
        assert await h.director.store.get_flag("paused") == "1"
