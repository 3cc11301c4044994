"""Unit tests for the bot's small parts: auth, outbox, reporter, cycle runner, chart, wiring."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image
from pydantic import SecretStr, ValidationError
from telegram import Bot, User

from bot.app import BotTuning, build_application, file_url
from bot.auth import Authorizer, label
from bot.charts import equity_png, x_labels
from bot.cycles import CycleRunner
from bot.jobs import review_days
from bot.outbox import Outbox
from bot.reporter import TelegramReporter, log_line
from bot.send import Sender
from director.director import CycleInProgress
from director.models import Priority
from director.reporting import ApprovalDecision, ApprovalRequest, CycleReport, StateSummary
from director.setting_parsers import ReviewSchedule
from director.settings import Settings, SettingsError
from director.store import ApprovalRecord, ApprovalStatus
from tests.telegram_standin import TelegramStandIn

NOW = datetime(2026, 11, 24, 14, 15, tzinfo=UTC)
CHAT = 1001


# --- auth ----------------------------------------------------------------------------------


def test_only_listed_human_ids_are_allowed(caplog: pytest.LogCaptureFixture) -> None:
    auth = Authorizer([1001, 1002])
    assert auth.allows(User(1001, "Ann", is_bot=False))
    assert not auth.allows(User(1003, "Eve", is_bot=False, username="ann"))
    assert not auth.allows(User(1001, "Bot", is_bot=True))  # an id in the list, but a bot
    assert not auth.allows(None)
    auth.refuse(User(1003, "Eve", is_bot=False, username="eve"), "command '/panic'")
    assert "unauthorized command '/panic' from @eve (1003) is_bot=False" in caplog.text
    with pytest.raises(ValueError, match="OMEGA_ALLOWED_USERS"):
        Authorizer([])


def test_labels_name_people_by_handle_and_id() -> None:
    assert label(User(5, "Ann", is_bot=False, username="ann")) == "@ann (5)"
    assert label(User(6, "Bo", is_bot=False, last_name="Li")) == "Bo Li (6)"


# --- outbox --------------------------------------------------------------------------------


async def test_outbox_delivers_in_order_and_survives_a_failing_delivery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outbox = Outbox()
    outbox.start()
    outbox.open()
    done: list[int] = []

    async def deliver(n: int) -> None:
        if n == 2:
            raise RuntimeError("bug in delivery 2")
        done.append(n)

    for n in range(5):
        outbox.post(f"item {n}", lambda n=n: deliver(n))  # type: ignore[misc]
    await outbox.join()
    assert done == [0, 1, 3, 4]
    assert "delivery failed: item 2" in caplog.text
    await outbox.close(1)
    outbox.post("late", lambda: deliver(9))
    assert "outbox closed; dropped late" in caplog.text


async def test_a_full_outbox_drops_the_oldest(caplog: pytest.LogCaptureFixture) -> None:
    outbox = Outbox(capacity=2)
    done: list[int] = []

    async def deliver(n: int) -> None:
        done.append(n)

    for n in range(4):
        outbox.post(f"item {n}", lambda n=n: deliver(n))  # type: ignore[misc]
    outbox.start()
    outbox.open()
    await outbox.join()
    assert done == [2, 3]
    assert "dropped the oldest delivery (item 0)" in caplog.text
    await outbox.close(1)


async def test_closing_gives_up_on_a_delivery_that_never_ends() -> None:
    outbox = Outbox()
    outbox.start()
    outbox.open()

    async def forever() -> None:
        await asyncio.Event().wait()

    outbox.post("forever", forever)
    await outbox.close(0.05)
    assert outbox.backlog == 0


async def test_the_outbox_holds_work_until_telegram_answers_then_sends_urgent_first() -> None:
    outbox = Outbox()
    outbox.start()
    done: list[str] = []

    async def deliver(name: str) -> None:
        done.append(name)

    outbox.post("report 1", lambda: deliver("report 1"))
    outbox.post("approval", lambda: deliver("approval"), urgent=True)
    outbox.post("report 2", lambda: deliver("report 2"))
    outbox.post("settlement", lambda: deliver("settlement"), urgent=True)
    await asyncio.sleep(0)  # the worker runs, and waits at the gate
    assert done == [] and outbox.backlog == 4 and not outbox.is_open
    outbox.open()
    await outbox.join()
    assert done == ["approval", "settlement", "report 1", "report 2"]
    await outbox.close(1)


# --- reporter ------------------------------------------------------------------------------


@pytest.fixture
async def bot(tg: TelegramStandIn) -> AsyncIterator[Bot]:
    async with Bot(tg.token, base_url=tg.base_url) as client:
        yield client


class Messages:
    """The store's approval-message slice, in memory."""

    def __init__(self) -> None:
        self.where: dict[int, tuple[int, int]] = {}

    async def set_approval_message(self, approval_id: int, chat_id: int, message_id: int) -> None:
        self.where[approval_id] = (chat_id, message_id)

    async def approval_card(self, request: ApprovalRequest) -> None:
        return None  # the short form

    async def why_counts(self, cycle_id: int) -> dict[str, int]:
        return {}

    async def approval(self, approval_id: int) -> ApprovalRecord | None:
        chat_id, message_id = self.where.get(approval_id, (None, None))
        return ApprovalRecord(
            approval_id, 1, 1, "action", NOW, NOW, ApprovalStatus.EXPIRED, None, None, None,
            chat_id, message_id,
        )  # fmt: skip


def cycle_report(cycle_id: int = 3, trigger: str = "schedule", **overrides: object) -> CycleReport:
    state = StateSummary(
        Decimal(1), Decimal(1), Decimal(0), 0.0, Decimal(0), 0, 0, 0, "ok", False, False, "", "auto"
    )
    values: dict[str, object] = {
        "cycle_id": cycle_id,
        "trigger": trigger,
        "started_at": NOW,
        "finished_at": NOW,
        "state": state,
        "reasoning": "Nothing to do this cycle.",
        "priority": Priority.LOW,
        "brain": "rules",
        "model": None,
        "cost_usd": Decimal(0),
        "rules_version": 1,
    }
    values.update(overrides)
    return CycleReport(**values)  # type: ignore[arg-type]


async def test_reporter_respects_report_actions_but_always_answers_a_manual_cycle(
    tg: TelegramStandIn, bot: Bot
) -> None:
    outbox = Outbox()
    outbox.start()
    outbox.open()
    reporter = TelegramReporter(Sender(bot), CHAT, outbox, report="actions")
    await reporter.cycle_report(cycle_report(3))  # quiet
    await reporter.cycle_report(cycle_report(4, alerts=["feed down"]))  # noteworthy
    await reporter.cycle_report(cycle_report(5, trigger="manual"))  # asked for
    await reporter.cycle_report(cycle_report(0, reasoning="Paused"))  # a paused tick
    await outbox.join()
    texts = [m.text for m in tg.bot_messages(CHAT)]
    assert [t.split(" · ")[0] for t in texts] == ["🔁 Cycle #4", "🔁 Cycle #5"]
    await outbox.close(1)


async def test_reporter_remembers_approval_messages_and_edits_them_when_settled(
    tg: TelegramStandIn, bot: Bot
) -> None:
    outbox = Outbox()
    outbox.start()
    outbox.open()
    messages = Messages()
    reporter = TelegramReporter(Sender(bot), CHAT, outbox, engine=messages)
    request = ApprovalRequest(9, 1, 3, "cancel_order(o1)", "autonomy is confirm", None, NOW)
    await reporter.approval_requested(request)
    await reporter.approval_settled(
        ApprovalDecision(9, False, "expired", "Expired: not executed.", None, "cancel_order(o1)")
    )
    await outbox.join()
    (message,) = tg.bot_messages(CHAT)
    assert messages.where[9] == (CHAT, message.message_id)
    assert message.text.startswith("⌛ Expired · approval #9")
    assert message.buttons() == []

    # Never delivered (an outage): the settlement goes out as a new message instead.
    await reporter.approval_settled(ApprovalDecision(10, False, "expired", "Expired.", None, "x"))
    await reporter.alert("feed <down> & out")
    await outbox.join()
    texts = [m.text for m in tg.bot_messages(CHAT)]
    assert texts[1].startswith("⌛ Expired · approval #10")
    assert texts[2] == "🚨 feed <down> & out"
    await outbox.close(1)


async def test_reporter_calls_return_before_telegram_answers(tg: TelegramStandIn, bot: Bot) -> None:
    outbox = Outbox()
    outbox.start()
    outbox.open()
    reporter = TelegramReporter(Sender(bot), CHAT, outbox, engine=Messages())
    tg.hang()
    # Were these awaited on Telegram, they would block until heal().
    await reporter.cycle_report(cycle_report(3))
    await reporter.approval_requested(
        ApprovalRequest(9, 1, 3, "cancel_order(o1)", "autonomy is confirm", None, NOW)
    )
    assert outbox.backlog >= 1
    tg.heal()
    await outbox.close(5)


# --- cycle runner --------------------------------------------------------------------------


class FakeDirector:
    """Only what CycleRunner touches."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.calls: list[str] = []
        self.fail_with: BaseException | None = None
        self._running = False

    @property
    def running(self) -> bool:
        return self._running

    def clock(self) -> datetime:
        return NOW

    async def run_cycle(self, trigger: str = "schedule") -> object:
        self.calls.append(trigger)
        if self.fail_with is not None:
            raise self.fail_with
        self._running = True
        try:
            await self.gate.wait()
        finally:
            self._running = False
        return object()


async def test_runner_runs_one_cycle_at_a_time() -> None:
    director = FakeDirector()
    alerts: list[str] = []

    async def alert(text: str) -> None:
        alerts.append(text)

    runner = CycleRunner(director, on_crash=alert)  # type: ignore[arg-type]
    assert runner.start("schedule")
    await asyncio.sleep(0)
    assert runner.busy and runner.started_at == NOW
    assert not runner.start("manual")
    director.gate.set()
    await runner.wait()
    assert not runner.busy and runner.started_at is None
    assert director.calls == ["schedule"]

    director.fail_with = CycleInProgress("busy")  # a race with another caller: not a crash
    assert runner.start("manual")
    await runner.wait()
    director.fail_with = RuntimeError("boom")
    assert runner.start("manual")
    await runner.wait()
    assert alerts == ["A manual cycle crashed: RuntimeError: boom"]


async def test_runner_stop_waits_for_a_grace_period_then_cancels(
    caplog: pytest.LogCaptureFixture,
) -> None:
    director = FakeDirector()

    async def alert(text: str) -> None:
        return None

    runner = CycleRunner(director, on_crash=alert)  # type: ignore[arg-type]
    assert runner.start("schedule")
    await asyncio.sleep(0)
    await runner.stop(0.05)
    assert not runner.busy
    assert "cancelling it" in caplog.text
    assert not runner.start("schedule")  # stopped for good


# --- chart ---------------------------------------------------------------------------------


def test_equity_chart_is_a_real_png() -> None:
    points = [(NOW + timedelta(hours=i), Decimal(1000 + 10 * i)) for i in range(48)]
    png = equity_png(points)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (800, 400)
    assert sum(1 for count in image.convert("L").histogram() if count) > 10  # a drawing
    assert equity_png(points) == png  # no timestamps inside: the same series, the same bytes
    single = Image.open(io.BytesIO(equity_png(points[:1])))
    assert single.size == (800, 400)
    with pytest.raises(ValueError):
        equity_png([])


# --- wiring --------------------------------------------------------------------------------


def test_file_url_follows_the_api_url() -> None:
    assert file_url("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"
    assert file_url("http://127.0.0.1:8081/bot") == "http://127.0.0.1:8081/file/bot"
    assert file_url("http://proxy/tg") == "http://proxy/tg"


def test_review_days_map_monday_first_to_sunday_first() -> None:
    assert review_days(ReviewSchedule.parse("sun 18:00")) == (0,)
    assert review_days(ReviewSchedule.parse("mon 09:30")) == (1,)
    assert review_days(ReviewSchedule.parse("sat 09:30")) == (6,)
    assert review_days(ReviewSchedule(weekday=None, at=time(8))) == tuple(range(7))


def test_the_application_uses_the_configured_api_and_refuses_an_open_bot(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        telegram_bot_token="123:abc",
        telegram_api_base_url="http://127.0.0.1:9/bot",
        allowed_users=[5],
        db_path=tmp_path / "x.db",
    )
    application = build_application(settings, BotTuning())
    assert application.bot.base_url == "http://127.0.0.1:9/bot123:abc"
    assert application.bot.base_file_url == "http://127.0.0.1:9/file/bot123:abc"
    assert application.job_queue is not None
    assert application.bot.rate_limiter is not None
    assert application.update_processor.max_concurrent_updates > 1

    with pytest.raises(ValidationError, match="OMEGA_ALLOWED_USERS"):
        Settings(_env_file=None, telegram_bot_token="123:abc")
    open_bot = settings.model_copy(update={"allowed_users": []})
    with pytest.raises(SettingsError, match="OMEGA_ALLOWED_USERS: required"):
        build_application(open_bot, BotTuning())
    tokenless = settings.model_copy(update={"telegram_bot_token": None})
    with pytest.raises(SettingsError, match="TELEGRAM_BOT_TOKEN"):
        build_application(tokenless, BotTuning())
    assert isinstance(settings.telegram_bot_token, SecretStr)
    assert "abc" not in repr(settings)


def test_logging_never_shows_the_token(caplog: pytest.LogCaptureFixture) -> None:
    from director.logging_setup import RedactSecrets

    caplog.handler.addFilter(RedactSecrets())
    logging.getLogger("httpx").warning(
        "HTTP Request: POST https://api.telegram.org/bot123456:AAEhBOweik9ai3o5aZ-abcdefghijklmnop/x"
    )
    assert "AAEhBOweik9ai3o5aZ" not in caplog.text


def test_the_pnl_chart_labels_each_day_once() -> None:
    for days in (4, 5, 9, 30):
        points = [(NOW + timedelta(hours=6 * i), Decimal(1000 + i)) for i in range(days * 4)]
        labels = x_labels(points)
        assert labels and len(labels) == len(set(labels)), (days, labels)
    hours = x_labels([(NOW + timedelta(hours=i), Decimal(1000 + i)) for i in range(12)])
    assert len(hours) == len(set(hours))


def at(hours: float) -> dict[str, datetime]:
    when = NOW + timedelta(hours=hours)
    return {"started_at": when, "finished_at": when}


async def test_digest_folds_routine_cycles_and_sends_what_matters_at_once(
    tg: TelegramStandIn, bot: Bot
) -> None:
    outbox = Outbox()
    outbox.start()
    outbox.open()
    reporter = TelegramReporter(Sender(bot), CHAT, outbox, report="digest", digest_hours=2)
    await reporter.cycle_report(cycle_report(1, **at(0)))  # routine: folded
    await reporter.cycle_report(cycle_report(2, alerts=["budget spent"], **at(1)))  # at once
    await reporter.cycle_report(cycle_report(3, **at(1.5)))  # routine: folded
    await outbox.join()
    assert [m.text.split(" · ")[0] for m in tg.bot_messages(CHAT)] == ["🔁 Cycle #2"]
    await reporter.cycle_report(cycle_report(4, **at(2)))  # two hours since the first: out
    await outbox.join()
    digest = tg.bot_messages(CHAT)[-1]
    assert digest.text.startswith("🗞 Digest · 3 routine cycle(s)")
    assert "#1 14:15" in digest.text and "#3 15:45" in digest.text and "#4 16:15" in digest.text
    assert digest.silent and not tg.bot_messages(CHAT)[0].silent
    await outbox.close(1)


async def test_the_same_alert_rings_once_a_day_and_routine_reports_are_silent(
    tg: TelegramStandIn, bot: Bot
) -> None:
    outbox = Outbox()
    outbox.start()
    outbox.open()
    reporter = TelegramReporter(Sender(bot), CHAT, outbox, report="every")
    for cycle_id, hours in ((1, 0), (2, 1), (3, 25)):
        await reporter.cycle_report(cycle_report(cycle_id, alerts=["feed down"], **at(hours)))
    await reporter.cycle_report(cycle_report(4, **at(26)))
    await outbox.join()
    assert [m.silent for m in tg.bot_messages(CHAT)] == [False, True, False, True]
    await outbox.close(1)


def test_every_cycle_report_is_one_log_line_too() -> None:
    line = log_line(cycle_report(7, alerts=["feed down"]))
    assert line == "cycle #7 (schedule, rules, LOW): no actions · alerts: feed down"
