"""Pure HTML rendering for Telegram: reports, state, approvals, history. No I/O.

Every string that did not come from this file (market titles, reasoning, reasons, error texts,
user names, even numbers) goes through `esc`: a market titled "<b>x</b> & y" must show
literally, and text from outside must never be able to format, link or break a message.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from director.face import ActionStatus, ApprovalRecord, ApprovalStatus, CycleRecord
from director.reporting import ActionOutcome, ApprovalDecision, ApprovalRequest, CycleReport

MAX_LISTED = 15  # rows per list in /state; the rest are counted
TOP_OPPORTUNITIES = 5


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def usd(value: Decimal | None, places: int = 2, *, sign: bool = False) -> str:
    """Dollars with thousands separators: $1,234.56, -$3.10, or +$3.10 with `sign`."""
    if value is None:
        return "—"
    if not value.is_finite():
        return esc(value)
    quantum = Decimal(1).scaleb(-places)
    try:
        rounded = value.quantize(quantum, rounding=ROUND_HALF_UP)
    except InvalidOperation:  # more digits than the context allows: show it as it is
        return esc(value)
    prefix = "-" if rounded < 0 else ("+" if sign and rounded > 0 else "")
    return f"{prefix}${abs(rounded):,.{places}f}"


def pct(value: Decimal | float, *, sign: bool = False) -> str:
    number = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{'+' if sign and number > 0 else ''}{number}%"


def _more(total: int, shown: int) -> list[str]:
    return [f"… and {total - shown} more"] if total > shown else []


def stamp(ts: datetime | None) -> str:
    return "—" if ts is None else ts.strftime("%Y-%m-%d %H:%M UTC")


def clock_time(ts: datetime, now: datetime | None = None) -> str:
    """'14:30 UTC' when on the same day as `now` (or no `now`), else with the date."""
    if now is not None and ts.date() != now.date():
        return stamp(ts)
    return ts.strftime("%H:%M UTC")


def until(ts: datetime, now: datetime) -> str:
    """'in 14 min' / 'in 2 h 5 min' / 'now'."""
    seconds = int((ts - now).total_seconds())
    if seconds <= 0:
        return "now"
    minutes = (seconds + 59) // 60
    if minutes < 60:
        return f"in {minutes} min"
    return f"in {minutes // 60} h {minutes % 60} min"


# --- cycle reports -------------------------------------------------------------------------

_STATUS_ICONS: dict[str, str] = {
    ActionStatus.EXECUTED: "✅",
    ActionStatus.APPROVED: "✅",
    ActionStatus.FAILED: "❌",
    ActionStatus.BLOCKED: "⛔",
    ActionStatus.AWAITING_APPROVAL: "⏳",
    ActionStatus.OBSERVED: "👁",
    ActionStatus.REJECTED: "🚫",
    ActionStatus.EXPIRED: "⌛",
    ActionStatus.SKIPPED: "▫️",
}


def render_outcome(outcome: ActionOutcome) -> str:
    icon = _STATUS_ICONS.get(outcome.status, "•")
    what = f"<code>{esc(outcome.description)}</code>"
    if outcome.status == ActionStatus.EXECUTED:
        line = f"{icon} {what} executed" + (f": {esc(outcome.detail)}" if outcome.detail else "")
    elif outcome.status == ActionStatus.FAILED:
        line = f"{icon} {what} <b>failed</b>: {esc(outcome.detail or outcome.reason)}"
    elif outcome.status == ActionStatus.BLOCKED:
        line = f"{icon} {what} <b>blocked</b>: {esc(outcome.reason)}"
    elif outcome.status == ActionStatus.AWAITING_APPROVAL:
        number = f" #{esc(outcome.approval_id)}" if outcome.approval_id is not None else ""
        line = f"{icon} {what} <b>waiting for approval{number}</b>: {esc(outcome.reason)}"
    elif outcome.status == ActionStatus.OBSERVED:
        line = f"{icon} {what} observed only: {esc(outcome.reason)}"
    else:
        status = esc(outcome.status)
        line = f"{icon} {what} {status}" + (f": {esc(outcome.reason)}" if outcome.reason else "")
    if outcome.market_title:
        line += f"\n    <i>{esc(outcome.market_title)}</i>"
    return line


def _brain_line(
    brain: str, model: str | None, cost: Decimal, priority: str, rules: int | None
) -> str:
    parts = [f"🧠 {esc(brain)}" + (f" ({esc(model)})" if model else "")]
    parts.append(f"cost {usd(cost, 4)}")
    parts.append(f"priority <b>{esc(priority)}</b>")
    if rules is not None:
        parts.append(f"rules v{esc(rules)}")
    return " · ".join(parts)


REPORT_REASONING = 1200  # characters of reasoning in a report; /plan has the whole text


def reasoning_quote(text: str, limit: int | None = REPORT_REASONING) -> str:
    """Reasoning in an expandable blockquote (collapsed on the phone), clipped to `limit`."""
    text = text.strip() or "(none given)"
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
        return f"<blockquote expandable>{esc(text)}</blockquote>\n<i>/plan for the whole text</i>"
    return f"<blockquote expandable>{esc(text)}</blockquote>"


def render_cycle_report(report: CycleReport, why: str = "") -> str:
    """A cycle in one message; `why` counts what became of its opportunities (see /why)."""
    if report.cycle_id == 0:
        # The director's convention for a tick that did not run (paused): nothing recorded.
        return f"⏸ <b>No cycle</b> · {stamp(report.started_at)}\n{esc(report.reasoning)}"
    seconds = (report.finished_at - report.started_at).total_seconds()
    lines = [
        f"🔁 <b>Cycle #{esc(report.cycle_id)}</b> · {esc(report.trigger)} · "
        f"{stamp(report.started_at)} ({seconds:.1f} s)"
    ]
    s = report.state
    if s is not None:
        lines.append(
            f"💰 Cash {usd(s.cash)} · Equity {usd(s.equity)} · Exposure {usd(s.exposure)} · "
            f"Risk {s.risk:.2f} · 24h P&amp;L {usd(s.pnl_24h, sign=True)}"
        )
        lines.append(
            f"📡 Health {esc(s.health)} · {s.positions} positions · {s.resting_orders} orders"
            f" · {s.opportunities} opportunities · autonomy {esc(s.autonomy)}"
        )
        if s.safe_mode:
            reason = f" ({esc(s.safe_mode_reason)})" if s.safe_mode_reason else ""
            lines.append(f"🛡 <b>SAFE MODE</b>{reason}")
    lines.append(
        _brain_line(
            report.brain, report.model, report.cost_usd, report.priority.value, report.rules_version
        )
    )
    if report.escalated:
        lines.append(f"🆙 Escalated: {esc(report.escalation_reason or 'yes')}")
    if report.brain_error:
        lines.append(f"⚠️ Brain error: {esc(report.brain_error)}")
    lines.append("")
    lines.append("<b>Reasoning</b>")
    lines.append(reasoning_quote(report.reasoning))
    if why:
        lines.append(f"🔎 Opportunities: {esc(why)} · /why")
    acted = [o for o in report.outcomes if o.kind != "do_nothing"]
    lines.append("<b>Actions</b>" if acted else "<b>Actions</b>: none")
    lines.extend(render_outcome(o) for o in acted)
    for alert in report.alerts:
        lines.append(f"🚨 {esc(alert)}")
    if report.error:
        lines.append(f"💥 <b>Cycle failed</b>: {esc(report.error)}")
    return "\n".join(lines)


# --- approvals -----------------------------------------------------------------------------


def render_approval_request(request: ApprovalRequest) -> str:
    lines = [
        f"✋ <b>Approval needed #{esc(request.approval_id)}</b> · cycle #{esc(request.cycle_id)}",
        f"<code>{esc(request.description)}</code>",
    ]
    if request.market_title:
        lines.append(f"<i>{esc(request.market_title)}</i>")
    lines.append(f"Why: {esc(request.reason)}")
    if request.cost is not None:
        lines.append(f"Cost: {usd(request.cost)}")
    if request.escalated:
        lines.append("From an escalated plan.")
    lines.append(f"Expires: {stamp(request.expires_at)}")
    return "\n".join(lines)


_DECISION_HEADS: dict[str, str] = {
    ApprovalStatus.APPROVED: "✅ Approved",
    ApprovalStatus.REJECTED: "🚫 Rejected",
    ApprovalStatus.EXPIRED: "⌛ Expired",
    ApprovalStatus.BLOCKED: "⛔ Blocked on re-check",
    ApprovalStatus.FAILED: "❌ Approved, but failed",
    ApprovalStatus.EXECUTING: "⏳ Executing",
    ApprovalStatus.UNKNOWN: "❓ Sent, outcome being checked",
}


def render_decision(decision: ApprovalDecision) -> str:
    """What an approval message becomes once it is decided: outcome and who decided."""
    head = _DECISION_HEADS.get(decision.status, f"ℹ️ {esc(decision.status.capitalize())}")
    lines = [f"<b>{head}</b> · approval #{esc(decision.approval_id)}"]
    if decision.description:
        lines.append(f"<code>{esc(decision.description)}</code>")
    lines.append(esc(decision.message))
    if decision.decided_by and decision.decided_by not in decision.message:
        lines.append(f"Decided by {esc(decision.decided_by)}")
    return "\n".join(lines)


def render_recorded(record: ApprovalRecord, description: str) -> str:
    """An approval's message from its record: the one outcome every copy shows, whoever pressed
    and however often (the same text each time, so a second edit changes nothing)."""
    status = record.status.value
    head = _DECISION_HEADS.get(status, f"ℹ️ {esc(status.capitalize())}")
    lines = [f"<b>{head}</b> · approval #{esc(record.id)}"]
    if description:
        lines.append(f"<code>{esc(description)}</code>")
    by = record.decided_by
    if status == ApprovalStatus.APPROVED:
        lines.append(f"Approved by {esc(by)}: {esc(record.result or '')}")
    elif status == ApprovalStatus.REJECTED:
        lines.append(f"Rejected by {esc(by)}.")
    elif status == ApprovalStatus.EXPIRED:
        lines.append(f"Expired at {stamp(record.expires_at)}: not executed.")
    else:
        lines.append(esc(record.result or status))
        if by:
            lines.append(f"Decided by {esc(by)}")
    return "\n".join(lines)


def render_pending(requests: Sequence[ApprovalRequest], now: datetime) -> str:
    if not requests:
        return "✋ No approvals are waiting."
    lines = [f"✋ <b>{len(requests)} approval(s) waiting</b>"]
    for r in requests:
        lines.append(
            f"#{esc(r.approval_id)} <code>{esc(r.description)}</code> — {esc(r.reason)}"
            f" · expires {clock_time(r.expires_at, now)} ({until(r.expires_at, now)})"
        )
    return "\n".join(lines)


# --- /plan, /history ---------------------------------------------------------------


def render_plan(cycle: CycleRecord | None) -> str:
    if cycle is None:
        return "🧭 No cycle has finished yet: /cycle runs one now."
    brain = esc(cycle.brain or "?") + (f" ({esc(cycle.model)})" if cycle.model else "")
    plan = cycle.plan
    priority = f" · priority <b>{esc(plan.priority.value)}</b>" if plan else ""
    lines = [
        f"🧭 <b>Last plan</b> · cycle #{esc(cycle.id)} · {stamp(cycle.started_at)} · "
        f"{brain}{priority}"
    ]
    if cycle.error:
        lines.append(f"💥 Cycle failed: {esc(cycle.error)}")
    if cycle.brain_error:
        lines.append(f"⚠️ Brain error: {esc(cycle.brain_error)}")
    if plan is None:
        lines.append("No readable plan was recorded for this cycle.")
        return "\n".join(lines)
    lines.append("<b>Reasoning</b>")
    lines.append(reasoning_quote(plan.reasoning, None))
    outcomes = [o for o in _recorded_outcomes(cycle) if o.kind != "do_nothing"]
    if outcomes:
        lines.append("<b>Actions</b>")
        lines.extend(render_outcome(o) for o in outcomes)
    else:
        planned = [a for a in plan.actions if a.action_type != "do_nothing"]
        lines.append("<b>Actions</b>" + ("" if planned else ": none"))
        lines.extend(f"• <code>{esc(a.describe())}</code>" for a in planned)
    return "\n".join(lines)


def render_history(cycles: Iterable[CycleRecord]) -> str:
    rows = list(cycles)
    if not rows:
        return "🗂 No cycles yet."
    lines = [f"🗂 <b>Last {len(rows)} cycle(s)</b>"]
    for c in rows:
        acted = [o for o in _recorded_outcomes(c) if o.kind != "do_nothing"]
        parts = [
            f"#{esc(c.id)} {c.started_at:%m-%d %H:%M}",
            esc(c.trigger),
            esc(c.status),
            f"eq {usd(c.equity)}",
            "risk —" if c.risk is None else f"risk {c.risk:.2f}",
            esc(c.brain or "—"),
        ]
        if c.cost_usd:
            parts.append(usd(c.cost_usd, 4))
        parts.append(f"{len(acted)} action(s)")
        line = " · ".join(parts)
        if c.error:
            line += f" · 💥 {esc(c.error[:80])}"
        elif c.brain_error:
            line += f" · ⚠️ {esc(c.brain_error[:80])}"
        lines.append(line)
    return "\n".join(lines)


def _recorded_outcomes(cycle: CycleRecord) -> list[ActionOutcome]:
    return [] if cycle.report is None else cycle.report.outcomes
