"""Rendering of the rules, their history and rollbacks, and the review's reports (pure, no I/O).

A review's suggestion comes from a model: what it can make us print is capped here, and every
string from outside goes through `esc`.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from bot.render import esc, stamp, usd
from director.face import ReviewRecord, ReviewStatus
from director.review import ReviewDecision, ReviewReport
from director.review_stats import Bucket
from director.review_suggestion import Suggestion, rules_diff
from director.rulebook import RuleSet

MAX_RULE_VERSIONS = 8  # rows of /rules history; the rest are counted
MAX_EVIDENCE = 10
MAX_EVIDENCE_KEY = 60
MAX_PATTERN = 300
MAX_RULE_TEXT = 600
MAX_REVIEW_ERROR = 500


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
    lines = _review_figures(report)
    lines.append("")
    if report.suggestion is None:
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
    lines.extend(_suggestion_lines(report.suggestion))
    evidence = getattr(report, "evidence", None)
    if evidence is not None:
        lines.append(f"🧪 <b>Evidence</b>: {esc(_clip(evidence.describe(), MAX_PATTERN))}")
    elif getattr(report, "evidence_error", None):
        lines.append(
            f"🧪 No replayed evidence: {esc(_clip(str(report.evidence_error), MAX_PATTERN))}"
        )
    if report.status == "pending":
        lines.append("Apply makes it a new rules version, effective from the next cycle.")
    return "\n".join(lines)


def _review_figures(report: ReviewReport) -> list[str]:
    """The head line, the sample's figures, the buckets with decisions, and the AI's cost."""
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
    return lines


def _suggestion_lines(suggestion: Suggestion) -> list[str]:
    """The suggestion: its summary and change, the patterns, why, and the decisions behind it."""
    lines = [f"💡 <b>Suggestion</b>: {esc(suggestion.summary)}"]
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
    return lines


_REVIEW_HEADS: dict[str, str] = {
    ReviewStatus.APPLIED: "✅ Applied",
    ReviewStatus.DISMISSED: "🗑 Dismissed",
    ReviewStatus.FAILED: "❌ Not applied",
    ReviewStatus.SUPERSEDED: "⏭ Superseded",
    ReviewStatus.APPLYING: "⏳ Applying",
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
