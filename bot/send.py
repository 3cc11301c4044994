"""The one path every message to Telegram takes.

It splits long HTML below Telegram's 4096-character limit (bot/html_split.py), retries what
Telegram failed for a while (a 429's retry_after, a 5xx, a dropped connection: bot/retry.py),
and it never raises: when Telegram stays down or refuses a message, the failure is one log line
and the caller (a command, a cycle report) carries on. Losing a chat message must never stop
the loop.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram import (
    Bot,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from bot.html_split import (
    CAPTION_LIMIT,
    MESSAGE_LIMIT,
    _fitting_prefix,
    html_to_plain,
    split_html,
    truncate_html,
    utf16_units,
)
from bot.retry import BRIEF, URGENT, RetryPolicy, Sleep, is_transient, with_retries

__all__ = [
    "CAPTION_LIMIT",
    "MESSAGE_LIMIT",
    "Sender",
    "html_to_plain",
    "split_html",
    "truncate_html",
    "utf16_units",
]

log = logging.getLogger(__name__)
T = TypeVar("T")
ReplyMarkup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


class Sender:
    """Sends, edits and answers through one Bot; every method returns instead of raising.

    `on_delivered` is told after every call Telegram took, `on_failed` after one it did not
    take even with retries: bot/catchup.py uses them to notice Telegram coming back.
    """

    def __init__(
        self,
        bot: Bot,
        *,
        limit: int = MESSAGE_LIMIT,
        policy: RetryPolicy = URGENT,
        brief: RetryPolicy = BRIEF,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._bot = bot
        self._limit = limit
        self._policy = policy
        self._brief = brief
        self._sleep = sleep
        self._no_preview = LinkPreviewOptions(is_disabled=True)
        self.on_delivered: Callable[[], None] = lambda: None
        self.on_failed: Callable[[], None] = lambda: None

    async def _call(
        self, what: str, call: Callable[[], Awaitable[T]], policy: RetryPolicy | None = None
    ) -> T:
        try:
            result = await with_retries(what, call, policy or self._policy, sleep=self._sleep)
        except TelegramError as exc:
            if is_transient(exc):
                self.on_failed()
            raise
        self.on_delivered()
        return result

    async def send_html(
        self,
        chat_id: int,
        text: str,
        *,
        reply_markup: ReplyMarkup | None = None,
        quiet: bool = False,
    ) -> list[Message]:
        """Send `text` as one or more messages; the keyboard rides on the last one. `quiet`
        sends them without a notification sound (routine reports).

        Returns the messages sent; an empty list when Telegram could not be reached.
        """
        sent, _ = await self._send_parts(chat_id, text, reply_markup, quiet)
        return sent

    async def send_whole_html(
        self, chat_id: int, text: str, *, reply_markup: ReplyMarkup
    ) -> Message | None:
        """Send `text` with its keyboard on the last part; that last message, or None unless
        every part arrived: a message whose keyboard was lost is not delivered, and must be
        sent again (an approval request's buttons)."""
        sent, whole = await self._send_parts(chat_id, text, reply_markup, quiet=False)
        return sent[-1] if whole and sent else None

    async def _send_parts(
        self, chat_id: int, text: str, reply_markup: ReplyMarkup | None, quiet: bool
    ) -> tuple[list[Message], bool]:
        try:
            chunks = split_html(text, self._limit)
        except ValueError:
            log.exception("could not split a message; sending it as plain text")
            chunks = split_html(html.escape(html_to_plain(text)), self._limit)
        chunks = [c for c in chunks if html_to_plain(c).strip()]
        sent: list[Message] = []
        for number, chunk in enumerate(chunks, start=1):
            markup = reply_markup if number == len(chunks) else None
            message = await self._send_chunk(chat_id, chunk, markup, quiet)
            if message is None:
                if len(chunks) > number:
                    log.warning(
                        "gave up on %d more part(s) of a message to chat %s",
                        len(chunks) - number,
                        chat_id,
                    )
                return sent, False
            sent.append(message)
        return sent, True

    async def _send_chunk(
        self, chat_id: int, chunk: str, markup: ReplyMarkup | None, quiet: bool
    ) -> Message | None:
        def send(text: str, mode: str | None) -> Callable[[], Awaitable[Message]]:
            return lambda: self._bot.send_message(
                chat_id,
                text,
                parse_mode=mode,
                reply_markup=markup,
                link_preview_options=self._no_preview,
                disable_notification=quiet,
            )

        try:
            return await self._call(f"send to chat {chat_id}", send(chunk, ParseMode.HTML))
        except BadRequest as exc:
            if "parse entities" not in str(exc):
                log.error("Telegram refused a message to chat %s: %s", chat_id, exc)
                return None
            # A rendering bug must not cost the operator the report: send it unformatted.
            log.error("Telegram could not parse our HTML (%s); resending as plain text", exc)
            try:
                return await self._call(f"send to chat {chat_id}", send(html_to_plain(chunk), None))
            except TelegramError as again:
                log.error("plain-text resend to chat %s failed too: %s", chat_id, again)
                return None
        except TelegramError as exc:
            _log_failure("send a message to", chat_id, exc)
            return None

    async def edit_html(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        *,
        reply_markup: InlineKeyboardMarkup | None = None,
    ) -> bool:
        """Replace a message's text (and keyboard: None removes it). True when it shows."""

        async def edit() -> object:
            return await self._bot.edit_message_text(
                truncate_html(text, self._limit),
                chat_id=chat_id,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=reply_markup,
                link_preview_options=self._no_preview,
            )

        try:
            await self._call(f"edit message {message_id}", edit)
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return True
            log.error(
                "Telegram refused to edit message %s in chat %s: %s", message_id, chat_id, exc
            )
            return False
        except TelegramError as exc:
            _log_failure(f"edit message {message_id} in", chat_id, exc)
            return False
        return True

    async def send_png(self, chat_id: int, png: bytes, caption: str) -> bool:
        """A picture with an HTML caption; a caption too long for one goes as a message."""
        parts = split_html(caption, CAPTION_LIMIT)
        inline = parts[0] if len(parts) == 1 else None

        async def send() -> object:
            return await self._bot.send_photo(
                chat_id, png, caption=inline, parse_mode=ParseMode.HTML if inline else None
            )

        try:
            await self._call(f"send a picture to chat {chat_id}", send)
        except TelegramError as exc:
            _log_failure("send a picture to", chat_id, exc)
            return False
        if inline is None:
            await self.send_html(chat_id, caption)
        return True

    async def answer(self, query_id: str, text: str, *, alert: bool = False) -> bool:
        """Answer a button press: a toast, or a dialog when `alert` (at most 200 characters)."""
        shown = text if utf16_units(text) <= 200 else text[: _fitting_prefix(text, 199)] + "…"

        async def answer() -> object:
            return await self._bot.answer_callback_query(query_id, text=shown, show_alert=alert)

        try:
            await self._call(f"answer press {query_id}", answer, self._brief)
        except TelegramError as exc:
            _log_failure("answer a button press from", query_id, exc)
            return False
        return True


def _log_failure(what: str, where: object, exc: TelegramError) -> None:
    """One line per lost message: a traceback adds nothing to "Telegram was down"."""
    if is_transient(exc):
        log.warning("could not %s %s (Telegram unreachable, gave up): %s", what, where, exc)
    else:
        log.error("could not %s %s: %s", what, where, exc)
