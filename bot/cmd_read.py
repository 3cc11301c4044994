"""Commands that only read: /start, /help, /state, /plan, /history, /pnl, /positions, /orders,
/limits. Viewers may use them (bot/table.py says who may use what)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from bot.auth import Role
from bot.cockpit import Cockpit, Invocation, duration, int_arg
from bot.keyboards import main_keyboard
from bot.render import (
    MAX_LISTED,
    _more,
    esc,
    render_history,
    render_plan,
    stamp,
)
from bot.render_cockpit import pnl_figures, render_help, render_limits, render_pnl, render_positions
from bot.render_state import StateView, render_state

log = logging.getLogger(__name__)

MAX_HISTORY = 50
DEFAULT_HISTORY = 10
DEFAULT_PNL_DAYS = 30
MAX_PNL_DAYS = 3650


async def start(inv: Invocation, ctx: Cockpit) -> None:
    await help_(inv, ctx)
    await ctx.reply(inv, "The four used most are on the keyboard below.", markup=main_keyboard())


async def help_(inv: Invocation, ctx: Cockpit) -> None:
    from bot.table import COMMANDS  # the table lists this handler: imported when called

    d = ctx.director
    settings = d.settings
    autonomy = await d.autonomy()
    intro = (
        f"🤖 <b>Omega Director</b> · {esc(settings.exchange)} exchange · "
        f"brain {esc(settings.brain_kind)} · autonomy {esc(autonomy.value)} · "
        f"a cycle every {duration(settings.cycle_seconds)}"
    )
    viewer = inv.user.id not in settings.allowed_users
    shown = [(c.name, c.description) for c in COMMANDS if not viewer or c.role is Role.VIEWER]
    if viewer:
        intro += "\nYou may read; changing anything takes an operator."
    await ctx.reply(inv, render_help(shown, intro=intro))


async def state(inv: Invocation, ctx: Cockpit) -> None:
    if not await ctx.no_args(inv, "state"):
        return
    d = ctx.director
    sotu, paused, spend, pending = await asyncio.gather(
        d.sense(), d.queries.paused(), d.ai_spend_today(), d.pending_approvals()
    )
    view = StateView(
        state=sotu,
        now=d.clock(),
        paused=paused,
        next_cycle_at=d.next_cycle_at,
        cycle_running=ctx.runner.busy,
        ai_spend_today=spend,
        daily_budget=d.settings.daily_budget_usd,
        pending_approvals=len(pending),
    )
    await ctx.reply(inv, render_state(view))


async def plan(inv: Invocation, ctx: Cockpit) -> None:
    if await ctx.no_args(inv, "plan"):
        await ctx.reply(inv, render_plan(await ctx.director.queries.last_cycle()))


async def history(inv: Invocation, ctx: Cockpit) -> None:
    count = DEFAULT_HISTORY
    if inv.args:
        parsed = int_arg(inv.args, 1, MAX_HISTORY)
        if parsed is None:
            await ctx.usage(inv, f"/history [n], n from 1 to {MAX_HISTORY}")
            return
        count = parsed
    await ctx.reply(inv, render_history(await ctx.director.queries.recent_cycles(count)))


async def pnl(inv: Invocation, ctx: Cockpit) -> None:
    days = DEFAULT_PNL_DAYS
    if inv.args:
        parsed = int_arg(inv.args, 1, MAX_PNL_DAYS)
        if parsed is None:
            await ctx.usage(inv, f"/pnl [days], days from 1 to {MAX_PNL_DAYS}")
            return
        days = parsed
    since = ctx.director.clock() - timedelta(days=days)
    points = await ctx.director.queries.equity_history(since)
    figures = pnl_figures(points)
    if figures is None:
        await ctx.reply(inv, f"📈 No equity recorded in the last {days} day(s) yet.")
        return
    # Drawing takes a few hundred milliseconds of CPU: keep it off the event loop.
    async with ctx.chart_lock:
        # Imported on first use: matplotlib costs tens of MB the bot rarely needs.
        from bot.charts import equity_png

        png = await asyncio.to_thread(equity_png, points, title=f"Equity, last {days} day(s)")
    if not await ctx.sender.send_png(inv.chat_id, png, render_pnl(figures)):
        log.warning("/pnl chart not delivered to chat %s", inv.chat_id)


async def positions(inv: Invocation, ctx: Cockpit) -> None:
    if await ctx.no_args(inv, "positions"):
        views = await ctx.director.queries.positions()
        await ctx.reply(inv, render_positions(views, ctx.director.clock()))


async def orders(inv: Invocation, ctx: Cockpit) -> None:
    if not await ctx.no_args(inv, "orders"):
        return
    sotu = await ctx.director.sense()
    resting = sorted(sotu.pending_orders, key=lambda o: (o.created_at, o.order_id))
    lines = [f"📝 <b>Resting orders ({len(resting)})</b>" + ("" if resting else ": none")]
    for o in resting[:MAX_LISTED]:
        lines.append(
            f"• <code>{esc(o.order_id)}</code> {esc(o.action.value)} {esc(o.market)}"
            f" {esc(o.side.value.upper())} {o.remaining}/{o.quantity} @ {esc(o.price)}"
            f" since {stamp(o.created_at)}"
        )
    lines.extend(_more(len(resting), MAX_LISTED))
    if resting:
        lines.append("/cancel &lt;order&gt; cancels one (through the guard).")
    await ctx.reply(inv, "\n".join(lines))


async def limits(inv: Invocation, ctx: Cockpit) -> None:
    if await ctx.no_args(inv, "limits"):
        await ctx.reply(inv, render_limits(await ctx.director.queries.limits()))
