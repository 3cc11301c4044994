"""The Telegram bot: builds the PTB Application, runs the director loop in its job queue, shuts
down cleanly on SIGTERM.

Life cycle (`serve`): build the director and the Application → initialize (retrying while
Telegram is unreachable) → command menu → jobs (the cycle at once and then every
OMEGA_CYCLE_SECONDS, approval expiry, the review on OMEGA_REVIEW_SCHEDULE) → poll with
drop_pending_updates → wait for SIGTERM/SIGINT → stop polling → stop jobs and handlers → let a
running cycle and review finish (with a grace period) → flush the outbox → close the director.

Deliberate choice: at start-up the loop waits until Telegram answers once. An unattended loop
that its operator cannot see or stop (/panic) is worse than a late start. Once running, a
Telegram outage never stops the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeAlias

from telegram import BotCommand, Update
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ExtBot,
    JobQueue,
    MessageHandler,
    filters,
)

from bot.approvals import ButtonHandler
from bot.auth import Authorizer
from bot.commands import COMMANDS, Commands, guarded
from bot.cycles import CycleRunner
from bot.outbox import Outbox
from bot.port import DirectorPort
from bot.render import esc
from bot.reporter import TelegramReporter
from bot.review import ReviewRunner
from bot.send import Sender
from director.reporting import Reporter
from director.settings import ReviewSchedule, Settings, SettingsError

log = logging.getLogger(__name__)

# ExtBot[int]: the rate limiter's per-request argument type (AIORateLimiter takes an int).
BotApplication: TypeAlias = Application[
    ExtBot[int],
    ContextTypes.DEFAULT_TYPE,
    dict[Any, Any],
    dict[Any, Any],
    dict[Any, Any],
    JobQueue[ContextTypes.DEFAULT_TYPE],
]
DirectorFactory = Callable[[Reporter], Awaitable[DirectorPort]]


@dataclass(frozen=True)
class BotTuning:
    """Network and timing knobs: production keeps the defaults, tests turn them down."""

    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    write_timeout: float = 20.0
    pool_timeout: float = 10.0
    poll_timeout: int = 30  # getUpdates long-poll, seconds
    expiry_check_seconds: float = 15.0
    shutdown_grace_seconds: float = 60.0
    outbox_drain_seconds: float = 10.0
    retry_max_seconds: float = 60.0  # back-off cap while Telegram is unreachable at start
    error_alert_cooldown_seconds: float = 3600.0


def file_url(base_url: str) -> str:
    """The file endpoint that goes with a Bot API base URL (.../bot → .../file/bot)."""
    if base_url.endswith("/bot"):
        return base_url[: -len("bot")] + "file/bot"
    return base_url


def review_days(schedule: ReviewSchedule) -> tuple[int, ...]:
    """PTB's run_daily counts days from Sunday = 0; ReviewSchedule from Monday = 0."""
    if schedule.weekday is None:
        return tuple(range(7))
    return ((schedule.weekday + 1) % 7,)


def build_application(settings: Settings, tuning: BotTuning) -> BotApplication:
    token = settings.telegram_bot_token
    if token is None:
        raise SettingsError("TELEGRAM_BOT_TOKEN: required to run the Telegram bot")
    if not settings.allowed_users:
        raise SettingsError(
            "OMEGA_ALLOWED_USERS: required when TELEGRAM_BOT_TOKEN is set "
            "(an open trading bot is a hole)"
        )
    return (
        ApplicationBuilder()
        .token(token.get_secret_value())
        .base_url(settings.telegram_api_base_url)
        .base_file_url(file_url(settings.telegram_api_base_url))
        .rate_limiter(AIORateLimiter())
        .concurrent_updates(True)
        .connect_timeout(tuning.connect_timeout)
        .read_timeout(tuning.read_timeout)
        .write_timeout(tuning.write_timeout)
        .pool_timeout(tuning.pool_timeout)
        .get_updates_connect_timeout(tuning.connect_timeout)
        .get_updates_read_timeout(tuning.read_timeout)
        .get_updates_write_timeout(tuning.write_timeout)
        .get_updates_pool_timeout(tuning.pool_timeout)
        .build()
    )


class OmegaBot:
    def __init__(
        self,
        application: BotApplication,
        director: DirectorPort,
        reporter: TelegramReporter,
        outbox: Outbox,
        sender: Sender,
        tuning: BotTuning,
    ) -> None:
        self.application = application
        self.director = director
        self.reporter = reporter
        self.outbox = outbox
        self.sender = sender
        self.tuning = tuning
        self.settings = director.settings
        self.runner = CycleRunner(director, on_crash=reporter.alert)
        self.reviews = ReviewRunner(director, sender)
        self._auth = Authorizer(self.settings.allowed_users)
        self._alerted: dict[str, float] = {}
        self._started = False
        self._register_handlers()

    @classmethod
    async def create(
        cls,
        settings: Settings,
        *,
        tuning: BotTuning | None = None,
        director_factory: DirectorFactory | None = None,
    ) -> OmegaBot:
        """Build everything; nothing talks to Telegram yet."""
        tuning = tuning or BotTuning()
        application = build_application(settings, tuning)
        chat_id = settings.report_chat_id
        if chat_id is None:  # unreachable: allowed users are required, and the first is the chat
            raise SettingsError("OMEGA_CHAT_ID: no chat to report to")
        sender = Sender(application.bot)
        outbox = Outbox()
        reporter = TelegramReporter(sender, chat_id, outbox, report=settings.report)
        if director_factory is None:
            director: DirectorPort = await _build_real_director(settings, reporter)
        else:
            director = await director_factory(reporter)
        reporter.bind(director.store)
        return cls(application, director, reporter, outbox, sender, tuning)

    # --- wiring --------------------------------------------------------------------------

    def _register_handlers(self) -> None:
        app = self.application
        commands = Commands(self.director, self.sender, self.reporter, self.runner, self.reviews)
        for name, handler in commands.handlers().items():
            app.add_handler(CommandHandler(name, guarded(handler, self._auth, self.sender)))
        # After every CommandHandler: only commands none of them took get here.
        app.add_handler(
            MessageHandler(filters.COMMAND, guarded(commands.unknown, self._auth, self.sender))
        )
        buttons = ButtonHandler(self.director, self.sender, self._auth, clock=self.director.clock)
        app.add_handler(CallbackQueryHandler(buttons.on_press))
        app.add_error_handler(self._on_error)

    def _schedule_jobs(self) -> None:
        jobs = self.application.job_queue
        if jobs is None:  # the job-queue extra is a declared dependency
            raise RuntimeError("python-telegram-bot was installed without the job-queue extra")
        # The first cycle runs at start. APScheduler would round first=0 up to a whole interval
        # once the start time has passed (it has, by the time the scheduler starts), so the
        # first run time is given explicitly.
        jobs.run_repeating(
            self._cycle_tick,
            interval=self.settings.cycle_seconds,
            first=0,
            name="director-cycle",
            job_kwargs={
                "next_run_time": datetime.now(UTC),
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": None,
            },
        )
        jobs.run_repeating(
            self._expiry_tick,
            interval=self.tuning.expiry_check_seconds,
            first=self.tuning.expiry_check_seconds,
            name="approval-expiry",
        )
        schedule = self.settings.review_schedule
        if schedule.enabled:
            jobs.run_daily(
                self._review_tick,
                time=schedule.at.replace(tzinfo=UTC),
                days=review_days(schedule),
                name="review",
            )
            log.info("review scheduled: %s", schedule)

    # --- jobs ----------------------------------------------------------------------------

    async def _cycle_tick(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not self.runner.start("schedule"):
            log.info("scheduled cycle skipped: the previous one is still running")
        job = context.job
        self.director.next_cycle_at = job.next_t if job is not None else None

    async def _expiry_tick(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            expired = await self.director.expire_approvals()
        except Exception:
            log.exception("expiring approvals failed")
            return
        if expired:
            log.info("expired %d approval(s)", len(expired))

    async def _review_tick(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not self.reviews.start("schedule", self.reporter.chat_id):
            log.info("scheduled review skipped: another review is still running")

    # --- errors --------------------------------------------------------------------------

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        if error is None:
            return
        if isinstance(error, NetworkError) and not isinstance(error, BadRequest):
            log.warning("Telegram unreachable: %s", error)
            return
        log.error("unhandled error (update: %s)", _describe(update), exc_info=error)
        key = f"{type(error).__name__}: {str(error)[:120]}"
        now = time.monotonic()
        cooldown = self.tuning.error_alert_cooldown_seconds
        self._alerted = {k: t for k, t in self._alerted.items() if now - t < cooldown}
        if key in self._alerted:
            return  # told already; the log has every occurrence
        self._alerted[key] = now
        await self.reporter.alert(f"Internal error, logged; the loop keeps running. {key}")

    def _polling_error(self, error: TelegramError) -> None:
        log.warning("polling Telegram failed (retrying by itself): %s", error)

    # --- life cycle ----------------------------------------------------------------------

    async def start(self, stop: asyncio.Event) -> bool:
        """Connect, schedule, poll. False when `stop` was set before Telegram answered."""
        if not await self._retrying("connect to Telegram", self.application.initialize, stop):
            return False
        await self._set_menu()
        self._schedule_jobs()
        self.outbox.start()
        # Queued before the jobs start, so the chat reads "online" before the first report.
        self.reporter.notify(self._online_text(), "online notice")
        await self.application.start()
        updater = self.application.updater
        if updater is None:
            raise RuntimeError("the Application was built without an Updater")

        async def poll() -> None:
            await updater.start_polling(
                timeout=self.tuning.poll_timeout,
                drop_pending_updates=True,
                allowed_updates=[Update.MESSAGE, Update.CALLBACK_QUERY],
                error_callback=self._polling_error,
            )

        if not await self._retrying("start polling", poll, stop):
            return False
        self._started = True
        me = self.application.bot.username
        log.info("Telegram bot @%s online; reporting to chat %s", me, self.reporter.chat_id)
        return True

    def _online_text(self) -> str:
        s = self.settings
        return (
            f"🟢 <b>Omega Director online</b> · {esc(s.exchange)} exchange · brain "
            f"{esc(s.brain_kind)} · a cycle every {s.cycle_seconds} s, the first now. /help"
        )

    async def _retrying(
        self, what: str, attempt: Callable[[], Awaitable[None]], stop: asyncio.Event
    ) -> bool:
        delay = 1.0
        while not stop.is_set():
            try:
                await attempt()
                return True
            except InvalidToken:
                raise SettingsError("TELEGRAM_BOT_TOKEN: Telegram rejected the token") from None
            except TelegramError as exc:
                log.warning("could not %s (%s); retrying in %.0f s", what, exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, self.tuning.retry_max_seconds)
        return False

    async def _set_menu(self) -> None:
        commands = [BotCommand(c.name, c.description) for c in COMMANDS]
        try:
            await self.application.bot.set_my_commands(commands)
        except TelegramError as exc:
            log.warning("could not set the command menu: %s", exc)

    async def stop(self) -> None:
        """Stop in order; safe to call after a partial start."""
        app = self.application
        updater = app.updater
        if updater is not None and updater.running:
            await updater.stop()
        if app.running:
            await app.stop()  # no new jobs or commands; waits for handlers in flight
        await asyncio.gather(
            self.runner.stop(self.tuning.shutdown_grace_seconds),
            self.reviews.stop(self.tuning.shutdown_grace_seconds),
        )
        if self._started:
            self.reporter.notify("🔴 <b>Omega Director stopping</b>.", "offline notice")
        await self.outbox.close(self.tuning.outbox_drain_seconds)
        with contextlib.suppress(TelegramError):
            await app.shutdown()
        await self.director.close()
        log.info("Telegram bot stopped")


async def _build_real_director(settings: Settings, reporter: Reporter) -> DirectorPort:
    from director.app import build_director

    director: DirectorPort = await build_director(settings, reporter)
    return director


def _describe(update: object) -> str:
    if isinstance(update, Update):
        user = update.effective_user
        who = f"user {user.id}" if user else "no user"
        text = update.effective_message.text if update.effective_message else None
        data = update.callback_query.data if update.callback_query else None
        return f"#{update.update_id} from {who}: {(text or data or '')[:80]!r}"
    return "none" if update is None else type(update).__name__


async def serve(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    tuning: BotTuning | None = None,
    director_factory: DirectorFactory | None = None,
    on_started: Callable[[OmegaBot], None] | None = None,
) -> None:
    """Run the bot until `stop` is set or SIGTERM/SIGINT arrives."""
    stop = stop or asyncio.Event()
    # httpx logs each request URL at INFO, and a Bot API URL carries the token. The CLI's
    # logging setup already does this; a bot started any other way must not leak it either.
    for name in ("httpx", "httpcore"):
        chatty = logging.getLogger(name)
        chatty.setLevel(max(chatty.getEffectiveLevel(), logging.WARNING))
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, _stopper(stop, signum))
            installed.append(signum)
    try:
        bot = await OmegaBot.create(settings, tuning=tuning, director_factory=director_factory)
        try:
            if await bot.start(stop):
                if on_started is not None:
                    on_started(bot)
                await stop.wait()
        finally:
            await bot.stop()
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def _stopper(stop: asyncio.Event, signum: signal.Signals) -> Callable[[], None]:
    def handle() -> None:
        log.info("%s received: shutting down", signum.name)
        stop.set()

    return handle


def run_bot(settings: Settings) -> None:
    """`omega-director run` with TELEGRAM_BOT_TOKEN set."""
    asyncio.run(serve(settings))
