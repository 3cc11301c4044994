"""Operator commands: each one authorized, each one small, each one answered.

Handlers take an Invocation (chat, user, arguments) rather than PTB objects; `guarded` adapts
them to PTB and does the authorization check first, so no handler can forget it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from telegram import Update, User
from telegram.ext import ContextTypes

from bot.approvals import ROLLBACK_TTL_SECONDS, panic_keyboard, rollback_keyboard, same_rules
from bot.auth import Authorizer, label
from bot.charts import equity_png
from bot.cycles import CycleRunner
from bot.port import DirectorPort
from bot.render import (
    StateView,
    clock_time,
    esc,
    pnl_figures,
    render_help,
    render_history,
    render_panic_prompt,
    render_pending,
    render_plan,
    render_pnl,
    render_rollback_prompt,
    render_rules,
    render_state,
    until,
)
from bot.reporter import TelegramReporter
from bot.review import ReviewRunner
from bot.send import Sender
from director.models import Autonomy

log = logging.getLogger(__name__)

MAX_HISTORY = 50
DEFAULT_HISTORY = 10
DEFAULT_PNL_DAYS = 30
MAX_PNL_DAYS = 3650
MAX_PENDING_MESSAGES = 10
_NUMBER = re.compile(r"[0-9]{1,6}")


@dataclass(frozen=True)
class CommandSpec:
    name: str
    description: str  # the menu text (setMyCommands) and the /help line


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("state", "Cash, equity, positions, orders, opportunities, health, modes"),
    CommandSpec("plan", "The last plan, with its reasoning and outcomes"),
    CommandSpec("cycle", "Run one cycle now"),
    CommandSpec("pending", "Approvals waiting for you, with their buttons"),
    CommandSpec("safemode", "Safe mode: /safemode on|off (no argument: show it)"),
    CommandSpec("pause", "Pause scheduled cycles"),
    CommandSpec("resume", "Resume scheduled cycles"),
    CommandSpec("autonomy", "Autonomy: /autonomy observe|confirm|auto (no argument: show it)"),
    CommandSpec("history", "One line per recent cycle: /history [n]"),
    CommandSpec("rules", "Active rules, their history and last change: /rules [rollback N]"),
    CommandSpec("review", "Review past decisions now; suggests one rule change to apply"),
    CommandSpec("pnl", "Equity chart and P&L: /pnl [days]"),
    CommandSpec("panic", "Safe mode on and cancel every resting order (asks to confirm)"),
    CommandSpec("help", "What each command does"),
)

_AUTONOMY_MEANING = {
    Autonomy.OBSERVE: "sense and think, report the plan, never act",
    Autonomy.CONFIRM: "every action waits for your approval",
    Autonomy.AUTO: (
        "HIGH-priority, escalated and costly actions wait for approval; the rest execute"
    ),
}


@dataclass(frozen=True)
class Invocation:
    chat_id: int
    user: User
    args: tuple[str, ...]

    @property
    def who(self) -> str:
        return label(self.user)


CommandFn = Callable[[Invocation], Awaitable[None]]
PtbCallback = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


def guarded(fn: CommandFn, auth: Authorizer, sender: Sender) -> PtbCallback:
    """The PTB callback for `fn`: refuse anyone not allowed before `fn` sees anything."""

    async def callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, chat, user = update.effective_message, update.effective_chat, update.effective_user
        if message is None or chat is None:
            return
        if user is None or not auth.allows(user):
            auth.refuse(user, f"command {(message.text or '')[:80]!r}")
            await sender.send_html(chat.id, "⛔ Not authorized.")
            return
        await fn(Invocation(chat.id, user, tuple(context.args or ())))

    return callback


class Commands:
    def __init__(
        self,
        director: DirectorPort,
        sender: Sender,
        reporter: TelegramReporter,
        runner: CycleRunner,
        reviews: ReviewRunner,
    ) -> None:
        self._director = director
        self._sender = sender
        self._reporter = reporter
        self._runner = runner
        self._reviews = reviews
        # One chart at a time: matplotlib's shared caches are not built for concurrent drawing.
        self._chart_lock = asyncio.Lock()

    def handlers(self) -> dict[str, CommandFn]:
        return {
            "start": self.start,
            "help": self.help,
            "state": self.state,
            "plan": self.plan,
            "cycle": self.cycle,
            "pending": self.pending,
            "safemode": self.safemode,
            "pause": self.pause,
            "resume": self.resume,
            "autonomy": self.autonomy,
            "history": self.history,
            "rules": self.rules,
            "review": self.review,
            "pnl": self.pnl,
            "panic": self.panic,
        }

    async def _reply(self, inv: Invocation, text: str) -> None:
        await self._sender.send_html(inv.chat_id, text)

    async def _usage(self, inv: Invocation, usage: str) -> None:
        got = " ".join(inv.args)
        await self._reply(inv, f"⚠️ Didn't understand <code>{esc(got)}</code>. Usage: {esc(usage)}")

    async def _no_args(self, inv: Invocation, name: str) -> bool:
        if inv.args:
            await self._usage(inv, f"/{name} (no arguments)")
            return False
        return True

    # --- information ---------------------------------------------------------------------

    async def start(self, inv: Invocation) -> None:
        await self.help(inv)

    async def help(self, inv: Invocation) -> None:
        d = self._director
        settings = d.settings
        autonomy = await d.autonomy()
        intro = (
            f"🤖 <b>Omega Director</b> · {esc(settings.exchange)} exchange · "
            f"brain {esc(settings.brain_kind)} · autonomy {esc(autonomy.value)} · "
            f"a cycle every {_duration(settings.cycle_seconds)}"
        )
        await self._reply(
            inv, render_help(((c.name, c.description) for c in COMMANDS), intro=intro)
        )

    async def state(self, inv: Invocation) -> None:
        if not await self._no_args(inv, "state"):
            return
        d = self._director
        state, paused, spend, pending = await asyncio.gather(
            d.sense(), d.store.paused(), d.ai_spend_today(), d.store.pending_approvals()
        )
        view = StateView(
            state=state,
            now=d.clock(),
            paused=paused,
            next_cycle_at=d.next_cycle_at,
            cycle_running=self._runner.busy,
            ai_spend_today=spend,
            daily_budget=d.settings.daily_budget_usd,
            pending_approvals=len(pending),
        )
        await self._reply(inv, render_state(view))

    async def plan(self, inv: Invocation) -> None:
        if await self._no_args(inv, "plan"):
            await self._reply(inv, render_plan(await self._director.store.last_cycle()))

    async def history(self, inv: Invocation) -> None:
        count = DEFAULT_HISTORY
        if inv.args:
            parsed = _int_arg(inv.args, 1, MAX_HISTORY)
            if parsed is None:
                await self._usage(inv, f"/history [n], n from 1 to {MAX_HISTORY}")
                return
            count = parsed
        await self._reply(inv, render_history(await self._director.store.recent_cycles(count)))

    async def rules(self, inv: Invocation) -> None:
        store = self._director.store
        if not inv.args:
            history = await store.rules_history()
            await self._reply(inv, render_rules(await store.active_rules(), history))
            return
        version = _rollback_arg(inv.args)
        if version is None:
            await self._usage(inv, "/rules [rollback N]")
            return
        await self._offer_rollback(inv, version)

    async def _offer_rollback(self, inv: Invocation, version: int) -> None:
        store = self._director.store
        history = {r.version: r for r in await store.rules_history()}
        active = await store.active_rules()
        target = history.get(version)
        if target is None:
            await self._reply(
                inv,
                f"⚠️ There is no rules version {version}: versions run from 1 to {active.version}.",
            )
            return
        if target.version == active.version:
            await self._reply(inv, f"Rules v{version} is the active version already.")
            return
        if same_rules(target, active):
            await self._reply(
                inv,
                f"The active rules v{active.version} already equal v{version}: nothing to roll "
                "back.",
            )
            return
        log.info("rollback to v%d offered to %s", version, inv.who)
        await self._sender.send_html(
            inv.chat_id,
            render_rollback_prompt(target, active, ROLLBACK_TTL_SECONDS),
            reply_markup=rollback_keyboard(version, active.version, self._director.clock()),
        )

    async def pending(self, inv: Invocation) -> None:
        if not await self._no_args(inv, "pending"):
            return
        requests = await self._director.pending_approvals()
        await self._reply(inv, render_pending(requests, self._director.clock()))
        # Each again with its buttons: the original may have been lost to an outage.
        for request in requests[:MAX_PENDING_MESSAGES]:
            await self._reporter.send_request(request, inv.chat_id)
        if len(requests) > MAX_PENDING_MESSAGES:
            await self._reply(
                inv, f"Buttons shown for the first {MAX_PENDING_MESSAGES}; decide those first."
            )

    async def pnl(self, inv: Invocation) -> None:
        days = DEFAULT_PNL_DAYS
        if inv.args:
            parsed = _int_arg(inv.args, 1, MAX_PNL_DAYS)
            if parsed is None:
                await self._usage(inv, f"/pnl [days], days from 1 to {MAX_PNL_DAYS}")
                return
            days = parsed
        since = self._director.clock() - timedelta(days=days)
        points = await self._director.store.equity_history(since)
        figures = pnl_figures(points)
        if figures is None:
            await self._reply(inv, f"📈 No equity recorded in the last {days} day(s) yet.")
            return
        # Drawing takes a few hundred milliseconds of CPU: keep it off the event loop.
        async with self._chart_lock:
            png = await asyncio.to_thread(equity_png, points, title=f"Equity, last {days} day(s)")
        if not await self._sender.send_png(inv.chat_id, png, render_pnl(figures)):
            log.warning("/pnl chart not delivered to chat %s", inv.chat_id)

    async def review(self, inv: Invocation) -> None:
        if not await self._no_args(inv, "review"):
            return
        if self._reviews.start("manual", inv.chat_id):
            log.info("review started by %s", inv.who)
            return  # the runner says it started, then posts the report
        started = self._reviews.started_at
        since = f" (since {started:%H:%M:%S} UTC)" if started else ""
        await self._reply(
            inv, f"⏳ A review is already running{since}; its report follows. Try again after it."
        )

    # --- control -------------------------------------------------------------------------

    async def cycle(self, inv: Invocation) -> None:
        if not await self._no_args(inv, "cycle"):
            return
        if self._runner.start("manual"):
            log.info("manual cycle started by %s", inv.who)
            await self._reply(inv, "▶️ Cycle started; its report follows when it finishes.")
            return
        started = self._runner.started_at
        since = f" (since {started:%H:%M:%S} UTC)" if started else ""
        await self._reply(
            inv, f"⏳ A cycle is already running{since}; its report follows. Try again after it."
        )

    async def safemode(self, inv: Invocation) -> None:
        d = self._director
        if not inv.args:
            on = await d.store.safe_mode()
            await self._reply(
                inv, f"🛡 Safe mode is {'<b>ON</b>' if on else 'off'}. Usage: /safemode on|off"
            )
            return
        choice = _on_off(inv.args)
        if choice is None:
            await self._usage(inv, "/safemode on|off")
            return
        await d.set_safe_mode(choice, inv.who)
        if choice:
            text = (
                f"🛡 Safe mode <b>ON</b> (by {esc(inv.who)}): from the next action on, only "
                "cancels and position-reducing rebalances; pending approvals are re-checked "
                "under it when pressed."
            )
        else:
            text = (
                f"🛡 Safe mode off (by {esc(inv.who)}). Degraded health still forces it for a cycle."
            )
        await self._reply(inv, text)

    async def pause(self, inv: Invocation) -> None:
        if not await self._no_args(inv, "pause"):
            return
        await self._director.set_paused(True, inv.who)
        await self._reply(
            inv,
            f"⏸ Paused (by {esc(inv.who)}): scheduled cycles stop until /resume. "
            "/cycle and approvals still work.",
        )

    async def resume(self, inv: Invocation) -> None:
        if not await self._no_args(inv, "resume"):
            return
        d = self._director
        await d.set_paused(False, inv.who)
        nxt = d.next_cycle_at
        now = d.clock()
        when = f" Next cycle {clock_time(nxt, now)} ({until(nxt, now)})." if nxt else ""
        await self._reply(inv, f"▶️ Resumed (by {esc(inv.who)}).{when}")

    async def autonomy(self, inv: Invocation) -> None:
        d = self._director
        if not inv.args:
            current = await d.autonomy()
            await self._reply(
                inv,
                f"⚙️ Autonomy is <b>{esc(current.value)}</b>: {_AUTONOMY_MEANING[current]}.\n"
                f"Default from settings: {esc(d.settings.autonomy.value)}. "
                "Usage: /autonomy observe|confirm|auto",
            )
            return
        if len(inv.args) != 1 or inv.args[0].lower() not in {a.value for a in Autonomy}:
            await self._usage(inv, "/autonomy observe|confirm|auto")
            return
        chosen = Autonomy(inv.args[0].lower())
        await d.set_autonomy(chosen, inv.who)
        await self._reply(
            inv,
            f"⚙️ Autonomy now <b>{esc(chosen.value)}</b> (by {esc(inv.who)}): "
            f"{_AUTONOMY_MEANING[chosen]}.",
        )

    async def panic(self, inv: Invocation) -> None:
        if not await self._no_args(inv, "panic"):
            return
        issued = self._director.clock()
        log.warning("panic offered to %s", inv.who)
        await self._sender.send_html(
            inv.chat_id, render_panic_prompt(None), reply_markup=panic_keyboard(issued)
        )

    async def unknown(self, inv: Invocation) -> None:
        await self._reply(inv, "Unknown command. /help lists what I understand.")


def _int_arg(args: tuple[str, ...], low: int, high: int) -> int | None:
    if len(args) != 1 or not _NUMBER.fullmatch(args[0]):
        return None
    value = int(args[0])
    return value if low <= value <= high else None


def _rollback_arg(args: tuple[str, ...]) -> int | None:
    """N from "rollback N"; None for anything else (N's existence is checked by the caller)."""
    if len(args) != 2 or args[0].lower() != "rollback" or not _NUMBER.fullmatch(args[1]):
        return None
    version = int(args[1])
    return version if version >= 1 else None


def _on_off(args: tuple[str, ...]) -> bool | None:
    if len(args) != 1:
        return None
    return {"on": True, "off": False}.get(args[0].lower())


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"
