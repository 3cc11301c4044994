"""The operator's cockpit end to end: real PTB against the Bot API stand-in, the real director.

Roles and chats, /close and /cancel through the guard, /why, the backlog read at start,
messages that survive 429s and 502s, quiet routine reports, and prompts decided once.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

import pytest

from director.models import Autonomy, OrderAction, Position, Side
from tests.bot_harness import (
    AUTO,
    DEPUTY,
    OPERATOR,
    STRANGER,
    BookExchange,
    GatedBrain,
    ListSource,
    eventually,
    make_settings,
    market,
    one_opportunity,
    opportunity,
    running_bot,
)
from tests.clocks import ManualClock
from tests.telegram_standin import TelegramStandIn

VIEWER = 3003
GROUP = -100777


def held(clock: ManualClock) -> BookExchange:
    exchange = BookExchange(
        [market("KXHELD", title="Held market", bid="0.55", ask="0.57")], clock=clock
    )
    exchange.positions = [
        Position(market="KXHELD", side=Side.YES, quantity=10, avg_price=Decimal("0.40"))
    ]
    return exchange


async def no_reply(tg: TelegramStandIn, chat_id: int, sent_after: int) -> bool:
    """True when the bot has sent nothing to `chat_id` since message `sent_after`."""
    return not [m for m in tg.bot_messages(chat_id) if m.message_id > sent_after]


# --- roles and chats ---------------------------------------------------------------------


async def test_a_viewer_reads_but_his_safemode_on_changes_nothing(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tg, tmp_path / "omega.db", viewers=[VIEWER])
    async with running_bot(tg, settings, exchange=held(clock), clock=clock) as h:
        caplog.set_level(logging.WARNING, logger="bot.auth")
        reply = await h.command("/safemode on", user=VIEWER)
        assert reply.text == "👁 View-only: /safemode changes things; ask an operator."
        assert not await h.director.queries.safe_mode()
        assert "view-only user" in caplog.text
        assert "Positions (1)" in (await h.command("/state", user=VIEWER)).text
        assert "KXHELD" in (await h.command("/positions", user=VIEWER)).text
        help_text = (await h.command("/help", user=VIEWER)).text
        assert "/why — " in help_text and "/panic — " not in help_text


async def test_a_viewer_presses_no_button(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange, source = one_opportunity(clock)
    settings = make_settings(tg, tmp_path / "omega.db", viewers=[VIEWER])
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        message = await h.approval_message(1)
        answer = await tg.wait_for_answer(tg.press(VIEWER, message, "Approve"))
        assert answer == {"text": "⛔ Not authorized.", "show_alert": "true"}
        assert exchange.placed == []


async def test_a_command_for_another_bot_gets_no_reply(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=BookExchange([]), clock=clock) as h:
        for text in ("/state@otherbot", "/nonsense@otherbot"):
            before = tg.last_message_id(OPERATOR)
            update = tg.send_command(OPERATOR, text)
            # A later command to us is answered: the one before it was seen, and ignored.
            reply = await h.command("/limits")
            assert update < 10**6 and "Hard limits" in reply.text
            mine = [m for m in tg.bot_messages(OPERATOR) if m.message_id > before]
            assert [m.text.split()[0] for m in mine] == ["🧱"]
        addressed = await h.command(f"/limits@{tg.bot_user['username']}")
        assert "Hard limits" in addressed.text


async def test_in_a_group_strangers_get_no_reply_and_account_data_stays_private(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=held(clock), clock=clock):
        caplog.set_level(logging.WARNING, logger="bot.auth")
        tg.send_command(STRANGER, "/state", chat_id=GROUP)
        await eventually(lambda: _logged(caplog, "in group -100777"), what="the refusal logged")
        tg.send_command(OPERATOR, "/state", chat_id=GROUP)
        told = await tg.wait_for_message("Ask me in a private chat", chat_id=GROUP)
        # One reply in the group, and it is the refusal to the operator: nothing to the stranger
        # and no account data.
        assert [m.message_id for m in tg.bot_messages(GROUP)] == [told.message_id]
        assert "Cash" not in told.text


async def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return text in caplog.text


# --- /close, /cancel, /why -----------------------------------------------------------------


async def test_close_of_a_held_position_places_a_reducing_order_through_the_guard(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange = held(clock)
    settings = make_settings(tg, tmp_path / "omega.db", autonomy_setting="auto")
    async with running_bot(tg, settings, exchange=exchange, clock=clock) as h:
        reply = await h.command("/close KXHELD 4")
        assert reply.text.startswith("✅ Done: rebalance(KXHELD → 6) by operator User1001 (1001)")
        assert "through the guard" in reply.text
        (order,) = exchange.placed
        assert (order.action, order.side, order.quantity, order.price) == (
            OrderAction.SELL,
            Side.YES,
            4,
            Decimal("0.55"),
        )
        # More than is held is refused before anything is asked of the guard.
        assert "more than the 10 held" in (await h.command("/close KXHELD 11")).text
        assert "no position in KXNONE" in (await h.command("/close KXNONE")).text
        assert len(exchange.placed) == 1


async def test_close_in_confirm_waits_for_approval_like_a_brains_action(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange = held(clock)
    settings = make_settings(tg, tmp_path / "omega.db")  # confirm
    async with running_bot(tg, settings, exchange=exchange, clock=clock) as h:
        reply = await h.command("/close KXHELD")
        assert reply.text.startswith("⏳ Waiting for approval")
        request = await h.approval_message(1)
        assert "by operator User1001 (1001)" in request.text
        assert "Close: sell 10 YES at the bid (10 → 0)" in request.text
        assert exchange.placed == []
        await tg.wait_for_answer(tg.press(DEPUTY, request, "Approve"))
        await tg.wait_for_edit(request)
        assert [(o.action, o.quantity) for o in exchange.placed] == [(OrderAction.SELL, 10)]


async def test_cancel_of_a_resting_order_goes_through_the_guard(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange, source = one_opportunity(clock)
    settings = make_settings(tg, tmp_path / "omega.db", **AUTO)
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        (resting,) = await exchange.get_resting_orders()
        assert resting.order_id in (await h.command("/orders")).text
        reply = await h.command(f"/cancel {resting.order_id}")
        assert reply.text.startswith(f"✅ Done: cancel_order({resting.order_id})")
        assert await exchange.get_resting_orders() == []
        again = await h.command(f"/cancel {resting.order_id}")
        assert again.text.startswith("⛔ Blocked") and "not a resting order" in again.text


async def test_why_names_the_threshold_an_opportunity_missed(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange = BookExchange([market("KXLOW"), market("KXHEAT")], clock=clock)
    source = ListSource(
        [opportunity("KXLOW", clock, edge="0.05", conf="0.9"), opportunity("KXHEAT", clock)]
    )
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        text = (await h.command("/why")).text
        assert "KXLOW edge 0.05 conf 0.9" in text
        assert "below a threshold — edge 0.05 ≤ 0.1 (min_edge)" in text
        assert "KXHEAT" in text and "waiting for approval" in text
        report = await tg.wait_for_message("Cycle #1", chat_id=OPERATOR)
        assert "Opportunities: 1 waiting for approval, 1 below a threshold" in report.text
        story = (await h.command("/why KXLOW")).text
        assert "KXLOW over the last 1 cycle(s)" in story and "min_edge" in story


# --- messages that arrive ------------------------------------------------------------------


async def test_a_429_and_a_502_blip_lose_no_approval_request_and_no_report(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange, source = one_opportunity(clock)
    settings = make_settings(tg, tmp_path / "omega.db")
    brain = GatedBrain(settings)
    brain.gate.clear()
    async with running_bot(
        tg, settings, exchange=exchange, clock=clock, source=source, brain=brain, first_cycle=False
    ) as h:
        tg.flood(count=1, retry_after=1, methods=["sendMessage"])
        brain.gate.set()
        await h.cycle_done(1)
        assert await h.approval_message(1)
        assert await tg.wait_for_message("Cycle #1", chat_id=OPERATOR)
        assert tg.early_retries == 0
        tg.fail_next(2, 502, methods=["sendMessage"])
        assert h.bot.runner.start("manual")
        await h.cycle_done(2)
        assert await tg.wait_for_message("Cycle #2", chat_id=OPERATOR)
        outcomes = [r.outcome for r in tg.calls("sendMessage")]
        assert outcomes.count("error 429") == 1 and outcomes.count("fault 502") == 2


async def test_routine_reports_are_silent_and_approvals_notify(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange, source = one_opportunity(clock)
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        request = await h.approval_message(1)
        first = await tg.wait_for_message("Cycle #1", chat_id=OPERATOR)
        assert not request.silent and not first.silent  # an approval waits: it notifies
        source.items.clear()
        assert h.bot.runner.start("schedule")
        await h.cycle_done(2)
        routine = await tg.wait_for_message("Cycle #2", chat_id=OPERATOR)
        assert routine.silent


async def test_a_panic_sent_while_the_bot_was_down_is_honoured_at_start(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange, source = one_opportunity(clock)
    settings = make_settings(tg, tmp_path / "omega.db", **AUTO)
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        (resting,) = await exchange.get_resting_orders()
    # Down: the operator panics, the deputy asks for /state, a stranger tries /pause.
    tg.send_command(OPERATOR, "/panic")
    tg.send_command(DEPUTY, "/state")
    tg.send_command(STRANGER, "/pause")
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        honoured = await tg.wait_for_message("Your /panic sent at", chat_id=OPERATOR)
        assert "honoured at start" in honoured.text and "safe mode is ON" in honoured.text
        assert await h.director.queries.safe_mode()
        assert resting.order_id not in {o.order_id for o in await exchange.get_resting_orders()}
        dropped = await tg.wait_for_message("While I was down you sent", chat_id=DEPUTY)
        assert "/state" in dropped.text and "Not run" in dropped.text
        assert tg.bot_messages(STRANGER) == []
        assert not await h.director.queries.paused()


async def test_a_backlog_longer_than_many_pages_is_read_to_its_end(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=BookExchange([]), clock=clock):
        pass
    # Down for long: 1,200 messages of chatter, then an operator's /pause, the newest of all.
    for i in range(1200):
        tg.send_command(DEPUTY, f"note {i}")
    tg.send_command(OPERATOR, "/pause")
    async with running_bot(tg, settings, exchange=BookExchange([]), clock=clock) as h:
        dropped = await tg.wait_for_message("While I was down you sent", chat_id=OPERATOR)
        assert "/pause" in dropped.text and "Not run" in dropped.text
        # Declined, never run late as if it were fresh: polling starts past it.
        assert not await h.director.queries.paused()
        assert tg.pending_updates == 0


# --- decided once --------------------------------------------------------------------------


async def test_every_edit_after_double_presses_states_the_recorded_outcome(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange, source = one_opportunity(clock)
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        copy = (await h.replies_after("/pending", 2))[-1]  # a /pending copy, with buttons
        presses = [(OPERATOR, copy.button_data("Approve")), (DEPUTY, copy.button_data("Reject"))]
        message = await h.approval_message(1)
        await h.director.set_safe_mode(True, "test")  # the re-check will block it
        await tg.wait_for_answer(tg.press(OPERATOR, message, "Approve"))
        blocked = await tg.wait_for_edit(message)
        assert blocked.text.startswith("⛔ Blocked on re-check · approval #1")
        assert "Decided by User1001 (1001)" in blocked.text
        # A second press, then a Reject by someone else: the message keeps its one outcome.
        # Both copies show it (the press edits the copy the request was recorded at, too).
        await tg.wait_for_edit(copy)
        assert copy.text == blocked.text and copy.buttons() == []
        for user, data in presses:
            answer = await tg.wait_for_answer(tg.press_data(user, copy, data))
            assert answer["text"].startswith("Already blocked by User1001 (1001)")
        assert message.text == blocked.text and message.edits == 1
        assert copy.text == blocked.text and copy.buttons() == []
        assert "User1002" not in copy.text and exchange.placed == []

        prompt = await h.command("/panic")
        cancel = prompt.button_data("Cancel")
        await tg.wait_for_answer(tg.press(OPERATOR, prompt, "Confirm panic"))
        done = await tg.wait_for_edit(prompt)
        assert "Panic by User1001 (1001): safe mode is ON." in done.text
        # The Cancel of a double tap: told what happened; the message still says it.
        late = await tg.wait_for_answer(tg.press_data(OPERATOR, prompt, cancel))
        assert late["text"].startswith("Already decided: Safe mode ON")
        assert prompt.text == done.text


async def test_dangerous_switches_ask_to_confirm_on_a_real_exchange(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    settings = make_settings(
        tg,
        tmp_path / "omega.db",
        exchange="kalshi",
        kalshi_api_key_id="key-id",
        kalshi_private_key_path=tmp_path / "key.pem",
    )
    async with running_bot(tg, settings, exchange=BookExchange([]), clock=clock) as h:
        d = h.director
        # Safer: at once. More dangerous: a confirmation first.
        assert "Safe mode <b>ON</b>" in (await h.command("/safemode on")).html
        assert await d.queries.safe_mode()
        prompt = await h.command("/safemode off")
        assert "Real money" in prompt.text and await d.queries.safe_mode()
        await tg.wait_for_answer(tg.press(OPERATOR, prompt, "Cancel"))
        assert await d.queries.safe_mode()
        prompt = await h.command("/autonomy auto")
        assert await d.autonomy() is not Autonomy.AUTO
        await tg.wait_for_answer(tg.press(DEPUTY, prompt, "Confirm"))
        assert await d.autonomy() is Autonomy.AUTO
        assert "Autonomy auto: done (by User1002 (1002))" in (await tg.wait_for_edit(prompt)).text
        await h.command("/pause")
        prompt = await h.command("/resume")
        assert await d.queries.paused()
        await tg.wait_for_answer(tg.press(OPERATOR, prompt, "Confirm"))
        assert not await d.queries.paused()
        # On paper the same switches act at once.
        assert settings.exchange == "kalshi"


async def test_approve_half_executes_half_the_quantity_after_the_recheck(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange = BookExchange([market("KXHEAT", title="Heat wave in July?")], clock=clock)
    source = ListSource([opportunity("KXHEAT", clock)])
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        card = await h.approval_message(1)
        assert "Buy YES at 42¢ × 100" in card.text
        assert "max loss $43.71" in card.text and "pays $100.00 if it wins" in card.text
        assert "Edge 0.15 · confidence 0.8 · from test-scanner" in card.text
        assert [label for label, _ in card.buttons()] == ["✅ Approve", "✅ Approve ½", "❌ Reject"]
        answer = await tg.wait_for_answer(tg.press(OPERATOR, card, "Approve ½"))
        assert answer["text"].startswith("Approved by User1001 (1001): buy 50 KXHEAT")
        assert [o.quantity for o in exchange.placed] == [50]


async def test_start_shows_the_keyboard_of_the_four_used_most(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=BookExchange([]), clock=clock) as h:
        replies = await h.replies_after("/start", 2)
        keyboard = replies[-1].reply_markup or {}
        rows = [[b["text"] for b in row] for row in keyboard.get("keyboard", [])]
        assert rows == [["/state", "/pending"], ["/pnl", "/panic"]]
