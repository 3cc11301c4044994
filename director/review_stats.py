"""The review's statistics: decisions and their outcomes by bucket of edge, confidence and time
to expiry, and the one threshold change they support, if any (no AI needed)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from director.outcomes import Outcome
from director.review_suggestion import Suggestion, ThresholdChange, ThresholdName
from director.rulebook import Thresholds

MIN_BUCKET = 5  # decisions a bucket needs before it is evidence


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
        missed_edge=missed_edge(outcomes),
    )


def missed_edge(outcomes: Sequence[Outcome]) -> Decimal:
    """Per-contract P&L the decisions not taken would have made, where positive."""
    return sum(
        (p for o in outcomes if not o.decision.taken and (p := o.pnl_per_contract) and p > 0),
        Decimal(0),
    ).quantize(Decimal("0.01"))


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
            found = _band_suggestion(band, name, field_name, current, new, direction)
            if found is not None:
                candidates.append(found)
    if not candidates:
        return None
    candidates.sort(key=lambda c: c[0], reverse=True)
    return candidates[0][1]


def _band_suggestion(
    band: Sequence[Outcome],
    name: ThresholdName,
    field_name: str,
    current: Decimal,
    new: Decimal,
    direction: str,
) -> tuple[Decimal, Suggestion] | None:
    """Moving `name` from `current` to `new` to take (lower) or leave (raise) `band`, with the
    size of its effect, when the band's evidence is clear enough; else None."""
    pnls = [p for o in band if (p := o.pnl_per_contract) is not None]
    if len(pnls) < MIN_BUCKET or new <= 0 or new >= 1:
        return None
    total = sum(pnls, Decimal(0))
    mean = total / len(pnls)
    hits = sum(p > 0 for p in pnls) / len(pnls)
    if direction == "lower" and not (mean > 0 and hits >= 0.5):
        return None
    if direction == "raise" and not mean < 0:
        return None
    low, high = sorted((current, new))
    verb = "paid" if direction == "lower" else "lost"
    return (
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
