"""The review: decisions against outcomes → ONE suggested rule change, applied only by a human.

Without an AI it is statistical: hit rate, P&L and missed edge by bucket of edge, confidence and
time to expiry, and one threshold change where the evidence supports it. With the Claude brain
the escalation tier reads the same sample and proposes one change (rule text and/or one
threshold), validated by the same `Suggestion` model. Either way the suggestion waits; Apply
creates a new rules version, effective from the next cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from director.brains.base import LLMCall
from director.clock import Clock
from director.exchanges.base import Exchange
from director.outcomes import Outcome, collect_decisions, mark_outcomes, outcome_dict
from director.review_evidence import EvidenceSource, ReviewEvidence, gather_evidence
from director.review_stats import Bucket, bucket_tables, missed_edge, statistical_suggestion
from director.review_suggestion import Suggestion, apply_suggestion
from director.rulebook import RuleSet
from director.store import ReviewStatus, Store


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
    status: ReviewStatus = ReviewStatus.PENDING
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


def summarize(
    outcomes: Sequence[Outcome], *, now: datetime, trigger: str, rules: RuleSet, ai: bool
) -> ReviewReport:
    """The report's figures over `outcomes`, before any suggestion (review_id 0: unsaved)."""
    taken = [o for o in outcomes if o.decision.taken]
    return ReviewReport(
        review_id=0,
        created_at=now,
        trigger=trigger,
        source="claude" if ai else "statistical",
        rules_version=rules.version,
        sample_size=len(outcomes),
        settled=sum(o.settled for o in outcomes),
        taken=len(taken),
        hit_rate_taken=round(sum(o.won for o in taken) / len(taken), 3) if taken else None,
        realized_pnl=sum((o.realized_pnl for o in taken), Decimal(0)).quantize(Decimal("0.01")),
        missed_edge=missed_edge(outcomes),
        buckets=bucket_tables(outcomes),
    )


class Reviewer:
    def __init__(
        self,
        store: Store,
        exchange: Exchange,
        *,
        sample: int,
        clock: Clock,
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
        report = summarize(outcomes, now=now, trigger=trigger, rules=rules, ai=bool(self.model))
        if self.model is not None:
            suggestion, calls, error = await self.model.suggest(
                rules, [outcome_dict(o) for o in outcomes], report.as_dict()
            )
            report.suggestion, report.error = suggestion, error
            report.cost_usd = sum((c.cost_usd for c in calls), Decimal(0))
        else:
            report.suggestion = statistical_suggestion(outcomes, rules.thresholds)
        if report.suggestion is not None:
            await self._check_and_replay(report, rules, outcomes, now)
        if report.suggestion:
            report.status = ReviewStatus.PENDING
        else:
            report.status = ReviewStatus.FAILED if report.error else ReviewStatus.NO_CHANGE
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

    async def _check_and_replay(
        self, report: ReviewReport, rules: RuleSet, outcomes: Sequence[Outcome], now: datetime
    ) -> None:
        """Drop a suggestion that cannot apply (saying why); replay one that can, beside the
        active rules, when an evidence source is set."""
        assert report.suggestion is not None
        try:
            texts, thresholds = apply_suggestion(rules, report.suggestion)
        except ValueError as exc:
            report.error, report.suggestion = f"suggestion can't apply: {exc}", None
            return
        if self.evidence is not None:
            seen = [o.decision.seen_at for o in outcomes]
            report.evidence, report.evidence_error = await gather_evidence(
                self.evidence, rules, texts, thresholds, seen, now
            )

    async def decide(self, review_id: int, user: str, apply: bool) -> ReviewDecision:
        record = await self.store.review(review_id)
        if record is None:
            return ReviewDecision(review_id, False, "No such review.")
        if (
            record.status in (ReviewStatus.NO_CHANGE, ReviewStatus.FAILED)
            and record.decided_by is None
        ):
            return ReviewDecision(review_id, False, "This review has nothing to decide.")
        if record.status is not ReviewStatus.PENDING or record.suggestion is None:
            by = f" by {record.decided_by}" if record.decided_by else ""
            return ReviewDecision(review_id, False, f"Already {record.status}{by}.")
        now = self.clock()
        if not apply:
            if not await self.store.claim_review(
                review_id, to=ReviewStatus.DISMISSED, by=user, now=now
            ):
                return ReviewDecision(review_id, False, "Someone else decided it first.")
            return ReviewDecision(review_id, True, f"Dismissed by {user}. The rules are unchanged.")
        rules = await self.store.active_rules()
        if rules.version != record.rules_version:
            # Its evidence and rule numbers describe rules no longer in force: settle it.
            if not await self.store.claim_review(
                review_id, to=ReviewStatus.SUPERSEDED, by=user, now=now
            ):
                return ReviewDecision(review_id, False, "Someone else decided it first.")
            return ReviewDecision(
                review_id,
                False,
                f"Not applied: the rules changed since this review (v{record.rules_version} → "
                f"v{rules.version}). Run /review again.",
            )
        if not await self.store.claim_review(review_id, to=ReviewStatus.APPLYING, by=user, now=now):
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
            await self.store.settle_review(
                review_id, status=ReviewStatus.FAILED, applied_version=None
            )
            return ReviewDecision(review_id, False, f"Could not apply: {exc}")
        await self.store.settle_review(
            review_id, status=ReviewStatus.APPLIED, applied_version=new.version
        )
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
