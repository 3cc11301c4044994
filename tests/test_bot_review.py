"""The review loop in Telegram, end to end: /review and the scheduled job post the report with
Apply / Dismiss, a press makes (or doesn't make) a new rules version, /rules shows the history
and the last change, /rules rollback N confirms and makes an old version active again.

The real bot and Director run over the Bot API stand-in. The statistical review reads a history
seeded by tests.test_review.seed_history (40 cycles, in which decisions just below the min_edge
of 0.1 paid), whose markets settled on their own venue: the reviewer marks outcomes there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.keyboards import (
    ReviewPress,
    RollbackPress,
    parse_press,
    review_keyboard,
    rollback_keyboard,
)
from bot.render_review import (
    MAX_EVIDENCE,
    render_review,
    render_review_decision,
    render_rollback_prompt,
    render_rules,
)
from bot.send import MESSAGE_LIMIT, split_html
from director.brains.base import LLMCall
from director.review import ReviewDecision, ReviewReport
from director.review_stats import Bucket
from director.review_suggestion import RuleTextChange, Suggestion, ThresholdChange
from director.rulebook import DEFAULT_RULESET, RuleSet, Thresholds
from director.store import ReviewRecord, Store
from tests.bot_harness import (
    DEPUTY,
    OPERATOR,
    STRANGER,
    BookExchange,
    Harness,
    eventually,
    make_settings,
    running_bot,
)
from tests.clocks import ManualClock, real_time_clock
from tests.fakes import FakeExchange
from tests.telegram_standin import StoredMessage, TelegramStandIn, parse_telegram_html
from tests.test_review import seed_history

D = Decimal
SEEDED_CYCLES = 40
LOWER_EDGE = "Lower min_edge from 0.1 to 0.05"
NASTY = "<b>&</b>"
REPORT_CHAT = -100777
LATE_RULE = "Never open a position in a market that closes within one hour."
WHEN = datetime(2026, 11, 24, 14, 15, tzinfo=UTC)


@asynccontextmanager
async def review_bot(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock, *, seeded: bool = True, **settings: Any
) -> AsyncIterator[Harness]:
    """The bot after its first cycle; with `seeded`, over the history that supports lowering
    min_edge, its reviewer marking outcomes on the venue where those markets settled."""
    settings.setdefault("review_sample", 200)  # the whole seeded history
    config = make_settings(tg, tmp_path / "omega.db", **settings)
    venue: FakeExchange | None = None
    if seeded:
        store = await Store.open(config.db_path)
        try:
            venue = await seed_history(store, band_wins=0.8, above_wins=0.5, seed=3)
        finally:
            await store.close()
    first = SEEDED_CYCLES + 1 if seeded else 1
    exchange = BookExchange([], clock=clock)
    async with running_bot(tg, config, exchange=exchange, clock=clock, first_cycle=False) as h:

        async def first_cycle_started() -> bool:
            return await h.director.store.cycle_count() >= first

        await eventually(first_cycle_started, what="the bot's first cycle")
        await h.cycle_done(first)
        if venue is not None:
            h.director.reviewer.exchange = venue
        yield h


async def posted_review(h: Harness, review_id: int, *, chat_id: int = OPERATOR) -> StoredMessage:
    """/review's report (the command must have been sent); the runner is done with it."""
    message = await h.tg.wait_for_message(f"Review #{review_id}", chat_id=chat_id)
    await h.bot.reviews.wait()
    return message


async def apply_first_review(h: Harness) -> StoredMessage:
    await h.command("/review")
    report = await posted_review(h, 1)
    await h.tg.wait_for_answer(h.tg.press(OPERATOR, report, "Apply"))
    return await h.tg.wait_for_edit(report)


class GatedReviewModel:
    """The AI side of a review, held until the test opens the gate (a slow escalation call)."""

    def __init__(
        self, suggestion: Suggestion | None, error: str | None = None, *, open_gate: bool = False
    ) -> None:
        self.suggestion = suggestion
        self.error = error
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()
        if open_gate:
            self.gate.set()

    async def suggest(
        self, rules: RuleSet, sample: list[dict[str, Any]], stats: dict[str, Any]
    ) -> tuple[Suggestion | None, list[LLMCall], str | None]:
        self.entered.set()
        await self.gate.wait()
        return self.suggestion, [], self.error


def long_suggestion() -> Suggestion:
    """A suggestion as long as the model is allowed to make it: the report must split."""
    return Suggestion(
        summary="Avoid markets about to close",
        patterns=[f"pattern {i}: " + "late entries lost " * 14 for i in range(6)],
        rule_change=RuleTextChange(op="add", text=LATE_RULE),
        rationale=f"{NASTY} " + "Entries in the last hour lost money. " * 78,
        evidence=[f"c{i}:KXLATE-{i}:yes" for i in range(25)],
    )


# --- /review and the buttons ---------------------------------------------------------------


async def test_review_posts_the_suggestion_and_apply_makes_v2_for_the_next_cycle(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    async with review_bot(tg, tmp_path, clock) as h:
        store = h.director.store
        ack = await h.command("/review")
        assert ack.text.startswith("🔬 Review started (statistics)")
        report = await posted_review(h, 1)
        assert "Review #1 · statistical · rules v1 · manual" in report.text
        assert "Sample: 80 decision(s) with outcomes (80 settled), 40 taken" in report.text
        assert "By edge" in report.text and "By confidence" in report.text
        assert f"💡 Suggestion: {LOWER_EDGE}" in report.text
        assert "Set min_edge to 0.05" in report.text
        assert "Evidence (40): c" in report.text and "… and 30 more" in report.text
        assert report.buttons() == [("✅ Apply", "rv:1:a"), ("🗑 Dismiss", "rv:1:d")]
        record = await store.review(1)
        assert record is not None and record.status == "pending"
        assert (record.chat_id, record.message_id) == (OPERATOR, report.message_id)

        answer = await tg.wait_for_answer(tg.press(OPERATOR, report, "Apply"))
        assert answer == {
            "text": f"Applied by User1001 (1001): rules v2 ({LOWER_EDGE}), effective from the "
            "next cycle.",
            "show_alert": "false",
        }
        edited = await tg.wait_for_edit(report)
        assert edited.text.startswith("✅ Applied · review #1")
        assert "Set min_edge to 0.05" in edited.text
        assert "Applied by User1001 (1001): rules v2" in edited.text
        assert edited.buttons() == []
        rules = await store.active_rules()
        assert rules.version == 2 and rules.thresholds.min_edge == D("0.05")

        h.bot.runner.start("manual")
        await h.cycle_done(SEEDED_CYCLES + 2)
        cycle = await store.cycle(SEEDED_CYCLES + 2)
        assert cycle is not None and cycle.rules_version == 2
        cycle_report = await tg.wait_for_message(f"Cycle #{SEEDED_CYCLES + 2}", chat_id=OPERATOR)
        assert "rules v2" in cycle_report.text


async def test_dismiss_changes_nothing_and_a_second_press_is_told(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    async with review_bot(tg, tmp_path, clock) as h:
        await h.command("/review")
        report = await posted_review(h, 1)
        answer = await tg.wait_for_answer(tg.press(DEPUTY, report, "Dismiss"))
        assert answer == {
            "text": "Dismissed by User1002 (1002). The rules are unchanged.",
            "show_alert": "false",
        }
        edited = await tg.wait_for_edit(report)
        assert edited.text.startswith("🗑 Dismissed · review #1")
        assert f"💡 {LOWER_EDGE}" in edited.text
        assert edited.buttons() == []
        for data in ("rv:1:a", "rv:1:d"):  # what a client still showing the buttons sends
            again = await tg.wait_for_answer(tg.press_data(OPERATOR, report, data))
            assert again == {"text": "Already dismissed by User1002 (1002).", "show_alert": "true"}
        assert report.edits == 1
        assert (await h.director.store.active_rules()).version == 1
        record = await h.director.store.review(1)
        assert record is not None and record.status == "dismissed"
        assert record.decided_by == "User1002 (1002)"


async def test_a_second_apply_is_told_and_makes_no_second_version(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    async with review_bot(tg, tmp_path, clock) as h:
        report = await apply_first_review(h)
        again = await tg.wait_for_answer(tg.press_data(DEPUTY, report, "rv:1:a"))
        assert again == {"text": "Already applied by User1001 (1001).", "show_alert": "true"}
        assert report.edits == 1
        assert [r.version for r in await h.director.store.rules_history()] == [1, 2]


async def test_an_unauthorized_press_changes_nothing(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with review_bot(tg, tmp_path, clock) as h:
        caplog.set_level(logging.WARNING, logger="bot.auth")
        await h.command("/review")
        report = await posted_review(h, 1)
        answer = await tg.wait_for_answer(tg.press(STRANGER, report, "Apply"))
        assert answer == {"text": "⛔ Not authorized.", "show_alert": "true"}
        record = await h.director.store.review(1)
        assert record is not None and record.status == "pending" and record.decided_by is None
        assert report.edits == 0
        assert (await h.director.store.active_rules()).version == 1
        assert any(
            "unauthorized button press 'rv:1:a' from User6666 (6666)" in r.getMessage()
            for r in caplog.records
        )
        # The suggestion still waits for an allowed user.
        await tg.wait_for_answer(tg.press(OPERATOR, report, "Apply"))
        assert (await h.director.store.active_rules()).version == 2


async def test_forged_review_buttons_are_refused(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    async with review_bot(tg, tmp_path, clock, seeded=False) as h:
        await h.command("/review")
        report = await posted_review(h, 1)  # no change: a review with nothing to decide
        unknown = await tg.wait_for_answer(tg.press_data(OPERATOR, report, "rv:99:a"))
        assert unknown == {"text": "No such review.", "show_alert": "true"}
        undecidable = await tg.wait_for_answer(tg.press_data(OPERATOR, report, "rv:1:a"))
        assert undecidable == {"text": "This review has nothing to decide.", "show_alert": "true"}
        for bad in ("rv:1:x", "rv:1:a:y", "rv:-1:a", "rb:1:y"):
            garbage = await tg.wait_for_answer(tg.press_data(OPERATOR, report, bad))
            assert garbage == {"text": "This button is not recognized.", "show_alert": "true"}
        assert report.edits == 0
        assert (await h.director.store.active_rules()).version == 1


async def test_a_review_without_evidence_says_no_change_and_has_no_buttons(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    async with review_bot(tg, tmp_path, clock, seeded=False) as h:
        await h.command("/review")
        report = await posted_review(h, 1)
        assert "No decisions with known outcomes yet." in report.text
        assert "✅ No change: the evidence supports none." in report.text
        assert report.buttons() == []
        record = await h.director.store.review(1)
        assert record is not None and record.status == "no_change"
        assert record.message_id is None


async def test_a_second_review_is_refused_while_one_runs_and_commands_still_answer(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    async with review_bot(tg, tmp_path, clock) as h:
        model = GatedReviewModel(long_suggestion())
        h.director.reviewer.model = model
        ack = await h.command("/review")
        assert ack.text.startswith("🔬 Review started (the escalation-tier model)")
        await model.entered.wait()
        busy = await h.command("/review")
        assert busy.text.startswith("⏳ A review is already running (since ")
        assert "Rules v1 (active)" in (await h.command("/rules")).text  # not blocked by it

        model.gate.set()
        first = await posted_review(h, 1)
        assert "Review #1 · claude · rules v1 · manual" in first.text
        parts = [m for m in tg.bot_messages(OPERATOR) if m.message_id >= first.message_id]
        assert len(parts) == 2  # too long for one message: split, buttons on the last part
        assert first.buttons() == []
        assert parts[1].buttons() == [("✅ Apply", "rv:1:a"), ("🗑 Dismiss", "rv:1:d")]
        shown = "".join(m.text for m in parts)
        assert f"{NASTY} Entries in the last hour" in shown  # the rationale, literally
        assert "Add a rule: Never open a position" in shown
        assert f"… and {25 - MAX_EVIDENCE} more" in shown
        record = await h.director.store.review(1)
        assert record is not None and record.message_id == parts[1].message_id

        answer = await tg.wait_for_answer(tg.press(OPERATOR, parts[1], "Apply"))
        assert answer["show_alert"] == "false"
        rules = await h.director.store.active_rules()
        assert rules.version == 2
        assert rules.rendered()[-1] == f"5. {LATE_RULE}"
        assert await h.director.store.review(2) is None  # the refused /review ran nothing


async def test_a_failed_review_is_reported_with_its_error_and_nothing_to_press(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    async with review_bot(tg, tmp_path, clock) as h:
        h.director.reviewer.model = GatedReviewModel(
            None, f"the answer did not validate: {NASTY}", open_gate=True
        )
        await h.command("/review")
        report = await posted_review(h, 1)
        assert f"⚠️ Review failed: the answer did not validate: {NASTY}" in report.text
        assert "Nothing to apply; the rules are unchanged." in report.text
        assert report.buttons() == []
        record = await h.director.store.review(1)
        assert record is not None and record.status == "failed"


async def test_a_review_that_crashes_is_reported_and_records_nothing(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    async with review_bot(tg, tmp_path, clock) as h:
        venue = FakeExchange()
        venue.fail_reads.add("markets")
        h.director.reviewer.exchange = venue
        await h.command("/review")
        failed = await tg.wait_for_message("Review failed", chat_id=OPERATOR)
        assert "ConnectionError: markets unavailable" in failed.text
        assert "Nothing was recorded and the rules are unchanged." in failed.text
        await h.bot.reviews.wait()
        assert await h.director.store.review(1) is None
        # The lock is released: the next /review runs.
        h.director.reviewer.exchange = FakeExchange()
        await h.command("/review")
        assert "No change" in (await posted_review(h, 1)).text


async def test_an_apply_after_the_rules_changed_settles_the_review_as_superseded(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    async with review_bot(tg, tmp_path, clock) as h:
        store = h.director.store
        v1 = await store.active_rules()
        await store.add_rules_version(
            (*v1.rules, "A fifth rule, to be replaced."), v1.thresholds, "test: five", "test"
        )
        replace_fifth = Suggestion(
            summary="Sharpen rule 5",
            rule_change=RuleTextChange(op="replace", rule_number=5, text="A sharper fifth rule."),
            rationale="Rule 5 was vague.",
        )
        h.director.reviewer.model = GatedReviewModel(replace_fifth, open_gate=True)
        await h.command("/review")
        report = await posted_review(h, 1)
        await h.director.reviewer.rollback(1, "test")  # rule 5 is gone before Apply

        answer = await tg.wait_for_answer(tg.press(OPERATOR, report, "Apply"))
        assert answer == {
            "text": "Not applied: the rules changed since this review (v2 → v3). "
            "Run /review again.",
            "show_alert": "true",
        }
        edited = await tg.wait_for_edit(report)
        assert edited.text.startswith("⏭ Superseded · review #1")
        assert "Decided by User1001 (1001)" in edited.text
        assert (await store.active_rules()).version == 3
        record = await store.review(1)
        assert record is not None and record.status == "superseded"


async def test_the_scheduled_review_posts_to_the_report_chat(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    async with review_bot(
        tg, tmp_path, clock, review_schedule_text="sun 18:00", chat_id=REPORT_CHAT
    ) as h:
        jobs = h.bot.application.job_queue
        assert jobs is not None
        [job] = jobs.get_jobs_by_name("review")
        await job.run(h.bot.application)
        report = await posted_review(h, 1, chat_id=REPORT_CHAT)
        assert "Review #1 · statistical · rules v1 · schedule" in report.text
        assert report.buttons() == [("✅ Apply", "rv:1:a"), ("🗑 Dismiss", "rv:1:d")]
        assert not any("Review started" in m.text for m in tg.bot_messages())
        record = await h.director.store.review(1)
        assert record is not None and record.trigger == "schedule"
        assert (record.chat_id, record.message_id) == (REPORT_CHAT, report.message_id)


# --- /rules and rollback -------------------------------------------------------------------


async def test_rules_shows_history_and_the_diff_after_an_apply(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    async with review_bot(tg, tmp_path, clock) as h:
        first = (await h.command("/rules")).text
        assert "History (1 version(s), newest last)" in first
        assert "No earlier version to compare with." in first

        await apply_first_review(h)
        reply = await h.command("/rules")
        text = reply.text
        assert text.startswith("📜 Rules v2 (active)")
        assert f"review #1: {LOWER_EDGE}" in text
        assert "2. Act on high-confidence opportunities (confidence > 0.7, edge > 0.05)" in text
        assert "min_edge 0.05" in text
        assert "History (2 version(s), newest last)" in text
        history = [line for line in text.splitlines() if line.startswith("v")]
        assert history[0].startswith("v1 · ") and history[0].endswith("default rules (DESIGN.md)")
        assert history[1].startswith("v2 · ") and history[1].endswith(" · active")
        assert "Change from v1" in text
        assert "-  min_edge = 0.1\n+  min_edge = 0.05" in text
        assert "<pre>--- v1\n+++ v2\n" in reply.html


async def test_rollback_confirms_then_makes_a_copy_of_the_old_version_active(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    async with review_bot(tg, tmp_path, clock) as h:
        store = h.director.store
        await apply_first_review(h)
        prompt = await h.command("/rules rollback 1")
        assert prompt.text.startswith("↩️ Roll back to rules v1?")
        assert "active again as a new version (v3)" in prompt.text
        assert "-  min_edge = 0.05\n+  min_edge = 0.1" in prompt.text
        stamp = int(clock().timestamp())
        assert prompt.buttons() == [
            ("↩️ Roll back to v1", f"rb:1:2:{stamp}:y"),
            ("Cancel", f"rb:1:2:{stamp}:n"),
        ]
        assert (await store.active_rules()).version == 2  # nothing until confirmed

        clock.advance(seconds=299)
        answer = await tg.wait_for_answer(tg.press(DEPUTY, prompt, "Roll back"))
        assert answer == {
            "text": "Rules v3 (a copy of v1) active from the next cycle.",
            "show_alert": "false",
        }
        edited = await tg.wait_for_edit(prompt)
        assert edited.text == (
            "↩️ Rules v3 (a copy of v1) active from the next cycle, by User1002 (1002)."
        )
        assert edited.buttons() == []
        v3 = await store.active_rules()
        assert v3.version == 3 and "rollback to v1 by User1002 (1002)" in v3.note
        assert v3.thresholds == DEFAULT_RULESET.thresholds and v3.rules == DEFAULT_RULESET.rules

        # A second tap is told what the first did (and the message keeps saying it).
        again = await tg.wait_for_answer(tg.press_data(OPERATOR, prompt, f"rb:1:2:{stamp}:y"))
        assert again == {
            "text": "Already decided: Rules v3 (a copy of v1) active from the next cycle.",
            "show_alert": "true",
        }
        assert prompt.text.startswith("↩️ Rules v3 (a copy of v1)")
        assert [r.version for r in await store.rules_history()] == [1, 2, 3]
        assert (
            "already equal v1: nothing to roll back" in (await h.command("/rules rollback 1")).text
        )


async def test_a_stale_or_canceled_rollback_changes_nothing(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    async with review_bot(tg, tmp_path, clock) as h:
        await apply_first_review(h)
        prompt = await h.command("/rules rollback 1")
        clock.advance(seconds=301)
        stale = await tg.wait_for_answer(tg.press(OPERATOR, prompt, "Roll back"))
        assert stale == {
            "text": "This rollback button is stale: send /rules rollback 1 again.",
            "show_alert": "true",
        }
        assert prompt.edits == 0

        fresh = await h.command("/rules rollback 1")
        await tg.wait_for_answer(tg.press(OPERATOR, fresh, "Cancel"))
        edited = await tg.wait_for_edit(fresh)
        assert edited.text == (
            "↩️ Rollback to v1 canceled by User1001 (1001); the rules are unchanged."
        )
        assert [r.version for r in await h.director.store.rules_history()] == [1, 2]


async def test_a_rollback_prompt_is_void_once_the_rules_change(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    async with review_bot(tg, tmp_path, clock) as h:
        store = h.director.store
        await apply_first_review(h)
        prompt = await h.command("/rules rollback 1")  # its diff is v2 → v1
        v2 = await store.active_rules()
        await store.add_rules_version(
            (*v2.rules, "A rule added after the prompt."), v2.thresholds, "operator", "test"
        )
        answer = await tg.wait_for_answer(tg.press(OPERATOR, prompt, "Roll back"))
        assert answer == {
            "text": "The rules changed since this prompt (v2 → v3): send /rules rollback 1 "
            "again to see the new diff.",
            "show_alert": "true",
        }
        assert prompt.edits == 0
        assert [r.version for r in await store.rules_history()] == [1, 2, 3]


async def test_bad_rules_arguments_get_the_usage_line(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    async with review_bot(tg, tmp_path, clock, seeded=False) as h:
        for bad in (
            "/rules x",
            "/rules rollback",
            "/rules rollback x",
            "/rules rollback 1 2",
            "/rules rollback -1",
            "/rules rollback 0",
            "/rules rollback 1234567",
            "/rules 1",
        ):
            reply = await h.command(bad)
            assert "Usage: /rules [rollback N]" in reply.text, bad
        assert "active version already" in (await h.command("/rules rollback 1")).text
        missing = await h.command("/rules rollback 9")
        assert missing.text == "⚠️ There is no rules version 9: versions run from 1 to 1."
        assert "active version already" in (await h.command("/rules ROLLBACK 1")).text
        assert [r.version for r in await h.director.store.rules_history()] == [1]
        help_text = (await h.command("/help")).text
        assert "/rules — Active rules, their history and last change: /rules [rollback N]" in (
            help_text
        )


async def test_rollback_needs_an_allowed_user(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    async with review_bot(tg, tmp_path, clock) as h:
        await apply_first_review(h)
        refused = await h.command("/rules rollback 1", user=STRANGER)
        assert refused.text == "⛔ Not authorized."
        prompt = await h.command("/rules rollback 1")
        answer = await tg.wait_for_answer(tg.press(STRANGER, prompt, "Roll back"))
        assert answer == {"text": "⛔ Not authorized.", "show_alert": "true"}
        assert (await h.director.store.active_rules()).version == 2


# --- the parts, without Telegram -----------------------------------------------------------


def test_review_and_rollback_callback_data_round_trip() -> None:
    data = [b.callback_data for row in review_keyboard(7).inline_keyboard for b in row]
    assert [parse_press(d if isinstance(d, str) else None) for d in data] == [
        ReviewPress(7, True),
        ReviewPress(7, False),
    ]
    issued = real_time_clock()
    keyboard = rollback_keyboard(3, 5, issued())
    data = [b.callback_data for row in keyboard.inline_keyboard for b in row]
    stamp = int(issued().timestamp())
    assert [parse_press(d if isinstance(d, str) else None) for d in data] == [
        RollbackPress(3, 5, stamp, True),
        RollbackPress(3, 5, stamp, False),
    ]
    for bad in (
        "rv:1:y",
        "rv::a",
        "rv:1:a ",
        "rb:1:2",
        "rb:1:2:y",
        "rb:x:1:1:y",
        "rb:1234567:1:1:y",
        "rb:1:1:1:a",
    ):
        assert parse_press(bad) is None


def bucket(label: str, n: int, taken: int = 0) -> Bucket:
    return Bucket(
        label=label,
        n=n,
        taken=taken,
        hit_rate=0.8 if n else None,
        mean_pnl=D("0.2134") if n else None,
        realized_pnl=D("-3.5"),
        missed_edge=D("8.4"),
    )


def nasty_suggestion() -> Suggestion:
    return Suggestion(
        summary=f"Raise {NASTY}",
        patterns=[f"pattern {NASTY}", "x" * 1000],
        threshold_change=ThresholdChange(name="min_confidence", new_value=D("0.8")),
        rationale=f"Because {NASTY} & more",
        evidence=[f"c{i}:K{NASTY}:yes" for i in range(12)],
    )


def report(**overrides: Any) -> ReviewReport:
    values: dict[str, Any] = {
        "review_id": 4,
        "created_at": WHEN,
        "trigger": "manual",
        "source": "claude",
        "rules_version": 2,
        "sample_size": 80,
        "settled": 75,
        "taken": 40,
        "hit_rate_taken": 0.525,
        "realized_pnl": D("12.3"),
        "missed_edge": D("8.4"),
        "buckets": {
            "edge": [bucket("0–0.05", 0), bucket("0.05–0.10", 40), bucket("0.10–0.15", 20, 20)],
            "hours_to_expiry": [bucket("1.0–4.0h", 80, 40)],
        },
        "suggestion": nasty_suggestion(),
        "error": None,
        "status": "pending",
        "cost_usd": D("0.0421"),
    }
    values.update(overrides)
    return ReviewReport(**values)


def test_render_review_shows_everything_and_escapes_what_came_from_outside() -> None:
    html_text = render_review(report())
    text = parse_telegram_html(html_text)  # raises if Telegram would refuse it
    assert text.startswith("🔬 Review #4 · claude · rules v2 · manual · 2026-11-24 14:15 UTC")
    assert "Sample: 80 decision(s) with outcomes (75 settled), 40 taken" in text
    assert "Taken hit rate 52% · realized P&L +$12.30 · missed edge $8.40/contract" in text
    assert "By edge" in text and "By hours to expiry" in text
    assert "• 0.05–0.10: 40 (0 taken) · hit 80% · mean +$0.2134/ct" in text
    assert "realized -$3.50 · missed $8.40/ct" in text
    assert "0–0.05" not in text  # empty buckets are left out
    assert "AI cost $0.0421" in text
    assert f"💡 Suggestion: Raise {NASTY}" in text
    assert "Set min_confidence to 0.8" in text
    assert f"• pattern {NASTY}" in text
    assert "x" * 299 + "…" in text and "x" * 301 not in text
    assert f"Because {NASTY} & more" in text
    assert f"Evidence (12): c0:K{NASTY}:yes" in text and "… and 2 more" in text
    assert "Apply makes it a new rules version, effective from the next cycle." in text
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in html_text and NASTY not in html_text


def test_render_review_failed_and_no_change() -> None:
    failed = parse_telegram_html(
        render_review(report(suggestion=None, error=f"AI unavailable {NASTY}", status="failed"))
    )
    assert f"⚠️ Review failed: AI unavailable {NASTY}" in failed
    assert "Nothing to apply; the rules are unchanged." in failed
    assert "Suggestion" not in failed
    quiet = parse_telegram_html(
        render_review(
            report(suggestion=None, status="no_change", sample_size=0, buckets={}, cost_usd=D(0))
        )
    )
    assert "No decisions with known outcomes yet." in quiet
    assert "✅ No change: the evidence supports none. The rules are unchanged." in quiet
    assert "AI cost" not in quiet


def test_a_report_at_the_models_limits_splits_into_parts_that_parse() -> None:
    html_text = render_review(report(suggestion=long_suggestion()))
    parts = split_html(html_text, MESSAGE_LIMIT)
    assert len(parts) == 2
    for part in parts:
        parse_telegram_html(part)


def review_record(**overrides: Any) -> ReviewRecord:
    values: dict[str, Any] = {
        "id": 4,
        "created_at": WHEN,
        "trigger": "manual",
        "source": "claude",
        "rules_version": 2,
        "report": {},
        "suggestion": nasty_suggestion().model_dump(mode="json"),
        "status": "failed",
        "error": None,
        "decided_by": f"eve {NASTY} (9)",
        "decided_at": WHEN,
        "applied_version": None,
        "chat_id": OPERATOR,
        "message_id": 10,
    }
    values.update(overrides)
    return ReviewRecord(**values)


def test_render_review_decision_shows_outcome_change_and_who() -> None:
    decision = ReviewDecision(4, False, "Could not apply: min_confidence=0.8 is out of range")
    text = parse_telegram_html(render_review_decision(decision, review_record()))
    assert text.splitlines() == [
        "❌ Not applied · review #4",
        f"💡 Raise {NASTY}",
        "Set min_confidence to 0.8",
        "Could not apply: min_confidence=0.8 is out of range",
        f"Decided by eve {NASTY} (9)",
    ]
    unreadable = review_record(suggestion={"summary": 5}, status="applied")
    applied = ReviewDecision(
        4, True, "Applied by eve: rules v3 (x), effective from the next cycle."
    )
    assert parse_telegram_html(render_review_decision(applied, unreadable)).startswith(
        "✅ Applied · review #4\nApplied by eve: rules v3"
    )


def test_render_rules_caps_the_history_and_escapes_rule_texts() -> None:
    versions = [
        RuleSet(version=v, note=f"note {v} {NASTY}", thresholds=Thresholds()) for v in range(1, 12)
    ]
    active = RuleSet(
        version=12,
        rules=(*DEFAULT_RULESET.rules, f"Never trade {NASTY}."),
        note="added",
        thresholds=Thresholds(min_edge=D("0.12")),
    )
    html_text = render_rules(active, [*versions, active])
    text = parse_telegram_html(html_text)
    assert "History (12 version(s), newest last)" in text
    assert "… 4 earlier version(s)" in text
    assert "v4 · " not in text and "v5 · —" in text and f"note 11 {NASTY}" in text
    assert text.count(" · active") == 1
    assert "Change from v11" in text
    assert f"+5. Never trade {NASTY}." in text
    assert "-  min_edge = 0.1\n+  min_edge = 0.12" in text
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in html_text

    prompt = parse_telegram_html(render_rollback_prompt(versions[0], active, 300))
    assert "new version (v13)" in prompt and f"-5. Never trade {NASTY}." in prompt
    assert prompt.endswith("Confirm within 5 minutes.")
