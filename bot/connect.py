"""Connecting to Telegram in the background, while the loop already trades.

The director must never wait for its face (issue 12, "the loop before the face"): the cycles
start at once and report to the log; this task keeps trying to reach Telegram with back-off,
and once it answers: the command menu, the backlog of commands sent while we were down
(bot/backlog.py), polling, then the outbox opens (what the cycles reported meanwhile goes out)
and the catch-up re-sends approval requests that never arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from telegram import BotCommand, Update
from telegram.error import InvalidToken, TelegramError

from bot.backlog import fetch_backlog, honour, sort_backlog
from bot.table import menu
from director.settings import SettingsError

if TYPE_CHECKING:
    from bot.app import OmegaBot

log = logging.getLogger(__name__)


async def retrying(
    what: str,
    attempt: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    max_delay: float,
) -> bool:
    """`attempt()` until it works (True) or `stop` is set (False). A rejected token is fatal."""
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
        delay = min(delay * 2, max_delay)
    return False


async def connect(bot: OmegaBot, stop: asyncio.Event) -> bool:
    """Reach Telegram and bring the face up; False when `stop` came first."""
    app = bot.application
    max_delay = bot.tuning.retry_max_seconds
    if not await retrying("connect to Telegram", app.initialize, stop, max_delay):
        return False
    await _set_menu(bot)

    async def backlog() -> None:
        updates = await fetch_backlog(app.bot)
        sorted_ = sort_backlog(updates, bot.auth, app.bot.username)
        await honour(sorted_, bot.director, bot.sender)

    if not await retrying("read the backlog", backlog, stop, max_delay):
        return False
    await app.start()
    updater = app.updater
    if updater is None:
        raise RuntimeError("the Application was built without an Updater")

    async def poll() -> None:
        # The backlog is read and confirmed: nothing is pending that must be dropped, and
        # dropping here would lose a /panic sent in the moment since.
        await updater.start_polling(
            timeout=bot.tuning.poll_timeout,
            drop_pending_updates=False,
            allowed_updates=[Update.MESSAGE, Update.CALLBACK_QUERY],
            error_callback=bot.polling_error,
        )

    if not await retrying("start polling", poll, stop, max_delay):
        return False
    bot.reporter.notify(await bot.online_text(), "online notice", first=True)
    bot.outbox.open()
    bot.catchup.start()
    log.info("Telegram bot @%s online; reporting to chat %s", app.bot.username, bot.chat_id)
    return True


async def _set_menu(bot: OmegaBot) -> None:
    commands = [BotCommand(name, description) for name, description in menu()]
    try:
        await bot.application.bot.set_my_commands(commands)
    except TelegramError as exc:
        log.warning("could not set the command menu: %s", exc)
