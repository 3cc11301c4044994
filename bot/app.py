"""The Telegram bot: builds the PTB Application, runs the director loop in its job queue, shuts
down cleanly on SIGTERM.

Life cycle (`serve`): build the director and the Application → jobs start at once (the cycle
now and then every OMEGA_CYCLE_SECONDS, approval expiry, the review on OMEGA_REVIEW_SCHEDULE) →
in the background, reach Telegram with back-off (bot/connect.py: menu, the backlog of commands
sent while down, polling, the outbox opens, catch-up) → wait for SIGTERM/SIGINT → stop polling →
stop jobs and handlers → let a running cycle and review finish (with a grace period) → flush
the outbox → close the director.

The loop comes before the face: the director trades (within its limits, reporting to the log)
while Telegram is unreachable, at start as later; what it reported meanwhile is delivered, and
approval requests that never arrived are re-sent, when Telegram answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from telegram import Update
from telegram.error import BadRequest, NetworkError, TelegramError
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

from bot.auth import Authorizer, Role
from bot.buttons import Buttons, pressed, unrecognized
from bot.catchup import CatchUp
from bot.cockpit import Cockpit
from bot.connect import connect
from bot.cycles import CycleRunner
from bot.jobs import schedule_jobs
from bot.keyboards import (
    APPROVAL_PATTERN,
    CONFIRM_PATTERN,
    PANIC_PATTERN,
    REVIEW_PATTERN,
    ROLLBACK_PATTERN,
    ApprovalPress,
    ConfirmPress,
    PanicPress,
    ReviewPress,
    RollbackPress,
)
from bot.outbox import Outbox
from bot.port import DirectorPort
from bot.prompts import Prompts
from bot.render import esc
from bot.reporter import TelegramReporter
from bot.retry import URGENT, RetryPolicy
from bot.review import ReviewRunner
from bot.send import Sender
from bot.table import COMMANDS, guarded, unknown
from director.describe import describe_error
from director.reporting import Reporter
from director.settings import Settings, SettingsError

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
    retry_max_seconds: float = 60.0  # back-off cap while Telegram is unreachable
    error_alert_cooldown_seconds: float = 3600.0
    retry: RetryPolicy = URGENT  # each message: 429s and 5xx retried (bot/retry.py)


def file_url(base_url: str) -> str:
    """The file endpoint that goes with a Bot API base URL (.../bot → .../file/bot)."""
    if base_url.endswith("/bot"):
        return base_url[: -len("bot")] + "file/bot"
    return base_url


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
        self.chat_id = reporter.chat_id
        self.runner = CycleRunner(director, on_crash=reporter.alert)
        self.reviews = ReviewRunner(director, sender)
        self.auth = Authorizer(
            self.settings.allowed_users, self.settings.viewers, report_chat_id=self.chat_id
        )
        self.catchup = CatchUp(director, reporter)
        sender.on_failed = self.catchup.failed
        sender.on_delivered = self.catchup.delivered
        self.connected = asyncio.Event()  # Telegram answered; commands are being polled
        self.fatal: BaseException | None = None  # what ended the connection for good
        self._connecting: asyncio.Task[None] | None = None
        self._alerted: dict[str, float] = {}
        self._register_handlers()

    @classmethod
    async def create(
        cls,
        settings: Settings,
        *,
        director_factory: DirectorFactory,
        tuning: BotTuning | None = None,
    ) -> OmegaBot:
        """Build everything; nothing talks to Telegram yet. `director_factory` builds the
        engine around the bot's reporter (the wiring is omega/cli.py's, not the bot's)."""
        tuning = tuning or BotTuning()
        application = build_application(settings, tuning)
        chat_id = settings.report_chat_id
        if chat_id is None:  # unreachable: allowed users are required, and the first is the chat
            raise SettingsError("OMEGA_CHAT_ID: no chat to report to")
        sender = Sender(application.bot, policy=tuning.retry)
        outbox = Outbox()
        reporter = TelegramReporter(
            sender,
            chat_id,
            outbox,
            report=settings.report,
            digest_hours=settings.report_digest_hours,
        )
        director = await director_factory(reporter)
        reporter.bind(director.queries, director.clock)
        return cls(application, director, reporter, outbox, sender, tuning)

    # --- wiring --------------------------------------------------------------------------

    def _register_handlers(self) -> None:
        app = self.application
        cockpit = Cockpit(self.director, self.sender, self.reporter, self.runner, self.reviews)
        for spec in COMMANDS:
            callback = guarded(spec.role, spec.handler, self.auth, cockpit, spec.name)
            app.add_handler(CommandHandler(spec.name, callback))
        # After every CommandHandler: only commands none of them took get here.
        fallback = guarded(Role.VIEWER, unknown, self.auth, cockpit, "unknown")
        app.add_handler(MessageHandler(filters.COMMAND, fallback))
        buttons = Buttons(self.director, self.sender)
        prompts = Prompts(self.director, self.sender, clock=self.director.clock)
        kinds: list[tuple[str, Any, Any]] = [
            (APPROVAL_PATTERN, ApprovalPress, buttons.approval),
            (REVIEW_PATTERN, ReviewPress, buttons.review),
            (PANIC_PATTERN, PanicPress, prompts.panic),
            (ROLLBACK_PATTERN, RollbackPress, prompts.rollback),
            (CONFIRM_PATTERN, ConfirmPress, prompts.confirm),
        ]
        for pattern, kind, handler in kinds:
            callback = pressed(kind, handler, self.auth, self.sender)
            app.add_handler(CallbackQueryHandler(callback, pattern=pattern))
        app.add_handler(CallbackQueryHandler(unrecognized))
        app.add_error_handler(self._on_error)

    # --- errors --------------------------------------------------------------------------

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        if error is None:
            return
        if isinstance(error, NetworkError) and not isinstance(error, BadRequest):
            log.warning("Telegram unreachable: %s", error)
            return
        log.error("unhandled error (update: %s)", _describe(update), exc_info=error)
        key = describe_error(error, 160)
        now = time.monotonic()
        cooldown = self.tuning.error_alert_cooldown_seconds
        self._alerted = {k: t for k, t in self._alerted.items() if now - t < cooldown}
        if key in self._alerted:
            return  # told already; the log has every occurrence
        self._alerted[key] = now
        await self.reporter.alert(f"Internal error, logged; the loop keeps running. {key}")

    def polling_error(self, error: TelegramError) -> None:
        log.warning("polling Telegram failed (retrying by itself): %s", error)

    # --- life cycle ----------------------------------------------------------------------

    async def start(self, stop: asyncio.Event) -> bool:
        """Start the loop at once and reach Telegram in the background (bot/connect.py).

        Always True: the director trades (and reports to the log) whether or not Telegram
        answers; `connected` is set when it does. A token Telegram rejects sets `fatal` and
        `stop`."""
        jobs = schedule_jobs(self.application, self, self.tuning.expiry_check_seconds)
        await jobs.start()
        self.outbox.start()
        self._connecting = asyncio.create_task(self._connect(stop), name="telegram-connect")
        return True

    async def _connect(self, stop: asyncio.Event) -> None:
        try:
            if await connect(self, stop):
                self.connected.set()
        except SettingsError as exc:
            log.error("%s", exc)
            self.fatal = exc
            stop.set()
        except Exception as exc:
            log.exception("connecting to Telegram failed for good; the loop keeps running")
            self.fatal = exc

    async def online_text(self) -> str:
        """The online notice: what the loop is doing now, safe mode, what waits."""
        s = self.settings
        d = self.director
        paused, safe, pending = await asyncio.gather(
            d.queries.paused(), d.queries.safe_mode(), d.pending_approvals()
        )
        if paused:
            loop = "⏸ <b>PAUSED</b>: no scheduled cycle until /resume"
        elif self.runner.busy:
            loop = f"a cycle every {s.cycle_seconds} s; one is running now"
        else:
            loop = f"a cycle every {s.cycle_seconds} s"
        lines = [
            f"🟢 <b>Omega Director online</b> · {esc(s.exchange)} exchange · brain "
            f"{esc(s.brain_kind)} · {loop}. /help"
        ]
        if safe:
            lines.append("🛡 Safe mode is <b>ON</b>: only cancels and position-reducing orders.")
        if pending:
            lines.append(f"✋ {len(pending)} approval(s) waiting: /pending")
        return "\n".join(lines)

    async def stop(self) -> None:
        """Stop in order; safe to call after a partial start."""
        app = self.application
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        updater = app.updater
        if updater is not None and updater.running:
            await updater.stop()
        if app.running:
            await app.stop()  # no new jobs or commands; waits for handlers in flight
        elif app.job_queue is not None and app.job_queue.scheduler.running:
            await app.job_queue.stop()  # the loop ran without the face ever coming up
        await asyncio.gather(
            self.runner.stop(self.tuning.shutdown_grace_seconds),
            self.reviews.stop(self.tuning.shutdown_grace_seconds),
        )
        if self.connected.is_set():
            # Routine cycles folded since the last digest are not lost to a restart.
            self.reporter.flush_digest(self.director.clock())
            self.reporter.notify("🔴 <b>Omega Director stopping</b>.", "offline notice")
        await self.outbox.close(self.tuning.outbox_drain_seconds)
        with contextlib.suppress(TelegramError):
            await app.shutdown()
        await self.director.close()
        log.info("Telegram bot stopped")


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
    director_factory: DirectorFactory,
    stop: asyncio.Event | None = None,
    tuning: BotTuning | None = None,
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
        if isinstance(bot.fatal, SettingsError):
            raise bot.fatal
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def _stopper(stop: asyncio.Event, signum: signal.Signals) -> Callable[[], None]:
    def handle() -> None:
        log.info("%s received: shutting down", signum.name)
        stop.set()

    return handle


def run_bot(settings: Settings, director_factory: DirectorFactory) -> None:
    """`omega-director run` with TELEGRAM_BOT_TOKEN set."""
    asyncio.run(serve(settings, director_factory=director_factory))
