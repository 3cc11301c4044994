"""Commands sent while the bot was down: safety ones are honoured, the rest are declined aloud.

Before polling starts, the updates Telegram kept for us are read (getUpdates from offset 0, then
confirmed with an offset past the last one, as the Bot API documents). From operators, in a
private chat or the report chat: /panic (safe mode on and cancel every resting order, without
the usual confirmation: a panic sent during an outage must not wait for a button) and
/safemode on are honoured, newest first, each sender told when his command was sent and what
was done; every other command is dropped and its sender told so, to send it again. Strangers
are logged, never answered. Nothing stale is ever executed but those two safe-direction acts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from telegram import Bot, Message, Update

from bot.auth import Authorizer, Role, label
from bot.port import DirectorPort
from bot.render import esc, stamp
from bot.render_cockpit import render_panic_result
from bot.send import Sender
from bot.table import addressed_elsewhere

log = logging.getLogger(__name__)

PAGE = 100  # the most getUpdates returns at once


@dataclass
class Backlog:
    panics: list[Message] = field(default_factory=list)
    safemodes: list[Message] = field(default_factory=list)
    dropped: dict[int, list[Message]] = field(default_factory=dict)  # chat id → its commands


async def fetch_backlog(bot: Bot) -> list[Update]:
    """Every command waiting for us, oldest first, and confirm every update read (so none is
    seen twice). All pages are read, however many: one left unread would reach polling and run
    as a fresh command. Only commands are kept; Telegram holds updates for 24 hours at most."""
    commands: list[Update] = []
    offset = 0
    while page := await bot.get_updates(offset=offset, timeout=0, limit=PAGE):
        commands.extend(u for u in page if u.message and (u.message.text or "").startswith("/"))
        if page[-1].update_id < offset:
            break  # a server that does not move past the offset: stop rather than spin
        offset = page[-1].update_id + 1
    if offset:
        await bot.get_updates(offset=offset, timeout=0, limit=1)
    return commands


def sort_backlog(updates: Sequence[Update], auth: Authorizer, bot_username: str | None) -> Backlog:
    backlog = Backlog()
    for update in updates:
        message = update.message
        if message is None or not (message.text or "").startswith("/"):
            continue
        user, chat = message.from_user, message.chat
        text = message.text or ""
        if addressed_elsewhere(text, bot_username):
            continue
        role = auth.role(user)
        if role is None or user is None:
            auth.refuse(user, f"backlog command {text[:80]!r} in chat {chat.id}")
            continue
        if not auth.private_or_report(chat):
            continue
        words = text.split()
        command = words[0].split("@", 1)[0].lower()
        if role is Role.OPERATOR and command == "/panic":
            backlog.panics.append(message)
        elif role is Role.OPERATOR and command == "/safemode" and words[1:] == ["on"]:
            backlog.safemodes.append(message)
        else:
            backlog.dropped.setdefault(chat.id, []).append(message)
    newest_first = lambda m: m.date  # noqa: E731
    backlog.panics.sort(key=newest_first, reverse=True)
    backlog.safemodes.sort(key=newest_first, reverse=True)
    return backlog


def _when(message: Message) -> str:
    return stamp(message.date) if isinstance(message.date, datetime) else "?"


async def honour(backlog: Backlog, director: DirectorPort, sender: Sender) -> None:
    """Do what the backlog's safety commands ask, and tell every sender what became of his."""
    if backlog.panics:
        newest = backlog.panics[0]
        who = label(newest.from_user) if newest.from_user else "an operator"
        log.warning("PANIC from the backlog (sent %s by %s): honoured", _when(newest), who)
        try:
            result = await director.panic(f"{who} (sent while the bot was down)")
            done = render_panic_result(result, who)
        except Exception:
            # The bot must still come up: the sender is told, and can press /panic again.
            log.exception("the backlog's /panic failed")
            done = "🚨 Panic FAILED: check /state and send /panic again."
        for message in backlog.panics:
            await sender.send_html(
                message.chat.id,
                f"📥 Your /panic sent at {_when(message)} while I was down: honoured at start.\n"
                + done,
            )
    if backlog.safemodes:
        newest = backlog.safemodes[0]
        who = label(newest.from_user) if newest.from_user else "an operator"
        if not backlog.panics:
            log.warning("safe mode ON from the backlog (sent %s by %s)", _when(newest), who)
            try:
                await director.set_safe_mode(True, f"{who} (sent while the bot was down)")
            except Exception:
                log.exception("the backlog's /safemode on failed")
                for message in backlog.safemodes:
                    await sender.send_html(
                        message.chat.id, "🛡 Safe mode FAILED to switch on: check /state."
                    )
                backlog.safemodes.clear()
        for message in backlog.safemodes:
            await sender.send_html(
                message.chat.id,
                f"📥 Your /safemode on sent at {_when(message)} while I was down: honoured at "
                "start. 🛡 Safe mode is <b>ON</b>.",
            )
    for chat_id, messages in backlog.dropped.items():
        listed = "\n".join(
            f"• <code>{esc((m.text or '')[:60])}</code> at {_when(m)}" for m in messages[:20]
        )
        await sender.send_html(
            chat_id,
            "📥 While I was down you sent:\n"
            f"{listed}\nNot run: only /panic and /safemode on are honoured from then. "
            "Send again what you still want.",
        )
