"""Commands that change something: /cycle, /pending, /safemode, /pause, /resume, /autonomy,
/panic, /review, /rules. Operators only.

Safety asymmetry: whatever makes the bot safer happens at once; on a real exchange, whatever
makes it more dangerous (/autonomy auto, /safemode off, /resume) asks to confirm first, as
/panic does everywhere (bot/prompts.py).
"""

from __future__ import annotations

import logging

from bot.cockpit import Cockpit, Invocation, on_off, whole
from bot.keyboards import (
    PROMPT_TTL_SECONDS,
    Dangerous,
    confirm_keyboard,
    panic_keyboard,
    rollback_keyboard,
)
from bot.render import clock_time, esc, render_pending, until
from bot.render_cockpit import render_panic_prompt
from bot.render_review import render_rollback_prompt, render_rules
from director.models import Autonomy

log = logging.getLogger(__name__)

MAX_PENDING_MESSAGES = 10
AUTONOMY_MEANING = {
    Autonomy.OBSERVE: "sense and think, report the plan, never act",
    Autonomy.CONFIRM: "every action waits for your approval",
    Autonomy.AUTO: (
        "HIGH-priority, escalated and costly actions wait for approval; the rest execute"
    ),
}


async def _ask_to_confirm(inv: Invocation, ctx: Cockpit, what: Dangerous, text: str) -> None:
    log.warning("%s asked by %s: confirmation offered", what, inv.who)
    await ctx.reply(
        inv,
        f"⚠️ <b>Real money</b> ({esc(ctx.director.settings.exchange)}): {text}\n"
        f"Confirm within {PROMPT_TTL_SECONDS // 60} minutes.",
        markup=confirm_keyboard(what, ctx.director.clock()),
    )


async def cycle(inv: Invocation, ctx: Cockpit) -> None:
    if not await ctx.no_args(inv, "cycle"):
        return
    if ctx.runner.start("manual"):
        log.info("manual cycle started by %s", inv.who)
        await ctx.reply(inv, "▶️ Cycle started; its report follows when it finishes.")
        return
    started = ctx.runner.started_at
    since = f" (since {started:%H:%M:%S} UTC)" if started else ""
    await ctx.reply(
        inv, f"⏳ A cycle is already running{since}; its report follows. Try again after it."
    )


async def pending(inv: Invocation, ctx: Cockpit) -> None:
    if not await ctx.no_args(inv, "pending"):
        return
    requests = await ctx.director.pending_approvals()
    await ctx.reply(inv, render_pending(requests, ctx.director.clock()))
    # Each again with its buttons: the original may have been lost to an outage.
    for request in requests[:MAX_PENDING_MESSAGES]:
        await ctx.reporter.send_request(request, inv.chat_id)
    if len(requests) > MAX_PENDING_MESSAGES:
        await ctx.reply(
            inv, f"Buttons shown for the first {MAX_PENDING_MESSAGES}; decide those first."
        )


async def safemode(inv: Invocation, ctx: Cockpit) -> None:
    d = ctx.director
    if not inv.args:
        on = await d.queries.safe_mode()
        await ctx.reply(
            inv, f"🛡 Safe mode is {'<b>ON</b>' if on else 'off'}. Usage: /safemode on|off"
        )
        return
    choice = on_off(inv.args)
    if choice is None:
        await ctx.usage(inv, "/safemode on|off")
        return
    if not choice and ctx.real_money:
        await _ask_to_confirm(inv, ctx, "safeoff", "turn safe mode <b>off</b>?")
        return
    await d.set_safe_mode(choice, inv.who)
    if choice:
        text = (
            f"🛡 Safe mode <b>ON</b> (by {esc(inv.who)}): from the next action on, only "
            "cancels and position-reducing rebalances; pending approvals are re-checked "
            "under it when pressed."
        )
    else:
        text = f"🛡 Safe mode off (by {esc(inv.who)}). Degraded health still forces it for a cycle."
    await ctx.reply(inv, text)


async def pause(inv: Invocation, ctx: Cockpit) -> None:
    if not await ctx.no_args(inv, "pause"):
        return
    await ctx.director.set_paused(True, inv.who)
    await ctx.reply(
        inv,
        f"⏸ Paused (by {esc(inv.who)}): scheduled cycles stop until /resume. "
        "/cycle and approvals still work.",
    )


async def resume(inv: Invocation, ctx: Cockpit) -> None:
    if not await ctx.no_args(inv, "resume"):
        return
    if ctx.real_money:
        await _ask_to_confirm(inv, ctx, "resume", "resume the scheduled cycles?")
        return
    d = ctx.director
    await d.set_paused(False, inv.who)
    nxt = d.next_cycle_at
    now = d.clock()
    when = f" Next cycle {clock_time(nxt, now)} ({until(nxt, now)})." if nxt else ""
    await ctx.reply(inv, f"▶️ Resumed (by {esc(inv.who)}).{when}")


async def autonomy(inv: Invocation, ctx: Cockpit) -> None:
    d = ctx.director
    if not inv.args:
        current = await d.autonomy()
        await ctx.reply(
            inv,
            f"⚙️ Autonomy is <b>{esc(current.value)}</b>: {AUTONOMY_MEANING[current]}.\n"
            f"Default from settings: {esc(d.settings.autonomy.value)}. "
            "Usage: /autonomy observe|confirm|auto",
        )
        return
    if len(inv.args) != 1 or inv.args[0].lower() not in {a.value for a in Autonomy}:
        await ctx.usage(inv, "/autonomy observe|confirm|auto")
        return
    chosen = Autonomy(inv.args[0].lower())
    if chosen is Autonomy.AUTO and ctx.real_money:
        await _ask_to_confirm(
            inv, ctx, "auto", f"autonomy <b>auto</b>: {AUTONOMY_MEANING[Autonomy.AUTO]}?"
        )
        return
    await d.set_autonomy(chosen, inv.who)
    await ctx.reply(
        inv,
        f"⚙️ Autonomy now <b>{esc(chosen.value)}</b> (by {esc(inv.who)}): "
        f"{AUTONOMY_MEANING[chosen]}.",
    )


async def panic(inv: Invocation, ctx: Cockpit) -> None:
    if not await ctx.no_args(inv, "panic"):
        return
    log.warning("panic offered to %s", inv.who)
    await ctx.reply(inv, render_panic_prompt(None), markup=panic_keyboard(ctx.director.clock()))


async def review(inv: Invocation, ctx: Cockpit) -> None:
    if not await ctx.no_args(inv, "review"):
        return
    if ctx.reviews.start("manual", inv.chat_id):
        log.info("review started by %s", inv.who)
        return  # the runner says it started, then posts the report
    started = ctx.reviews.started_at
    since = f" (since {started:%H:%M:%S} UTC)" if started else ""
    await ctx.reply(
        inv, f"⏳ A review is already running{since}; its report follows. Try again after it."
    )


async def rules(inv: Invocation, ctx: Cockpit) -> None:
    queries = ctx.director.queries
    if not inv.args:
        history = await queries.rules_history()
        await ctx.reply(inv, render_rules(await queries.active_rules(), history))
        return
    version = _rollback_arg(inv.args)
    if version is None:
        await ctx.usage(inv, "/rules [rollback N]")
        return
    refusal = await queries.rollback_refusal(version, None)
    if refusal is not None:
        await ctx.reply(inv, f"⚠️ {esc(refusal)}")
        return
    versions = {r.version: r for r in await queries.rules_history()}
    active = await queries.active_rules()
    log.info("rollback to v%d offered to %s", version, inv.who)
    await ctx.reply(
        inv,
        render_rollback_prompt(versions[version], active, PROMPT_TTL_SECONDS),
        markup=rollback_keyboard(version, active.version, ctx.director.clock()),
    )


def _rollback_arg(args: tuple[str, ...]) -> int | None:
    """N from "rollback N"; None for anything else (N's existence is checked by the engine)."""
    if len(args) != 2 or args[0].lower() != "rollback":
        return None
    version = whole(args[1])
    return version if version is not None and version >= 1 else None
