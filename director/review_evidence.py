"""A review suggestion's evidence: the suggested rules replayed beside the active ones.

Before the review's Apply button is offered, the rules brain runs twice over the same market
paths, once under the active rules and once under the suggested ones: on the recording named by
OMEGA_RECORDING_DIR when there is one (each UTC day of the review's window a pair), else on the
paper simulator:
`seeds` paths of `days` days (the review's window, capped), each arm on its own fresh account.
The per-seed difference in P&L (suggested − active) is the evidence: its mean, 95% interval and
Wilcoxon p-value (backtest/acceptance.py). The verdict is "helps" only when the whole interval is
above zero, "hurts" when it is below, and otherwise "no evidence it helps", shown as such.

The simulator is not the operator's market: the card says which evidence it is. The runs are
CPU work, so they run in a worker thread with their own event loop: the bot keeps answering.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from director.backtest.acceptance import Paired, paired
from director.clock import Clock
from director.rulebook import RuleSet, Thresholds

if TYPE_CHECKING:
    from director.settings import Settings
    from director.store import Store

log = logging.getLogger(__name__)

DEFAULT_SEEDS = 10
MAX_DAYS = 3  # the window replayed, at most: a weekly review's evidence in about a minute
FIRST_SEED = 1_001  # evidence paths apart from the default backtest's seeds


@dataclass(frozen=True)
class ReviewEvidence:
    source: str  # "simulator"
    days: int
    seeds: int
    active_pnl: float  # mean P&L per path under the active rules, dollars
    suggested_pnl: float
    difference: Paired  # suggested − active, per path, dollars
    error: str | None = None

    @property
    def verdict(self) -> str:
        if self.difference.low > 0:
            return "helps"
        if self.difference.high < 0:
            return "hurts"
        return "no evidence it helps"

    def describe(self) -> str:
        d = self.difference
        p = "n/a" if d.p_value is None else f"{d.p_value:.3f}"
        return (
            f"Evidence ({self.source}, {self.seeds} paths × {self.days} d, suggested − active): "
            f"{d.mean:+.2f} $ per path, 95% CI [{d.low:+.2f}, {d.high:+.2f}], Wilcoxon p {p}, "
            f"better on {d.wins}/{d.n} paths — {self.verdict}."
        )

    def as_dict(self) -> dict[str, Any]:
        d = self.difference
        return {
            "source": self.source,
            "days": self.days,
            "seeds": self.seeds,
            "active_pnl": round(self.active_pnl, 2),
            "suggested_pnl": round(self.suggested_pnl, 2),
            "difference": {
                "mean": round(d.mean, 4),
                "ci_low": round(d.low, 4),
                "ci_high": round(d.high, 4),
                "p_value": None if d.p_value is None else round(d.p_value, 6),
                "wins": d.wins,
                "n": d.n,
            },
            "verdict": self.verdict,
            "summary": self.describe(),
        }


class EvidenceSource(Protocol):
    async def __call__(
        self, active: RuleSet, texts: Sequence[str], thresholds: Thresholds, window: timedelta
    ) -> ReviewEvidence: ...


class SimulatedEvidence:
    """Evidence from the paper simulator (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        *,
        seeds: int = DEFAULT_SEEDS,
        max_days: int = MAX_DAYS,
        start: datetime | None = None,
    ) -> None:
        from director.backtest.runner import DEFAULT_START

        if seeds < 2:
            raise ValueError("evidence needs at least 2 paths to pair")
        self.settings = settings
        self.seeds = seeds
        self.max_days = max_days
        self.start = start or DEFAULT_START

    async def __call__(
        self, active: RuleSet, texts: Sequence[str], thresholds: Thresholds, window: timedelta
    ) -> ReviewEvidence:
        days = max(1, min(self.max_days, math.ceil(window / timedelta(days=1))))
        arms = {
            "active": (tuple(active.rules), active.thresholds),
            "suggested": (tuple(texts), thresholds),
        }
        pnls = await asyncio.to_thread(self._run_all, arms, days)
        diffs = [s - a for a, s in zip(pnls["active"], pnls["suggested"], strict=True)]
        return ReviewEvidence(
            source="simulator",
            days=days,
            seeds=self.seeds,
            active_pnl=sum(pnls["active"]) / self.seeds,
            suggested_pnl=sum(pnls["suggested"]) / self.seeds,
            difference=paired(diffs),
        )

    def _run_all(
        self, arms: dict[str, tuple[tuple[str, ...], Thresholds]], days: int
    ) -> dict[str, list[float]]:
        return asyncio.run(self._run_arms(arms, days))

    async def _run_arms(
        self, arms: dict[str, tuple[tuple[str, ...], Thresholds]], days: int
    ) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {name: [] for name in arms}
        for seed in range(FIRST_SEED, FIRST_SEED + self.seeds):
            for name, (texts, thresholds) in arms.items():
                out[name].append(await self._one(seed, days, texts, thresholds))
        return out

    async def _one(
        self, seed: int, days: int, texts: tuple[str, ...], thresholds: Thresholds
    ) -> float:
        # Imported here: the runner imports the director, which imports the review.
        from director.backtest.runner import BacktestConfig, run_backtest

        async def prepare(store: Store) -> None:
            await store.add_rules_version(
                texts, thresholds, note="review evidence", source="review"
            )

        config = BacktestConfig(
            days=days, seed=seed, brains=("rules",), start=self.start, prepare=prepare
        )
        result = (await run_backtest(config, self.settings)).results["rules"]
        return float(result.final_equity - result.start_equity)


class RecordedEvidence:
    """Evidence from a recording of the operator's own markets (16a's replay): the review's
    window cut into UTC days, each day replayed under both rules, the days paired. Fewer than
    two usable days: the simulator's evidence instead (and the card says so)."""

    def __init__(
        self,
        settings: Settings,
        recording: Path,
        fallback: EvidenceSource,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.recording = recording
        self.fallback = fallback
        self.clock = clock

    async def __call__(
        self, active: RuleSet, texts: Sequence[str], thresholds: Thresholds, window: timedelta
    ) -> ReviewEvidence:
        if not self.recording.is_dir():
            return await self.fallback(active, texts, thresholds, window)
        end = self.clock()
        days = max(1, math.ceil(window / timedelta(days=1)))
        arms = {
            "active": (tuple(active.rules), active.thresholds),
            "suggested": (tuple(texts), thresholds),
        }
        pairs: list[tuple[float, float]] = []
        for day in range(days, 0, -1):
            since, until = end - timedelta(days=day), end - timedelta(days=day - 1)
            pnl = {name: await self._day(since, until, *arm) for name, arm in arms.items()}
            if pnl["active"] is not None and pnl["suggested"] is not None:
                pairs.append((pnl["active"], pnl["suggested"]))
        if len(pairs) < 2:
            return await self.fallback(active, texts, thresholds, window)
        return ReviewEvidence(
            source=f"recording {self.recording.name}",
            days=len(pairs),
            seeds=len(pairs),
            active_pnl=sum(a for a, _ in pairs) / len(pairs),
            suggested_pnl=sum(s for _, s in pairs) / len(pairs),
            difference=paired([s - a for a, s in pairs]),
        )

    async def _day(
        self, since: datetime, until: datetime, texts: tuple[str, ...], thresholds: Thresholds
    ) -> float | None:
        from director.backtest.recorded import ReplayConfig, run_replay_backtest
        from director.backtest.runner import BacktestError

        async def prepare(store: Store) -> None:
            await store.add_rules_version(
                texts, thresholds, note="review evidence", source="review"
            )

        config = ReplayConfig(recording=self.recording, brains=("rules",), since=since, until=until)
        try:
            result = await run_replay_backtest(config, self.settings, prepare=prepare)
        except BacktestError:
            return None  # too few polls that day
        rules = result.results["rules"]
        return float(rules.final_equity - rules.start_equity)


def evidence_for(settings: Settings, clock: Clock) -> EvidenceSource:
    """The review's evidence: the recording when one is configured, else the simulator."""
    simulated = SimulatedEvidence(settings)
    if settings.recording_dir is None:
        return simulated
    return RecordedEvidence(settings, settings.recording_dir, simulated, clock)


async def gather_evidence(
    source: EvidenceSource,
    active: RuleSet,
    texts: Sequence[str],
    thresholds: Thresholds,
    decided_at: Sequence[datetime],
    now: datetime,
) -> tuple[ReviewEvidence | None, str | None]:
    """The evidence over the review's window (its oldest decision to now), or why there is none.
    A failure never stops the review: the card then says the evidence is missing."""
    window = now - min(decided_at) if decided_at else timedelta(days=1)
    try:
        return await source(active, texts, thresholds, window), None
    except Exception as exc:  # the review goes on; the card says why there is no evidence
        log.exception("review evidence failed")
        return None, f"evidence could not be computed: {exc}"
