"""End to end: long and hostile text, Telegram outages, a slow brain, shutdown and start-up."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import pytest

from bot.app import OmegaBot, serve
from director.app import build_director
from director.brains.base import ThinkContext, ThinkResult
from director.director import Director
from director.models import Plan, Priority, SystemState
from director.rulebook import RuleSet
from director.settings import SettingsError
from director.store import Store
from tests.bot_harness import (
    FAST,
    OPERATOR,
    BookExchange,
    Directors,
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
from tests.telegram_standin import TEXT_LIMIT, TelegramStandIn, utf16_len

NASTY = "<b>x</b> & y"


class WordyBrain:
    """A brain with a lot to say (and some markup-looking text in it)."""

    name = "wordy"

    def __init__(self, words: int) -> None:
        self.words = words

    async def think(self, state: SystemState, rules: RuleSet, context: ThinkContext) -> ThinkResult:
        body = " ".join(f"w{i}<&>" for i in range(self.words))
        plan = Plan(reasoning=f"START {body} END", priority=Priority.LOW)
        return ThinkResult(plan=plan, brain=self.name, model="wordy-1")

    async def close(self) -> None:
        return None


async def test_a_long_report_fits_one_message_and_plan_has_the_whole_text_in_parts(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    settings = make_settings(tg, tmp_path / "omega.db")
    brain = WordyBrain(3000)
    async with running_bot(tg, settings, exchange=BookExchange([]), clock=clock, brain=brain) as h:
        (report,) = [m for m in tg.bot_messages(OPERATOR) if "Cycle #1" in m.text]
        assert utf16_len(report.text) <= TEXT_LIMIT
        assert "<blockquote expandable>START w0&lt;&amp;&gt;" in report.html
        assert "/plan for the whole text" in report.text
        assert report.silent  # routine: no actions, no alerts

        before = tg.last_message_id(OPERATOR)
        tg.send_command(OPERATOR, "/plan")
        await tg.wait_for_message("END", chat_id=OPERATOR, after=before + 1)
        parts = [m for m in tg.bot_messages(OPERATOR) if m.message_id > before + 1]
        assert len(parts) >= 4
        await h.bot.outbox.join()
        for part in parts:
            assert utf16_len(part.text) <= TEXT_LIMIT
        whole = "".join(part.text for part in parts)
        assert whole.startswith("🧭 Last plan")
        assert all(f"w{i}<&>" in whole for i in range(3000))
        assert "END" in whole
        # Nothing was refused: every part was valid HTML on its own.
        assert all(r.outcome == "ok" for r in tg.calls("sendMessage"))


async def test_html_in_a_market_title_shows_literally_everywhere(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange = BookExchange([market("KXWEIRD", title=NASTY)], clock=clock)
    source = ListSource([opportunity("KXWEIRD", clock)])
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        request = await h.approval_message(1)
        assert NASTY in request.text
        report = await tg.wait_for_message("Cycle #1", chat_id=OPERATOR)
        assert NASTY in report.text
        assert NASTY in (await h.command("/state")).text
        assert all(r.outcome == "ok" for r in tg.calls("sendMessage"))
        # Sent escaped: the raw HTML never contains the title's tags.
        assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in request.html


async def test_telegram_500s_never_stop_the_loop_and_the_bot_recovers(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    exchange, source = one_opportunity(clock)
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        caplog.set_level(logging.WARNING)
        tg.fail(500)
        for cycle_id in (2, 3):  # two more ticks while Telegram is down
            assert h.bot.runner.start("schedule")
            await h.cycle_done(cycle_id)
        record = await h.director.store.cycle(3)
        assert record is not None and record.status == "done"
        assert any("could not send a message" in r.getMessage() for r in caplog.records)
        await tg.wait_for(
            lambda: any(r.outcome == "fault 500" for r in tg.calls("getUpdates")),
            what="polling to hit the outage",
        )

        tg.heal()
        reply = await h.command("/state")
        assert "State of the Union" in reply.text
        h.bot.runner.start("schedule")
        report = await tg.wait_for_message("Cycle #4", chat_id=OPERATOR)
        assert "Cycle #4" in report.text


async def test_telegram_hanging_never_holds_a_cycle_and_the_bot_recovers(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=BookExchange([]), clock=clock) as h:
        tg.hang()
        assert h.bot.runner.start("schedule")
        # The cycle finishes and is recorded while its report waits on a hung Telegram.
        await eventually(lambda: _finished(h.director, 2), what="cycle 2 recorded")
        await h.bot.runner.wait()
        # The report goes out through the outbox's worker, which may not have reached the
        # hung server yet when the cycle is recorded.
        await tg.wait_for(
            lambda: any(r.outcome == "hang" for r in tg.requests), what="a hung Bot API call"
        )

        tg.heal()
        reply = await h.command("/help")
        assert "Commands" in reply.text


async def test_a_digest_in_progress_is_sent_before_the_bot_stops(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    settings = make_settings(tg, tmp_path / "omega.db", report="digest")
    async with running_bot(tg, settings, exchange=BookExchange([]), clock=clock):
        # The first cycle (run at start) is routine: folded, not sent.
        assert not any("Digest" in m.text for m in tg.bot_messages(OPERATOR))
    [digest] = [m for m in tg.bot_messages(OPERATOR) if "Digest" in m.text]
    assert "1 routine cycle(s)" in digest.text and "#1 " in digest.text


async def test_commands_are_answered_while_a_cycle_is_thinking(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    settings = make_settings(tg, tmp_path / "omega.db")
    brain = GatedBrain(settings)
    async with running_bot(tg, settings, exchange=BookExchange([]), clock=clock, brain=brain) as h:
        brain.hold()
        assert h.bot.runner.start("schedule")
        await brain.entered.wait()
        state = await h.command("/state")
        assert "a cycle is running now" in state.text
        assert "Commands" in (await h.command("/help")).text
        assert h.director.running
        brain.gate.set()
        await h.cycle_done(2)


async def test_report_actions_mode_stays_quiet_about_uneventful_cycles(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    settings = make_settings(tg, tmp_path / "omega.db", report="actions")
    exchange = BookExchange([market("KXHEAT")], clock=clock)
    source = ListSource()
    async with running_bot(tg, settings, exchange=exchange, clock=clock, source=source) as h:
        assert not any("Cycle #1" in m.text for m in tg.bot_messages(OPERATOR))
        source.items.append(opportunity("KXHEAT", clock))
        h.bot.runner.start("schedule")
        await h.cycle_done(2)
        assert any("Cycle #2" in m.text for m in tg.bot_messages(OPERATOR))
        # A cycle the operator asked for is always reported.
        await h.command("/cycle")
        await tg.wait_for_message("Cycle #3", chat_id=OPERATOR)


async def test_an_error_in_a_handler_is_logged_and_told_once(
    tg: TelegramStandIn,
    tmp_path: Path,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings(tg, tmp_path / "omega.db")
    async with running_bot(tg, settings, exchange=BookExchange([]), clock=clock) as h:
        caplog.set_level(logging.ERROR, logger="bot.app")

        async def broken(limit: int) -> list[object]:
            raise RuntimeError("disk on fire")

        monkeypatch.setattr(h.director.store, "recent_cycles", broken)
        for _ in range(2):
            tg.send_command(OPERATOR, "/history")
        await h.tg.wait_for(
            lambda: len([r for r in caplog.records if "unhandled error" in r.getMessage()]) == 2,
            what="two logged errors",
        )
        await h.bot.outbox.join()
        alerts = [m for m in tg.bot_messages(OPERATOR) if "Internal error" in m.text]
        assert len(alerts) == 1
        assert "RuntimeError: disk on fire" in alerts[0].text
        assert "Commands" in (await h.command("/help")).text


async def test_sigterm_shuts_down_cleanly(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    settings = make_settings(tg, tmp_path / "omega.db")
    started: list[OmegaBot] = []
    factory = Directors(settings, BookExchange([]), clock, brain=GatedBrain(settings))
    directors = factory.built

    task = asyncio.create_task(
        serve(settings, tuning=FAST, director_factory=factory, on_started=started.append)
    )
    await tg.wait_for(lambda: started, what="the bot to start")
    await tg.wait_for_message("Cycle #1", chat_id=OPERATOR)
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(task, 10)
    assert tg.bot_messages(OPERATOR)[-1].text == "🔴 Omega Director stopping."
    assert not started[0].application.running
    with pytest.raises(ValueError):  # the store's connection is closed
        await directors[0].store.cycle_count()


async def test_the_loop_trades_while_telegram_is_down_and_the_bot_catches_up(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange, source = one_opportunity(clock)
    settings = make_settings(tg, tmp_path / "omega.db")
    tg.fail(502)
    factory = Directors(settings, exchange, clock, sources=[source])
    directors = factory.built

    bot = await OmegaBot.create(settings, tuning=FAST, director_factory=factory)
    try:
        assert await bot.start(asyncio.Event())
        # The first cycle runs and parks its approval with Telegram unreachable.
        await eventually(lambda: _finished(directors[0], 1), what="cycle 1 while Telegram is down")
        await tg.wait_for(lambda: len(tg.calls("getMe")) >= 2, what="connection retries")
        assert not bot.connected.is_set()
        assert [a.approval_id for a in await directors[0].pending_approvals()] == [1]
        assert tg.bot_messages(OPERATOR) == []

        tg.heal()
        await asyncio.wait_for(bot.connected.wait(), 10)
        await bot.outbox.join()
        texts = [m.text for m in tg.bot_messages(OPERATOR)]
        assert texts[0].startswith("🟢 Omega Director online")
        assert "1 approval(s) waiting: /pending" in texts[0]
        assert any(t.startswith("✋ Approval needed #1") for t in texts)
        assert any(t.startswith("🔁 Cycle #1") for t in texts)
    finally:
        await bot.stop()


async def test_an_approval_request_lost_to_an_outage_is_resent_when_telegram_is_back(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    exchange, source = one_opportunity(clock)
    settings = make_settings(tg, tmp_path / "omega.db")
    brain = GatedBrain(settings)
    brain.gate.clear()  # the first cycle thinks only once Telegram is down
    async with running_bot(
        tg, settings, exchange=exchange, clock=clock, source=source, brain=brain, first_cycle=False
    ) as h:
        tg.fail(502, methods=["sendMessage"])
        brain.gate.set()
        await h.cycle_done(1)  # its request gave up: the outage outlasted the retries
        assert (await h.director.queries.unsent_approvals()) == [1]
        tg.heal()
        runs = h.bot.catchup.runs
        await h.command("/help")  # the first delivery after the outage: Telegram is back
        await tg.wait_for(lambda: h.bot.catchup.runs > runs, what="the catch-up")
        await h.bot.outbox.join()
        assert await h.approval_message(1)
        assert (await h.director.queries.unsent_approvals()) == []


async def test_a_rejected_token_stops_start_up_with_a_clear_line(
    tg: TelegramStandIn, tmp_path: Path
) -> None:
    settings = make_settings(tg, tmp_path / "omega.db", telegram_bot_token="1:wrong")
    with pytest.raises(SettingsError, match="TELEGRAM_BOT_TOKEN: Telegram rejected the token"):
        await serve(
            settings,
            tuning=FAST,
            director_factory=lambda reporter: build_director(settings, reporter),
        )


async def _cycles(db_path: Path) -> int:
    store = await Store.open(db_path)
    try:
        return await store.cycle_count()
    finally:
        await store.close()


async def _finished(director: Director, cycle_id: int) -> bool:
    record = await director.store.cycle(cycle_id)
    return record is not None and record.status == "done"
