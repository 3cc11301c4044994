"""/scripts: every script that beats to the director — last beat, status, next due."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.cockpit import Cockpit, Invocation
from bot.render import esc
from director.heartbeats import Heartbeats, Problem, every_text


def render_scripts(heartbeats: Heartbeats | None, now: datetime) -> str:
    if heartbeats is None:
        return (
            "<b>Scripts</b>\nThe local API is off: set OMEGA_API_TOKEN so scripts can beat "
            "(<code>omega-director beat NAME --every SECONDS</code>)."
        )
    scripts = heartbeats.scripts()
    if not scripts:
        return (
            "<b>Scripts</b>\nNo script has beaten yet "
            "(<code>omega-director beat NAME --every SECONDS</code>)."
        )
    lines = [f"<b>Scripts</b> ({len(scripts)})"]
    for script in scripts:
        problem = script.problem(now, heartbeats.grace)
        mark = {Problem.NONE: "🟢", Problem.SILENT: "🔴", Problem.FAILED: "🔴"}[problem]
        if problem is Problem.NONE and script.status.value == "degraded":
            mark = "🟡"
        state = "silent" if problem is Problem.SILENT else script.status.value
        critical = " · critical" if script.critical else ""
        detail = f" — {esc(script.detail)}" if script.detail else ""
        every = esc(every_text(script.every_seconds))
        lines.append(
            f"{mark} <b>{esc(script.name)}</b> {esc(state)}{critical} · last beat "
            f"{script.last_beat_at:%m-%d %H:%M:%S} UTC · every {every}"
            f" · next due {script.due_at():%m-%d %H:%M:%S} UTC{detail}"
        )
    return "\n".join(lines)


def scripts_text(director: Any) -> str:
    """The reply for a director (the DirectorPort; `heartbeats` is set when the API is on)."""
    heartbeats = getattr(director, "heartbeats", None)
    return render_scripts(
        heartbeats if isinstance(heartbeats, Heartbeats) else None, director.clock()
    )


async def scripts(inv: Invocation, ctx: Cockpit) -> None:
    """/scripts (bot/table.py): every script that beats, with its last beat and next due."""
    await ctx.reply(inv, scripts_text(ctx.director))
