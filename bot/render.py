"""Pure HTML rendering for Telegram: reports, state, approvals, history. No I/O.

Every string that did not come from this file (market titles, reasoning, reasons, error texts,
user names, even numbers) goes through `esc`: a market titled "<b>x</b> & y" must show
literally, and text from outside must never be able to format, link or break a message.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from director.director import PanicResult
from director.models import Plan, SystemState
from director.reporting import ActionOutcome, ApprovalDecision, ApprovalRequest, CycleReport
from director.review import Bucket, ReviewDecision, ReviewReport, Suggestion, rules_diff
from director.rulebook import RuleSet
from director.store import CycleRecord, ReviewRecord

MAX_LISTED = 15  # rows per list in /state; the rest are counted
TOP_OPPORTUNITIES = 5
MAX_RULE_VERSIONS = 8  # rows of /rules history; the rest are counted
# A review's suggestion comes from a model: what it can make us print is capped here.
MAX_EVIDENCE = 10
MAX_EVIDENCE_KEY = 60
MAX_PATTERN = 300
MAX_RULE_TEXT = 600
MAX_REVIEW_ERROR = 500


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

_STATUS_ICONS = {
    "executed": "✅",
    "approved": "✅",
    "failed": "❌",
    "blocked": "⛔",
    "awaiting_approval": "⏳",
    "observed": "👁",
    "rejected": "🚫",
    "expired": "⌛",
    "skipped": "▫️",
}


def render_outcome(outcome: ActionOutcome) -> str:
    icon = _STATUS_ICONS.get(outcome.status, "•")
    what = f"<code>{esc(outcome.description)}</code>"
    if outcome.status == "executed":
        line = f"{icon} {what} executed" + (f": {esc(outcome.detail)}" if outcome.detail else "")
    elif outcome.status == "failed":
        line = f"{icon} {what} <b>failed</b>: {esc(outcome.detail or outcome.reason)}"
    elif outcome.status == "blocked":
        line = f"{icon} {what} <b>blocked</b>: {esc(outcome.reason)}"
    elif outcome.status == "awaiting_approval":
        number = f" #{esc(outcome.approval_id)}" if outcome.approval_id is not None else ""
        line = f"{icon} {what} <b>waiting for approval{number}</b>: {esc(outcome.reason)}"
    elif outcome.status == "observed":
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


def render_cycle_report(report: CycleReport) -> str:
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
    lines.append(f"<blockquote>{esc(report.reasoning.strip() or '(none given)')}</blockquote>")
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


_DECISION_HEADS = {
    "approved": "✅ Approved",
    "rejected": "🚫 Rejected",
    "expired": "⌛ Expired",
    "blocked": "⛔ Blocked on re-check",
    "failed": "❌ Approved, but failed",
    "executing": "⏳ Executing",
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


# --- /panic ---------------------------------------------------------------------------------


def render_panic_prompt(resting_orders: int | None) -> str:
    count = (
        "every resting order" if resting_orders is None else f"{resting_orders} resting order(s)"
    )
    return (
        "🛑 <b>Panic?</b>\n"
        f"This turns safe mode on and cancels {count}. Positions stay as they are.\n"
        "Confirm within 5 minutes."
    )


def render_panic_result(result: PanicResult, by: str) -> str:
    lines = [f"🛑 <b>Panic</b> by {esc(by)}: safe mode is ON."]
    lines.append(f"Canceled {len(result.canceled)} order(s)" + (":" if result.canceled else "."))
    lines.extend(f"• {esc(order_id)}" for order_id in result.canceled[:MAX_LISTED])
    lines.extend(_more(len(result.canceled), MAX_LISTED))
    if result.failed:
        lines.append(f"⚠️ <b>{len(result.failed)} cancel(s) failed</b>:")
        lines.extend(f"• {esc(failure)}" for failure in result.failed[:MAX_LISTED])
        lines.extend(_more(len(result.failed), MAX_LISTED))
    return "\n".join(lines)


# --- /state --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StateView:
    """Everything /state shows: the fresh SystemState and the operator's switches."""

    state: SystemState
    now: datetime
    paused: bool
    next_cycle_at: datetime | None
    cycle_running: bool
    ai_spend_today: Decimal
    daily_budget: Decimal
    pending_approvals: int


def _more(total: int, shown: int) -> list[str]:
    return [f"… and {total - shown} more"] if total > shown else []


def render_state(view: StateView) -> str:
    s = view.state
    share = f" ({pct(s.exposure / s.equity * 100)} of equity)" if s.equity > 0 else ""
    lines = [
        f"📊 <b>State of the Union</b> · {esc(s.exchange)} · {stamp(s.timestamp)}",
        f"💰 Cash {usd(s.portfolio_cash)} · Equity {usd(s.equity)}",
        f"📐 Exposure {usd(s.exposure)}{share} · Risk {s.current_risk_score:.2f}"
        f" · 24h P&amp;L {usd(s.recent_pnl_24h, sign=True)}",
    ]
    safe = "off"
    if s.safe_mode:
        safe = "<b>ON</b>" + (f" ({esc(s.safe_mode_reason)})" if s.safe_mode_reason else "")
    loop = "<b>PAUSED</b>" if view.paused else "running"
    lines.append(f"⚙️ Autonomy <b>{esc(s.autonomy.value)}</b> · Safe mode {safe} · Loop {loop}")
    if view.cycle_running:
        nxt = "a cycle is running now"
    elif view.next_cycle_at is not None:
        nxt = (
            f"next cycle {clock_time(view.next_cycle_at, view.now)}"
            f" ({until(view.next_cycle_at, view.now)})"
        )
    else:
        nxt = "next cycle not scheduled"
    lines.append(f"⏱ {nxt}")
    lines.append(
        f"🤖 AI spend today {usd(view.ai_spend_today, 4)} of {usd(view.daily_budget)} budget"
    )
    lines.append(f"📡 Health {esc(s.system_health.summary())}")
    if view.pending_approvals:
        lines.append(f"✋ {view.pending_approvals} approval(s) waiting: /pending")

    def title(ticker: str) -> str:
        market = s.markets.get(ticker)
        return f" — <i>{esc(market.title)}</i>" if market and market.title else ""

    positions = sorted(s.open_positions, key=lambda p: (-p.market_value, p.market))
    lines.append("")
    lines.append(f"<b>Positions ({len(positions)})</b>" + ("" if positions else ": none"))
    for p in positions[:MAX_LISTED]:
        mark = "" if p.mark_price is None else f" → {esc(p.mark_price)}"
        lines.append(
            f"• {esc(p.market)} {esc(p.side.value)} ×{p.quantity} @ {esc(p.avg_price)}{mark}"
            f" (value {usd(p.market_value)}){title(p.market)}"
        )
    lines.extend(_more(len(positions), MAX_LISTED))

    orders = sorted(s.pending_orders, key=lambda o: (o.created_at, o.order_id))
    lines.append(f"<b>Resting orders ({len(orders)})</b>" + ("" if orders else ": none"))
    for o in orders[:MAX_LISTED]:
        lines.append(
            f"• {esc(o.order_id)} {esc(o.action.value)} {esc(o.market)} {esc(o.side.value)}"
            f" {o.remaining}/{o.quantity} @ {esc(o.price)} since {stamp(o.created_at)}"
        )
    lines.extend(_more(len(orders), MAX_LISTED))

    opportunities = sorted(
        s.active_opportunities, key=lambda o: (-(o.edge * o.confidence), o.market)
    )
    shown = opportunities[:TOP_OPPORTUNITIES]
    count = (
        f"{len(shown)} of {len(opportunities)}" if len(opportunities) > len(shown) else len(shown)
    )
    lines.append(f"<b>Top opportunities ({count})</b>" + ("" if shown else ": none"))
    for opp in shown:
        name = f" — <i>{esc(opp.title)}</i>" if opp.title else title(opp.market)
        lines.append(
            f"• {esc(opp.market)} {esc(opp.side.value)} edge {esc(opp.edge)}"
            f" conf {esc(opp.confidence)} [{esc(opp.source)}]"
            f" until {clock_time(opp.expires_at, s.timestamp)}{name}"
        )
    return "\n".join(lines)


# --- /plan, /history, /rules ---------------------------------------------------------------


def outcomes_from_report(report: Mapping[str, Any] | None) -> list[ActionOutcome]:
    """ActionOutcomes back from a stored report (dataclasses.asdict); bad rows are skipped."""
    if not report:
        return []
    rows = report.get("outcomes")
    if not isinstance(rows, list):
        return []
    fields = set(ActionOutcome.__dataclass_fields__)
    outcomes = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        try:
            outcomes.append(ActionOutcome(**{k: v for k, v in row.items() if k in fields}))
        except TypeError:
            continue
    return outcomes


def render_plan(cycle: CycleRecord | None) -> str:
    if cycle is None:
        return "🧭 No cycle has finished yet: /cycle runs one now."
    brain = esc(cycle.brain or "?") + (f" ({esc(cycle.model)})" if cycle.model else "")
    plan: Plan | None = None
    if cycle.plan is not None:
        try:
            plan = Plan.model_validate(cycle.plan)
        except ValidationError:
            plan = None
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
    lines.append(f"<blockquote>{esc(plan.reasoning.strip() or '(none given)')}</blockquote>")
    outcomes = [o for o in outcomes_from_report(cycle.report) if o.kind != "do_nothing"]
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
        acted = [o for o in outcomes_from_report(c.report) if o.kind != "do_nothing"]
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


def render_rules(active: RuleSet, history: Sequence[RuleSet] = ()) -> str:
    """The active version in full, the recent history (oldest first) and the last change."""
    since = f" · since {stamp(active.created_at)}" if active.created_at else ""
    lines = [f"📜 <b>Rules v{esc(active.version)}</b> (active){since}"]
    if active.note:
        lines.append(f"<i>{esc(active.note)}</i>")
    lines.extend(esc(line) for line in active.rendered())
    thresholds = " · ".join(f"{esc(k)} {esc(v)}" for k, v in active.thresholds.model_dump().items())
    lines.append(f"<b>Thresholds</b>: {thresholds}")
    lines.append("Rules 1 and 4 are also enforced by the guard, in code, whatever any brain says.")
    if not history:
        return "\n".join(lines)
    versions = sorted(history, key=lambda r: r.version)
    recent = versions[-MAX_RULE_VERSIONS:]
    lines.append("")
    lines.append(f"<b>History</b> ({len(versions)} version(s), newest last)")
    if len(versions) > len(recent):
        lines.append(f"… {len(versions) - len(recent)} earlier version(s)")
    for r in recent:
        mark = " · <b>active</b>" if r.version == active.version else ""
        lines.append(
            f"v{esc(r.version)} · {stamp(r.created_at)} · {esc(r.source)} · "
            f"{esc(_clip(r.note, 120))}{mark}"
        )
    previous = [r for r in versions if r.version < active.version]
    if previous:
        lines.append(f"<b>Change from v{esc(previous[-1].version)}</b>")
        lines.append(render_rules_diff(previous[-1], active))
    else:
        lines.append("No earlier version to compare with.")
    lines.append("/rules rollback N makes version N active again, as a new version.")
    return "\n".join(lines)


def render_rules_diff(old: RuleSet, new: RuleSet) -> str:
    """rules_diff(old, new) as a preformatted block (rule texts may hold anything: escaped)."""
    diff = "\n".join(rules_diff(old, new))
    return f"<pre>{esc(diff)}</pre>" if diff else "<i>no difference</i>"


def render_rollback_prompt(target: RuleSet, active: RuleSet, ttl_seconds: int) -> str:
    return "\n".join(
        [
            f"↩️ <b>Roll back to rules v{esc(target.version)}?</b>",
            f"This makes v{esc(target.version)}'s rules active again as a new version"
            f" (v{esc(active.version + 1)}), from the next cycle. What changes against the"
            f" active v{esc(active.version)}:",
            render_rules_diff(active, target),
            f"Confirm within {ttl_seconds // 60} minutes.",
        ]
    )


def render_rollback_done(new: RuleSet, target_version: int, by: str) -> str:
    return (
        f"↩️ <b>Rules v{esc(new.version)}</b> (a copy of v{esc(target_version)}) active from the"
        f" next cycle, by {esc(by)}."
    )


# --- /review -------------------------------------------------------------------------------


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _clip(text: str, limit: int) -> str:
    """At most `limit` characters: a model's answer is bounded by us, not by the model."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bucket_line(bucket: Bucket) -> str:
    mean = "n/a" if bucket.mean_pnl is None else f"{usd(bucket.mean_pnl, 4, sign=True)}/ct"
    return (
        f"• {esc(bucket.label)}: {bucket.n} ({bucket.taken} taken) · hit {_share(bucket.hit_rate)}"
        f" · mean {mean} · realized {usd(bucket.realized_pnl, sign=True)}"
        f" · missed {usd(bucket.missed_edge)}/ct"
    )


def describe_change(suggestion: Suggestion) -> list[str]:
    """The one change a suggestion makes, in words (rule text and/or one threshold)."""
    lines = []
    rule = suggestion.rule_change
    if rule is not None:
        if rule.op == "add":
            lines.append(f"Add a rule: <i>{esc(_clip(rule.text, MAX_RULE_TEXT))}</i>")
        else:
            lines.append(
                f"Replace rule {esc(rule.rule_number)} with: "
                f"<i>{esc(_clip(rule.text, MAX_RULE_TEXT))}</i>"
            )
    threshold = suggestion.threshold_change
    if threshold is not None:
        lines.append(f"Set {esc(threshold.name)} to <b>{esc(threshold.new_value)}</b>")
    return lines


def render_review(report: ReviewReport) -> str:
    """A review's report: the figures, the buckets, and its one suggestion (or why none)."""
    lines = [
        f"🔬 <b>Review #{esc(report.review_id)}</b> · {esc(report.source)} · rules"
        f" v{esc(report.rules_version)} · {esc(report.trigger)} · {stamp(report.created_at)}"
    ]
    if report.sample_size == 0:
        lines.append("No decisions with known outcomes yet.")
    else:
        lines.append(
            f"Sample: {report.sample_size} decision(s) with outcomes ({report.settled} settled),"
            f" {report.taken} taken"
        )
        lines.append(
            f"Taken hit rate {_share(report.hit_rate_taken)} · realized P&amp;L"
            f" {usd(report.realized_pnl, sign=True)} · missed edge {usd(report.missed_edge)}"
            "/contract"
        )
    for name, buckets in report.buckets.items():
        filled = [b for b in buckets if b.n]
        if filled:
            lines.append(f"<b>By {esc(name.replace('_', ' '))}</b>")
            lines.extend(_bucket_line(b) for b in filled)
    if report.cost_usd:
        lines.append(f"AI cost {usd(report.cost_usd, 4)}")
    lines.append("")
    suggestion = report.suggestion
    if suggestion is None:
        if report.error:
            lines.append(
                f"⚠️ <b>Review failed</b>: {esc(_clip(report.error, MAX_REVIEW_ERROR))}\n"
                "Nothing to apply; the rules are unchanged."
            )
        else:
            lines.append(
                "✅ <b>No change</b>: the evidence supports none. The rules are unchanged."
            )
        return "\n".join(lines)
    lines.append(f"💡 <b>Suggestion</b>: {esc(suggestion.summary)}")
    lines.extend(describe_change(suggestion))
    if suggestion.patterns:
        lines.append("<b>Patterns</b>")
        lines.extend(f"• {esc(_clip(p, MAX_PATTERN))}" for p in suggestion.patterns)
    lines.append("<b>Why</b>")
    lines.append(f"<blockquote>{esc(suggestion.rationale.strip())}</blockquote>")
    if suggestion.evidence:
        keys = ", ".join(
            esc(_clip(k, MAX_EVIDENCE_KEY)) for k in suggestion.evidence[:MAX_EVIDENCE]
        )
        more = len(suggestion.evidence) - MAX_EVIDENCE
        lines.append(
            f"<b>Evidence</b> ({len(suggestion.evidence)}): {keys}"
            + (f" … and {more} more" if more > 0 else "")
        )
    if report.status == "pending":
        lines.append("Apply makes it a new rules version, effective from the next cycle.")
    return "\n".join(lines)


_REVIEW_HEADS = {
    "applied": "✅ Applied",
    "dismissed": "🗑 Dismissed",
    "failed": "❌ Not applied",
    "superseded": "⏭ Superseded",
    "applying": "⏳ Applying",
}


def render_review_decision(decision: ReviewDecision, record: ReviewRecord | None) -> str:
    """What a review's message becomes once decided: outcome, the change, and who decided."""
    status = record.status if record is not None else ""
    head = _REVIEW_HEADS.get(status, f"ℹ️ {esc(status.capitalize() or 'Decided')}")
    lines = [f"<b>{head}</b> · review #{esc(decision.review_id)}"]
    suggestion = _stored_suggestion(record)
    if suggestion is not None:
        if suggestion.summary not in decision.message:
            lines.append(f"💡 {esc(suggestion.summary)}")
        lines.extend(describe_change(suggestion))
    lines.append(esc(decision.message))
    by = record.decided_by if record is not None else None
    if by and by not in decision.message:
        lines.append(f"Decided by {esc(by)}")
    return "\n".join(lines)


def _stored_suggestion(record: ReviewRecord | None) -> Suggestion | None:
    if record is None or record.suggestion is None:
        return None
    try:
        return Suggestion.model_validate(record.suggestion)
    except ValidationError:
        return None


# --- /pnl ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PnlFigures:
    since: datetime
    until: datetime
    points: int
    start: Decimal
    end: Decimal
    high: Decimal
    low: Decimal
    max_drawdown: Decimal  # dollars, ≤ 0
    max_drawdown_pct: Decimal  # of the peak it fell from, ≤ 0

    @property
    def change(self) -> Decimal:
        return self.end - self.start

    @property
    def change_pct(self) -> Decimal | None:
        return None if self.start == 0 else self.change / self.start * 100


def pnl_figures(points: Sequence[tuple[datetime, Decimal]]) -> PnlFigures | None:
    """Start, end, range and worst peak-to-trough fall of an equity series (oldest first)."""
    if not points:
        return None
    peak = points[0][1]
    worst = Decimal(0)
    worst_pct = Decimal(0)
    for _, equity in points:
        peak = max(peak, equity)
        fall = equity - peak
        if fall < worst:
            worst = fall
            worst_pct = fall / peak * 100 if peak > 0 else Decimal(0)
    values = [equity for _, equity in points]
    return PnlFigures(
        since=points[0][0],
        until=points[-1][0],
        points=len(points),
        start=values[0],
        end=values[-1],
        high=max(values),
        low=min(values),
        max_drawdown=worst,
        max_drawdown_pct=worst_pct,
    )


def render_pnl(figures: PnlFigures) -> str:
    change_pct = "" if figures.change_pct is None else f" ({pct(figures.change_pct, sign=True)})"
    return "\n".join(
        [
            f"📈 <b>Equity</b> {stamp(figures.since)} → {stamp(figures.until)}"
            f" · {figures.points} cycle(s)",
            f"Now {usd(figures.end)} · Start {usd(figures.start)} · "
            f"Change {usd(figures.change, sign=True)}{change_pct}",
            f"High {usd(figures.high)} · Low {usd(figures.low)} · Max drawdown "
            f"{usd(figures.max_drawdown)} ({pct(figures.max_drawdown_pct)})",
        ]
    )


# --- /help ---------------------------------------------------------------------------------


def render_help(commands: Iterable[tuple[str, str]], *, intro: str = "") -> str:
    lines = [intro] if intro else []
    lines.append("<b>Commands</b>")
    lines.extend(f"/{esc(name)} — {esc(description)}" for name, description in commands)
    return "\n".join(lines)
