"""Managing positions from the chat: /close and /cancel (operators), /daily, /weekly and /why
(viewers too).

/close and /cancel are actions like a brain's: they go through `Director.submit_action`, the
one path for actions from outside a plan (guard on fresh state, approval policy, idempotent
executors), recorded "by operator <who>". The Telegram message they came in is the
idempotency key, so an update delivered twice never sends twice.
"""

from __future__ import annotations

import logging
import re

from bot.cockpit import Cockpit, Invocation, int_arg, whole
from bot.render import esc
from bot.render_cockpit import render_periods, render_story, render_submission, render_why
from director.face import SubmissionError
from director.models import Action
from director.operator_actions import OperatorActionError, cancel_action, close_action

log = logging.getLogger(__name__)

# Tickers and order ids as the exchanges write them; anything else is refused before a lookup.
_TICKER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
DEFAULT_DAYS, MAX_DAYS = 7, 90
DEFAULT_WEEKS, MAX_WEEKS = 4, 52


async def _submit(inv: Invocation, ctx: Cockpit, action: Action) -> None:
    origin = f"operator {inv.who}"
    key = f"telegram:{inv.chat_id}:{inv.message_id}" if inv.message_id else None
    log.info("%s asks %s", origin, action.describe())
    try:
        submission = await ctx.director.submit_action(
            action, origin=origin[:100], key=key, note="from the Telegram chat"
        )
    except SubmissionError as exc:
        await ctx.reply(inv, f"⚠️ Not submitted: {esc(exc)}")
        return
    await ctx.reply(inv, render_submission(submission, inv.who))


async def close(inv: Invocation, ctx: Cockpit) -> None:
    usage = "/close <market> [qty]"
    if not 1 <= len(inv.args) <= 2 or not _TICKER.fullmatch(inv.args[0]):
        await ctx.usage(inv, usage)
        return
    quantity = None
    if len(inv.args) == 2:
        quantity = whole(inv.args[1])
        if quantity is None or quantity < 1:
            await ctx.usage(inv, usage + " (qty: a whole number of contracts)")
            return
    market = inv.args[0].upper()
    state = await ctx.director.sense()
    try:
        action = close_action(state, market, quantity)
    except OperatorActionError as exc:
        await ctx.reply(inv, f"⚠️ Can't close: {esc(exc)}. /positions lists what is held.")
        return
    await _submit(inv, ctx, action)


async def cancel(inv: Invocation, ctx: Cockpit) -> None:
    if len(inv.args) != 1 or not _TICKER.fullmatch(inv.args[0]):
        await ctx.usage(inv, "/cancel <order id> (/orders lists them)")
        return
    await _submit(inv, ctx, cancel_action(inv.args[0]))


async def daily(inv: Invocation, ctx: Cockpit) -> None:
    await _periods(inv, ctx, "day", DEFAULT_DAYS, MAX_DAYS)


async def weekly(inv: Invocation, ctx: Cockpit) -> None:
    await _periods(inv, ctx, "week", DEFAULT_WEEKS, MAX_WEEKS)


async def _periods(inv: Invocation, ctx: Cockpit, period: str, default: int, most: int) -> None:
    count = default
    if inv.args:
        parsed = int_arg(inv.args, 1, most)
        if parsed is None:
            name = "daily" if period == "day" else "weekly"
            await ctx.usage(inv, f"/{name} [n], n from 1 to {most}")
            return
        count = parsed
    rows = await ctx.director.queries.pnl("day" if period == "day" else "week", count)
    await ctx.reply(inv, render_periods(rows, period))


async def why(inv: Invocation, ctx: Cockpit) -> None:
    queries = ctx.director.queries
    if not inv.args:
        cycle, answers = await queries.why()
        await ctx.reply(inv, render_why(cycle.id if cycle else None, answers))
        return
    if len(inv.args) != 1 or not _TICKER.fullmatch(inv.args[0]):
        await ctx.usage(inv, "/why [market]")
        return
    market = inv.args[0].upper()
    await ctx.reply(inv, render_story(market, await queries.story(market)))
