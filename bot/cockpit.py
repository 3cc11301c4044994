"""What every command handler gets: the Invocation (who, where, what) and the Cockpit (the
engine's port and the bot's own parts), plus the small argument parsers they share.

Handlers are flat `async def name(inv, ctx)` functions (bot/cmd_*.py) listed in one table
(bot/table.py); they never see a PTB object.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from telegram import Message, User

from bot.auth import label
from bot.cycles import CycleRunner
from bot.port import DirectorPort
from bot.render import esc
from bot.send import ReplyMarkup, Sender

if TYPE_CHECKING:
    from bot.reporter import TelegramReporter
    from bot.review import ReviewRunner

_NUMBER = re.compile(r"[0-9]{1,6}")


@dataclass(frozen=True)
class Invocation:
    chat_id: int
    user: User
    args: tuple[str, ...]
    message_id: int = 0
    sent_at: datetime | None = None  # when the user sent it (Telegram's date)

    @property
    def who(self) -> str:
        return label(self.user)


@dataclass
class Cockpit:
    director: DirectorPort
    sender: Sender
    reporter: TelegramReporter
    runner: CycleRunner
    reviews: ReviewRunner
    # One chart at a time: matplotlib's shared caches are not built for concurrent drawing.
    chart_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def real_money(self) -> bool:
        """On a real exchange, what makes the bot more dangerous asks to confirm."""
        return self.director.settings.exchange != "paper"

    async def reply(
        self, inv: Invocation, text: str, *, markup: ReplyMarkup | None = None
    ) -> list[Message]:
        return await self.sender.send_html(inv.chat_id, text, reply_markup=markup)

    async def usage(self, inv: Invocation, usage: str) -> None:
        got = " ".join(inv.args)
        await self.reply(inv, f"⚠️ Didn't understand <code>{esc(got)}</code>. Usage: {esc(usage)}")

    async def no_args(self, inv: Invocation, name: str) -> bool:
        if inv.args:
            await self.usage(inv, f"/{name} (no arguments)")
            return False
        return True


def int_arg(args: tuple[str, ...], low: int, high: int) -> int | None:
    if len(args) != 1 or not _NUMBER.fullmatch(args[0]):
        return None
    value = int(args[0])
    return value if low <= value <= high else None


def whole(text: str) -> int | None:
    return int(text) if _NUMBER.fullmatch(text) else None


def on_off(args: tuple[str, ...]) -> bool | None:
    if len(args) != 1:
        return None
    return {"on": True, "off": False}.get(args[0].lower())


def duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"
