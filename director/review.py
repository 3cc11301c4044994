"""The review: decisions against outcomes → ONE suggested rule change, applied only by a human.

Without an AI it is statistical: hit rate, P&L and missed edge by bucket of edge, confidence and
time to expiry, and one threshold change where the evidence supports it. With the Claude brain
the escalation tier reads the same sample and proposes one change (rule text and/or one
threshold), validated by the same `Suggestion` model. Either way the suggestion waits; Apply
creates a new rules version, effective from the next cycle.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from director.brains.base import LLMCall
from director.exchanges.base import Exchange
from director.outcomes import Outcome, collect_decisions, mark_outcomes, outcome_dict
from director.review_evidence import EvidenceSource, ReviewEvidence, gather_evidence
from director.rulebook import RuleSet, Thresholds
from director.store import Store

ThresholdName = Literal[
    "risk_limit",
    "min_confidence",
    "min_edge",
    "stale_order_hours",
    "near_risk",
    "max_new_orders",
    "kelly_fraction",
]
MIN_BUCKET = 5  # decisions a bucket needs before it is evidence


class RuleTextChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    op: Literal["add", "replace"]
    rule_number: int | None = Field(None, ge=1, description="1-based; required for replace")
    text: str = Field(min_length=5, max_length=600)

    @model_validator(mode="after")
    def _number_for_replace(self) -> RuleTextChange:
        if self.op == "replace" and self.rule_number is None:
            raise ValueError("replace needs rule_number")
        return self


class ThresholdChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ThresholdName
    new_value: Decimal


class Suggestion(BaseModel):
    """ONE change, with why and on what evidence."""

    model_config = ConfigDict(extra="ignore")

    summary: str = Field(min_length=3, max_length=300)
    patterns: list[str] = Field(default_factory=list, max_length=6)
    rule_change: RuleTextChange | None = None
    threshold_change: ThresholdChange | None = None
    rationale: str = Field(min_length=3, max_length=3000)
    evidence: list[str] = Field(default_factory=list, max_length=60)

    @model_validator(mode="after")
    def _one_change(self) -> Suggestion:
        if self.rule_change is None and self.threshold_change is None:
            raise ValueError("a suggestion needs a rule_change or a threshold_change")
        return self


# --- statistics -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    label: str
    n: int
    taken: int
    hit_rate: float | None
    mean_pnl: Decimal | None  # per contract, all decisions in the bucket
    realized_pnl: Decimal  # of taken decisions
    missed_edge: Decimal  # per-contract P&L left on the table by decisions not taken


def _bucket(label: str, outcomes: Sequence[Outcome]) -> Bucket:
    pnls = [p for o in outcomes if (p := o.pnl_per_contract) is not None]
    return Bucket(
        label=label,
        n=len(outcomes),
        taken=sum(o.decision.taken for o in outcomes),
        hit_rate=round(sum(p > 0 for p in pnls) / len(pnls), 3) if pnls else None,
        mean_pnl=(sum(pnls, Decimal(0)) / len(pnls)).quantize(Decimal("0.0001")) if pnls else None,
        realized_pnl=sum((o.realized_pnl for o in outcomes), Decimal(0)).quantize(Decimal("0.01")),
        missed_edge=sum(
            (p for o in outcomes if not o.decision.taken and (p := o.pnl_per_contract) and p > 0),
            Decimal(0),
        ).quantize(Decimal("0.01")),
    )


EDGE_EDGES = [Decimal(x) for x in ("0", "0.05", "0.10", "0.15", "0.20")]
CONF_EDGES = [Decimal(x) for x in ("0", "0.6", "0.7", "0.8", "0.9")]
HOURS_EDGES = [0.0, 1.0, 4.0, 24.0]


def _split(
    outcomes: Sequence[Outcome], edges: Sequence[Any], key: Callable[[Outcome], Any], unit: str
) -> list[Bucket]:
    buckets = []
    for i, low in enumerate(edges):
        high = edges[i + 1] if i + 1 < len(edges) else None
        inside = [o for o in outcomes if key(o) >= low and (high is None or key(o) < high)]
        label = f"{low}–{high}{unit}" if high is not None else f"≥{low}{unit}"
        buckets.append(_bucket(label, inside))
    return buckets


def bucket_tables(outcomes: Sequence[Outcome]) -> dict[str, list[Bucket]]:
    return {
        "edge": _split(outcomes, EDGE_EDGES, lambda o: o.decision.edge, ""),
        "confidence": _split(outcomes, CONF_EDGES, lambda o: o.decision.confidence, ""),
        "hours_to_expiry": _split(outcomes, HOURS_EDGES, lambda o: o.decision.hours_to_expiry, "h"),
    }


def statistical_suggestion(
    outcomes: Sequence[Outcome], thresholds: Thresholds
) -> Suggestion | None:
    """One threshold change on min_edge or min_confidence, where a band next to the threshold
    has at least MIN_BUCKET decisions and a clear sign: the band just below paid (lower the
    threshold to take it) or the band just above lost (raise it). The largest effect wins."""
    candidates: list[tuple[Decimal, Suggestion]] = []
    bands: list[tuple[ThresholdName, Decimal, Decimal, str, str]] = [
        ("min_edge", thresholds.min_edge, Decimal("0.05"), "edge", "confidence"),
        ("min_confidence", thresholds.min_confidence, Decimal("0.1"), "confidence", "edge"),
    ]
    for name, current, width, field_name, other in bands:

        def other_ok(o: Outcome, f: str = other) -> bool:
            if f == "confidence":
                return o.decision.confidence > thresholds.min_confidence
            return o.decision.edge > thresholds.min_edge

        def value(o: Outcome, f: str = field_name) -> Decimal:
            return o.decision.edge if f == "edge" else o.decision.confidence

        below = [o for o in outcomes if current - width < value(o) <= current and other_ok(o)]
        above = [o for o in outcomes if current < value(o) <= current + width and other_ok(o)]
        for band, new, direction in (
            (below, current - width, "lower"),
            (above, current + width, "raise"),
        ):
            pnls = [p for o in band if (p := o.pnl_per_contract) is not None]
            if len(pnls) < MIN_BUCKET or new <= 0 or new >= 1:
                continue
            total = sum(pnls, Decimal(0))
            mean = total / len(pnls)
            hits = sum(p > 0 for p in pnls) / len(pnls)
            if direction == "lower" and not (mean > 0 and hits >= 0.5):
                continue
            if direction == "raise" and not mean < 0:
                continue
            low, high = sorted((current, new))
            verb = "paid" if direction == "lower" else "lost"
            candidates.append(
                (
                    abs(total),
                    Suggestion(
                        summary=f"{direction.capitalize()} {name} from {current} to {new}",
                        patterns=[
                            f"{len(pnls)} decisions with {field_name} in ({low}, {high}] {verb} "
                            f"{mean:+.4f}/contract on average (hit rate {hits:.0%})"
                        ],
                        threshold_change=ThresholdChange(name=name, new_value=new),
                        rationale=(
                            f"Decisions just {'below' if direction == 'lower' else 'above'} the "
                            f"current {name} of {current} {verb} money: {len(pnls)} decisions, "
                            f"total {total:+.4f} per contract, mean {mean:+.4f}, hit rate "
                            f"{hits:.0%}."
                        ),
                        evidence=[o.decision.key for o in band][:40],
                    ),
                )
            )
    if not candidates:
        return None
    candidates.sort(key=lambda c: c[0], reverse=True)
    return candidates[0][1]


# --- applying a suggestion ------------------------------------------------------------------


def apply_suggestion(rules: RuleSet, suggestion: Suggestion) -> tuple[tuple[str, ...], Thresholds]:
    """The rule texts and thresholds after the change; ValueError if it can't apply."""
    texts = list(rules.rules)
    change = suggestion.rule_change
    if change is not None:
        if change.op == "add":
            texts.append(change.text)
        else:
            assert change.rule_number is not None
            if change.rule_number > len(texts):
                raise ValueError(f"there is no rule {change.rule_number} to replace")
            texts[change.rule_number - 1] = change.text
    thresholds = rules.thresholds
    if suggestion.threshold_change is not None:
        t = suggestion.threshold_change
        data = thresholds.model_dump()
        data[t.name] = t.new_value
        try:
            thresholds = Thresholds.model_validate(data)
        except ValidationError as exc:
            raise ValueError(
                f"{t.name}={t.new_value} is out of range: {exc.errors()[0]['msg']}"
            ) from None
    return tuple(texts), thresholds


def describe_rules(rules: RuleSet) -> list[str]:
    lines = rules.rendered()
    lines += [f"  {k} = {v}" for k, v in rules.thresholds.model_dump().items()]
    return lines


def rules_diff(old: RuleSet, new: RuleSet) -> list[str]:
    return list(
        difflib.unified_diff(
            describe_rules(old),
            describe_rules(new),
            f"v{old.version}",
            f"v{new.version}",
            lineterm="",
            n=0,
        )
    )


# --- the review itself ------------------------------------------------------------------------


class ReviewModel(Protocol):
    """The AI side of a review (the escalation tier)."""

    async def suggest(
        self, rules: RuleSet, sample: list[dict[str, Any]], stats: dict[str, Any]
    ) -> tuple[Suggestion | None, list[LLMCall], str | None]:
        """A suggestion (or None), the calls made, and an error if the answer was unusable."""
        ...


@dataclass
class ReviewReport:
    review_id: int
    created_at: datetime
    trigger: str
    source: str  # "statistical" or "claude"
    rules_version: int
    sample_size: int
    settled: int
    taken: int
    hit_rate_taken: float | None
    realized_pnl: Decimal
    missed_edge: Decimal
    buckets: dict[str, list[Bucket]] = field(default_factory=dict)
    suggestion: Suggestion | None = None
    error: str | None = None
    status: str = "pending"
    cost_usd: Decimal = Decimal(0)
    # The suggested rules replayed beside the active ones (review_evidence.py), or why not.
    evidence: ReviewEvidence | None = None
    evidence_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "sample_size": self.sample_size,
            "settled": self.settled,
            "taken": self.taken,
            "hit_rate_taken": self.hit_rate_taken,
            "realized_pnl": str(self.realized_pnl),
            "missed_edge": str(self.missed_edge),
            "buckets": {
                k: [b.__dict__ | {"mean_pnl": str(b.mean_pnl)} for b in v]
                for k, v in self.buckets.items()
            },
            "cost_usd": str(self.cost_usd),
            "evidence": None if self.evidence is None else self.evidence.as_dict(),
            "evidence_error": self.evidence_error,
        }


@dataclass(frozen=True)
class ReviewDecision:
    review_id: int
    ok: bool
    message: str
    new_version: int | None = None


class Reviewer:
    def __init__(
        self,
        store: Store,
        exchange: Exchange,
        *,
        sample: int,
        clock: Callable[[], datetime],
        model: ReviewModel | None = None,
    ) -> None:
        self.store = store
        self.exchange = exchange
        self.sample = sample
        self.clock = clock
        self.model = model
        # Set by the app: replays a suggestion before its Apply button is offered.
        self.evidence: EvidenceSource | None = None

    async def run(self, trigger: str) -> ReviewReport:
        now = self.clock()
        rules = await self.store.active_rules()
        decisions = await collect_decisions(self.store, limit_cycles=max(200, self.sample * 10))
        outcomes = await mark_outcomes(decisions, self.exchange, limit=self.sample)
        taken = [o for o in outcomes if o.decision.taken]
        report = ReviewReport(
            review_id=0,
            created_at=now,
            trigger=trigger,
            source="claude" if self.model else "statistical",
            rules_version=rules.version,
            sample_size=len(outcomes),
            settled=sum(o.settled for o in outcomes),
            taken=len(taken),
            hit_rate_taken=round(sum(o.won for o in taken) / len(taken), 3) if taken else None,
            realized_pnl=sum((o.realized_pnl for o in taken), Decimal(0)).quantize(Decimal("0.01")),
            missed_edge=sum(
                (
                    p
                    for o in outcomes
                    if not o.decision.taken and (p := o.pnl_per_contract) and p > 0
                ),
                Decimal(0),
            ).quantize(Decimal("0.01")),
            buckets=bucket_tables(outcomes),
        )
        if self.model is not None:
            suggestion, calls, error = await self.model.suggest(
                rules, [outcome_dict(o) for o in outcomes], report.as_dict()
            )
            report.suggestion, report.error = suggestion, error
            report.cost_usd = sum((c.cost_usd for c in calls), Decimal(0))
        else:
            report.suggestion = statistical_suggestion(outcomes, rules.thresholds)
        if report.suggestion is not None:
            try:
                texts, thresholds = apply_suggestion(rules, report.suggestion)
            except ValueError as exc:
                report.error, report.suggestion = f"suggestion can't apply: {exc}", None
            else:
                if self.evidence is not None:
                    seen = [o.decision.seen_at for o in outcomes]
                    report.evidence, report.evidence_error = await gather_evidence(
                        self.evidence, rules, texts, thresholds, seen, now
                    )
        report.status = (
            "pending" if report.suggestion else ("failed" if report.error else "no_change")
        )
        await self.store.supersede_reviews()
        report.review_id = await self.store.add_review(
            now=now,
            trigger=trigger,
            source=report.source,
            rules_version=rules.version,
            report=report.as_dict(),
            suggestion=None
            if report.suggestion is None
            else report.suggestion.model_dump(mode="json"),
            status=report.status,
            error=report.error,
        )
        return report

    async def decide(self, review_id: int, user: str, apply: bool) -> ReviewDecision:
        record = await self.store.review(review_id)
        if record is None:
            return ReviewDecision(review_id, False, "No such review.")
        if record.status in ("no_change", "failed") and record.decided_by is None:
            return ReviewDecision(review_id, False, "This review has nothing to decide.")
        if record.status != "pending" or record.suggestion is None:
            by = f" by {record.decided_by}" if record.decided_by else ""
            return ReviewDecision(review_id, False, f"Already {record.status}{by}.")
        now = self.clock()
        if not apply:
            if not await self.store.claim_review(review_id, to="dismissed", by=user, now=now):
                return ReviewDecision(review_id, False, "Someone else decided it first.")
            return ReviewDecision(review_id, True, f"Dismissed by {user}. The rules are unchanged.")
        rules = await self.store.active_rules()
        if rules.version != record.rules_version:
            # Its evidence and rule numbers describe rules no longer in force: settle it.
            if not await self.store.claim_review(review_id, to="superseded", by=user, now=now):
                return ReviewDecision(review_id, False, "Someone else decided it first.")
            return ReviewDecision(
                review_id,
                False,
                f"Not applied: the rules changed since this review (v{record.rules_version} → "
                f"v{rules.version}). Run /review again.",
            )
        if not await self.store.claim_review(review_id, to="applying", by=user, now=now):
            return ReviewDecision(review_id, False, "Someone else decided it first.")
        try:
            suggestion = Suggestion.model_validate(record.suggestion)
            texts, thresholds = apply_suggestion(rules, suggestion)
            new = await self.store.add_rules_version(
                texts,
                thresholds,
                note=f"review #{review_id}: {suggestion.summary}",
                source="review",
                now=now,
            )
        except Exception as exc:
            # Never leave it "applying": the operator sees why, and can review again.
            await self.store.settle_review(review_id, status="failed", applied_version=None)
            return ReviewDecision(review_id, False, f"Could not apply: {exc}")
        await self.store.settle_review(review_id, status="applied", applied_version=new.version)
        return ReviewDecision(
            review_id,
            True,
            f"Applied by {user}: rules v{new.version} ({suggestion.summary}), effective from the "
            "next cycle.",
            new_version=new.version,
        )

    async def rollback(self, version: int, user: str) -> RuleSet:
        """Make an old version active again, as a new version (history is never rewritten)."""
        history = {r.version: r for r in await self.store.rules_history()}
        if version not in history:
            raise ValueError(f"there is no rules version {version}")
        old = history[version]
        return await self.store.add_rules_version(
            old.rules,
            old.thresholds,
            note=f"rollback to v{version} by {user}",
            source="rollback",
            now=self.clock(),
        )


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def format_review(report: ReviewReport) -> str:
    lines = [
        f"Review #{report.review_id} ({report.source}) of rules v{report.rules_version}: "
        f"{report.sample_size} decisions with outcomes ({report.settled} settled), "
        f"{report.taken} taken",
        f"  taken hit rate: {_pct(report.hit_rate_taken)}"
        f" · realized P&L ${report.realized_pnl} · missed edge ${report.missed_edge}/contract",
    ]
    for name, buckets in report.buckets.items():
        lines.append(f"  by {name}:")
        for b in buckets:
            if b.n:
                hit = _pct(b.hit_rate)
                lines.append(
                    f"    {b.label:>12}: n={b.n:<4} taken={b.taken:<3} hit={hit:>4} "
                    f"mean={b.mean_pnl}/ct realized=${b.realized_pnl} missed=${b.missed_edge}"
                )
    if report.error:
        lines.append(f"  error: {report.error}")
    s = report.suggestion
    if s is None:
        lines.append("  Suggestion: none — the evidence supports no change.")
    else:
        lines.append(f"  Suggestion: {s.summary}")
        for pattern in s.patterns:
            lines.append(f"    pattern: {pattern}")
        lines.append(f"    why: {s.rationale}")
        if s.evidence:
            lines.append(
                f"    evidence: {', '.join(s.evidence[:10])}"
                + (" …" if len(s.evidence) > 10 else "")
            )
        if report.evidence is not None:
            lines.append(f"  {report.evidence.describe()}")
        elif report.evidence_error:
            lines.append(f"  No evidence: {report.evidence_error}")
        lines.append("  Apply or dismiss it in Telegram (/review).")
    return "\n".join(lines)
