"""Is one brain better than another? Paired over seeds, per scenario, with its uncertainty.

Every brain runs on the same seeds (the same market paths); the per-seed difference of a
measure is the evidence. `paired` gives its mean, a 95% confidence interval (Student t over the
seeds) and a two-sided Wilcoxon signed-rank p-value (no normality assumed). A difference whose
interval contains zero is "no evidence either way", and is reported as such.

Brains are compared at matched exposure: a brain's P&L is scaled to the reference brain's
average exposure (its return per average exposure × the reference's average exposure), so a
brain that simply risks more money does not look better or worse for it.
"""

from __future__ import annotations

import asyncio
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from director.backtest.trader_metrics import TraderMetrics
from director.settings import Settings

CONFIDENCE = 0.95
MIN_SEEDS = 2

# The measures compared, each a function of (brain's metrics, reference brain's metrics).
Measure = Callable[[TraderMetrics, TraderMetrics], float]


def pnl_at_matched_exposure(brain: TraderMetrics, reference: TraderMetrics) -> float:
    """Dollars: the brain's return per average exposure × the reference's average exposure."""
    per_exposure = float(brain.return_per_exposure or 0)
    return per_exposure * float(reference.average_exposure)


def pnl_per_contract_cents(brain: TraderMetrics, reference: TraderMetrics) -> float:
    return float(brain.pnl_per_contract or 0) * 100


MEASURES: dict[str, Measure] = {
    "pnl_at_matched_exposure_usd": pnl_at_matched_exposure,
    "pnl_per_contract_cents": pnl_per_contract_cents,
}


@dataclass(frozen=True)
class Paired:
    n: int
    mean: float
    low: float  # the confidence interval of the mean difference
    high: float
    p_value: float | None  # Wilcoxon signed-rank, two-sided; None when every difference is 0
    wins: int  # seeds where the difference is positive

    @property
    def verdict(self) -> str:
        if self.low > 0:
            return "better"
        if self.high < 0:
            return "worse"
        return "no evidence either way"


def paired(differences: Sequence[float], confidence: float = CONFIDENCE) -> Paired:
    """The mean of per-seed differences with its t interval and Wilcoxon p-value."""
    # Imported here: scipy costs ~60 MB and `run` needs it only when a review is scored.
    from scipy import stats

    n = len(differences)
    if n < MIN_SEEDS:
        raise ValueError(f"a paired comparison needs at least {MIN_SEEDS} seeds, got {n}")
    if not all(math.isfinite(d) for d in differences):
        raise ValueError("differences must be finite numbers")
    mean = statistics.fmean(differences)
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * statistics.stdev(differences)
    half /= math.sqrt(n)
    p_value: float | None = None
    if any(d != 0 for d in differences):
        p_value = float(stats.wilcoxon(differences, zero_method="wilcox").pvalue)
    wins = sum(d > 0 for d in differences)
    return Paired(n=n, mean=mean, low=mean - half, high=mean + half, p_value=p_value, wins=wins)


def compare(
    runs: Sequence[Mapping[str, TraderMetrics]], brain: str, other: str, reference: str
) -> dict[str, Paired]:
    """`brain` − `other` on every measure, paired over `runs` (one mapping per seed), both
    scaled to `reference`'s exposure where the measure scales."""
    out = {}
    for name, measure in MEASURES.items():
        diffs = [
            measure(run[brain], run[reference]) - measure(run[other], run[reference])
            for run in runs
        ]
        out[name] = paired(diffs)
    return out


def one_seed(
    seed: int,
    days: int,
    brains: tuple[str, ...],
    scenario: str,
    settings: Settings,
    start: datetime | None = None,
) -> dict[str, TraderMetrics]:
    """Every brain on one seed and scenario (a fresh event loop: safe in a worker process)."""
    # Imported here: the review imports `paired`, and the runner imports the director.
    from director.backtest.runner import DEFAULT_START, BacktestConfig, run_backtest

    start = start or DEFAULT_START
    config = BacktestConfig(days=days, seed=seed, brains=brains, scenario=scenario, start=start)
    result = asyncio.run(run_backtest(config, settings))
    out = {}
    for name, brain in result.results.items():
        if brain.trader is None:
            raise RuntimeError(f"brain {name} produced no trader metrics")
        out[name] = brain.trader
    return out
