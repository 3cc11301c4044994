"""Why no trade: for each opportunity a cycle saw, what became of it and why (pure).

The answer comes from the cycle's own record: its State of the Union (the opportunities, the
positions, what waited for approval), the rules version's thresholds and the actions with the
guard's reasons. An opportunity is, in this order of precedence: taken (an order executed),
waiting for approval, blocked by the guard (with its reason), skipped by policy (observe mode, a
duplicate), already held, below a threshold (which one, by how much), or left by the brain (it
passed the thresholds; the brain chose others, e.g. the per-cycle order cap or the budget).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from director.models import Opportunity, SystemState
from director.rulebook import Thresholds

Fate = Literal[
    "taken", "waiting", "blocked", "skipped", "failed", "held", "below_threshold", "not_chosen"
]
_ACTIVE = {"executed": "taken", "approved": "taken", "awaiting_approval": "waiting"}


@dataclass(frozen=True)
class ActionFact:
    """What the record says one action on a market came to."""

    market: str | None
    kind: str
    status: str
    reason: str


@dataclass(frozen=True)
class Answer:
    market: str
    edge: Decimal
    confidence: Decimal
    source: str
    fate: Fate
    reason: str


@dataclass(frozen=True)
class StoryLine:
    cycle_id: int
    at: datetime
    seen: Opportunity | None
    answer: str  # one line: what became of it in that cycle


def below_threshold(opportunity: Opportunity, thresholds: Thresholds) -> str | None:
    """Which of rule 2's thresholds the opportunity missed, with both figures; None if none."""
    misses = []
    if opportunity.confidence <= thresholds.min_confidence:
        misses.append(
            f"confidence {opportunity.confidence} ≤ {thresholds.min_confidence} (min_confidence)"
        )
    if opportunity.edge <= thresholds.min_edge:
        misses.append(f"edge {opportunity.edge} ≤ {thresholds.min_edge} (min_edge)")
    return " and ".join(misses) if misses else None


def explain(
    opportunity: Opportunity,
    state: SystemState,
    thresholds: Thresholds,
    actions: Sequence[ActionFact],
) -> Answer:
    market = opportunity.market
    mine = [a for a in actions if a.market == market and a.kind != "do_nothing"]

    def answer(fate: Fate, reason: str) -> Answer:
        return Answer(
            market, opportunity.edge, opportunity.confidence, opportunity.source, fate, reason
        )

    for fact in mine:
        if fact.status in _ACTIVE:
            fate: Fate = "taken" if _ACTIVE[fact.status] == "taken" else "waiting"
            return answer(fate, fact.reason or fact.status)
    for fact in mine:
        if fact.status == "blocked":
            return answer("blocked", f"guard: {fact.reason}")
        if fact.status == "failed":
            return answer("failed", f"the exchange refused it: {fact.reason}")
        if fact.status in ("observed", "skipped", "rejected", "expired"):
            return answer("skipped", f"{fact.status}: {fact.reason}")
    if market in state.awaiting_approval:
        return answer("waiting", "an earlier action on it is waiting for approval")
    if state.position(market) is not None:
        return answer("held", "already held")
    missed = below_threshold(opportunity, thresholds)
    if missed is not None:
        return answer("below_threshold", missed)
    return answer("not_chosen", "passed the thresholds; the brain chose others this cycle")


def explain_cycle(
    state: SystemState, thresholds: Thresholds, actions: Sequence[ActionFact]
) -> list[Answer]:
    """Every opportunity of the cycle, best (edge × confidence) first."""
    ranked = sorted(state.active_opportunities, key=lambda o: (-(o.edge * o.confidence), o.market))
    return [explain(o, state, thresholds, actions) for o in ranked]


def fate_counts(answers: Sequence[Answer]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for a in answers:
        counts[a.fate] = counts.get(a.fate, 0) + 1
    return counts
