"""The one command table: it feeds the menu (setMyCommands), /help and the handlers' registration.

To add a command, write `async def name(inv: Invocation, ctx: Cockpit) -> None` in a module of
its own and add one CommandSpec line here: `role` says who may use it (Role.VIEWER: anyone
allowed to read; Role.OPERATOR: those who may change things). `guarded` does the checks
before the handler sees anything, so no handler can forget one:

- a command addressed to another bot (/state@otherbot) is not ours (PTB's CommandHandler
  already skips it; the fallback for unknown commands skips it too);
- a stranger is refused and logged; in a group, he gets no reply at all;
- account data goes only to the report chat or a private chat: elsewhere a known user is told
  to ask in private;
- a viewer asking for what changes things is told no, and nothing changes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from telegram import Chat, Update
from telegram.ext import ContextTypes

from bot import cmd_control, cmd_read, cmd_trade, scripts_command
from bot.auth import Authorizer, Role
from bot.cockpit import Cockpit, Invocation

log = logging.getLogger(__name__)

Handler = Callable[[Invocation, Cockpit], Awaitable[None]]
PtbCallback = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class CommandSpec:
    name: str
    description: str  # the menu text (setMyCommands) and the /help line
    handler: Handler
    role: Role = Role.OPERATOR


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("state", "Cash, equity, positions, orders, opportunities, health, modes",
                cmd_read.state, Role.VIEWER),
    CommandSpec("positions", "Each position: average, mark, unrealized P&L, time to close",
                cmd_read.positions, Role.VIEWER),
    CommandSpec("orders", "Resting orders", cmd_read.orders, Role.VIEWER),
    CommandSpec("pending", "Approvals waiting for you, with their buttons", cmd_control.pending),
    CommandSpec("plan", "The last plan, with its reasoning and outcomes", cmd_read.plan,
                Role.VIEWER),
    CommandSpec("why", "Why no trade: each opportunity's fate, or /why <market>'s story",
                cmd_trade.why, Role.VIEWER),
    CommandSpec("pnl", "Equity chart and P&L: /pnl [days]", cmd_read.pnl, Role.VIEWER),
    CommandSpec("daily", "Realized and unrealized P&L, fees, AI spend per day: /daily [n]",
                cmd_trade.daily, Role.VIEWER),
    CommandSpec("weekly", "The same per week: /weekly [n]", cmd_trade.weekly, Role.VIEWER),
    CommandSpec("history", "One line per recent cycle: /history [n]", cmd_read.history,
                Role.VIEWER),
    CommandSpec("limits", "The guard's hard limits and the approval threshold",
                cmd_read.limits, Role.VIEWER),
    CommandSpec("scripts", "The trader's scripts: last beat, status, next due",
                scripts_command.scripts, Role.VIEWER),
    CommandSpec("close", "Reduce a position through the guard: /close <market> [qty]",
                cmd_trade.close),
    CommandSpec("cancel", "Cancel a resting order through the guard: /cancel <order>",
                cmd_trade.cancel),
    CommandSpec("cycle", "Run one cycle now", cmd_control.cycle),
    CommandSpec("safemode", "Safe mode: /safemode on|off (no argument: show it)",
                cmd_control.safemode),
    CommandSpec("pause", "Pause scheduled cycles", cmd_control.pause),
    CommandSpec("resume", "Resume scheduled cycles", cmd_control.resume),
    CommandSpec("autonomy", "Autonomy: /autonomy observe|confirm|auto (no argument: show it)",
                cmd_control.autonomy),
    CommandSpec("rules", "Active rules, their history and last change: /rules [rollback N]",
                cmd_control.rules),
    CommandSpec("review", "Review past decisions now; suggests one rule change to apply",
                cmd_control.review),
    CommandSpec("panic", "Safe mode on and cancel every resting order (asks to confirm)",
                cmd_control.panic),
    CommandSpec("help", "What each command does", cmd_read.help_, Role.VIEWER),
    CommandSpec("start", "What the bot is, and a keyboard of the four used most",
                cmd_read.start, Role.VIEWER),
)  # fmt: skip


def addressed_elsewhere(text: str, bot_username: str | None) -> bool:
    """True for "/cmd@otherbot": a command meant for another bot in the same chat."""
    head = text.split(maxsplit=1)[0] if text else ""
    if "@" not in head:
        return False
    return bot_username is None or head.split("@", 1)[1].lower() != bot_username.lower()


async def unknown(inv: Invocation, ctx: Cockpit) -> None:
    await ctx.reply(inv, "Unknown command. /help lists what I understand.")


def guarded(
    spec_role: Role, handler: Handler, auth: Authorizer, ctx: Cockpit, name: str
) -> PtbCallback:
    """The PTB callback for `handler`: every check first (see the module's docstring)."""

    async def callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, chat, user = update.effective_message, update.effective_chat, update.effective_user
        if message is None or chat is None:
            return
        text = message.text or ""
        if addressed_elsewhere(text, context.bot.username):
            return
        role = auth.role(user)
        if role is None:
            where = "" if chat.type == Chat.PRIVATE else f" in group {chat.id}"
            auth.refuse(user, f"command {text[:80]!r}{where}")
            if chat.type == Chat.PRIVATE:
                await ctx.sender.send_html(chat.id, "⛔ Not authorized.")
            return  # in a group, a stranger gets no reply at all
        assert user is not None  # a role implies a user
        if not auth.private_or_report(chat):
            log.warning(
                "/%s from %s in chat %s refused: not a private chat", name, user.id, chat.id
            )
            await ctx.sender.send_html(chat.id, "🔒 Ask me in a private chat.")
            return
        if role < spec_role:
            auth.refuse(user, f"command {text[:80]!r} (view-only user)")
            await ctx.sender.send_html(
                chat.id, f"👁 View-only: /{name} changes things; ask an operator."
            )
            return
        await handler(
            Invocation(chat.id, user, tuple(context.args or ()), message.message_id, message.date),
            ctx,
        )

    return callback


def menu(commands: tuple[CommandSpec, ...] = COMMANDS) -> list[tuple[str, str]]:
    return [(c.name, c.description) for c in commands]
