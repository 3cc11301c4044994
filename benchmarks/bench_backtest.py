"""Backtest speed and memory, and the acceptance table: rules vs naive vs naive-once.

    .venv/bin/python benchmarks/bench_backtest.py                 # 30 days, rules: time, RSS
    .venv/bin/python benchmarks/bench_backtest.py --profile       # ... and where the time goes
    .venv/bin/python benchmarks/bench_backtest.py --acceptance    # 20 seeds × 5 scenarios

The acceptance table (issue 16): per scenario, rules − naive and rules − naive-once, paired
over seeds 1..20, at matched exposure (P&L scaled to rules' average exposure) and per contract,
each mean difference with its 95% confidence interval and a Wilcoxon signed-rank p-value.
Each seed runs `--acceptance-days` days (3 by default, to keep the run to minutes on 2 cores).

Targets (issue 7): 30 simulated days at 15-minute cycles (2,880 cycles) with the rules brain
in under 60 s of wall time and under 300 MB of peak RSS on a 2-core machine. Settings are the
defaults plus the OMEGA_* environment (no .env file is read), with 15-minute cycles.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import resource
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from director.backtest.acceptance import Paired, compare, one_seed
from director.backtest.runner import BacktestConfig, run_backtest
from director.backtest.trader_metrics import TraderMetrics
from director.exchanges.paper_scenarios import SCENARIOS, scenario_named
from director.settings import Settings

WALL_TARGET_S = 60.0
RSS_TARGET_MB = 300.0
ACCEPTANCE_BRAINS = ("rules", "naive", "naive-once")
# Days per seed in the acceptance run: 20 seeds × 5 scenarios × 3 brains on 2 cores stays
# within minutes at 3 days; the statistics are over seeds, each seed's days are one sample.
ACCEPTANCE_DAYS = 3


def _settings() -> Settings:
    return Settings(_env_file=None, cycle_seconds=900)


def _peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench(days: int, seed: int, profile: bool) -> int:
    config = BacktestConfig(days=days, seed=seed, brains=("rules",))
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    result = asyncio.run(run_backtest(config, _settings()))
    if profiler is not None:
        profiler.disable()
    wall = time.perf_counter() - started
    rss = _peak_rss_mb()
    rules = result.results["rules"]
    per_cycle_ms = wall / rules.cycles * 1000
    print(f"backtest: {days} days, seed {seed}, rules brain, {rules.cycles} cycles of 900 s")
    print(
        f"  wall time  {wall:7.2f} s  (target < {WALL_TARGET_S:.0f} s) "
        f"{'OK' if wall < WALL_TARGET_S else 'OVER'}   {per_cycle_ms:.2f} ms per cycle"
    )
    print(
        f"  peak RSS   {rss:7.1f} MB (target < {RSS_TARGET_MB:.0f} MB) "
        f"{'OK' if rss < RSS_TARGET_MB else 'OVER'}"
    )
    print(
        f"  result     final equity ${rules.final_equity:,.2f}, "
        f"max drawdown {rules.drawdown.fraction * 100:.2f}%, "
        f"{rules.orders_sent} orders, {rules.fills} fills"
    )
    if profiler is not None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(35)
        print(out.getvalue())
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        print(out.getvalue())
    return 0 if wall < WALL_TARGET_S and rss < RSS_TARGET_MB else 1


def _one_run(task: tuple[str, int, int]) -> tuple[str, int, dict[str, TraderMetrics]]:
    scenario, seed, days = task
    return scenario, seed, one_seed(seed, days, ACCEPTANCE_BRAINS, scenario, _settings())


def _ci(p: Paired, unit: str) -> str:
    pv = "  n/a" if p.p_value is None else f"{p.p_value:5.3f}"
    return f"{p.mean:+8.2f}{unit} [{p.low:+8.2f}, {p.high:+8.2f}] | {pv}"


def acceptance(seeds: list[int], days: int, workers: int, scenarios: list[str]) -> int:
    """Rules vs naive vs naive-once at matched exposure, paired over seeds, per scenario."""
    started = time.perf_counter()
    tasks = [(scenario, seed, days) for scenario in scenarios for seed in seeds]
    runs: dict[str, dict[int, dict[str, TraderMetrics]]] = {s: {} for s in scenarios}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for scenario, seed, metrics in pool.map(_one_run, tasks):
            runs[scenario][seed] = metrics
    print(
        f"acceptance: {days} days × {len(seeds)} seeds (1..{seeds[-1]}) per scenario, 15-minute "
        "cycles, approvals: approve; differences rules − other, paired by seed; P&L of both "
        "scaled to rules' average exposure; 95% CI (t) and two-sided Wilcoxon p"
    )
    print(
        "| scenario | rules − | Δ P&L at matched exposure ($) [95% CI] | p "
        "| Δ P&L per contract (¢) [95% CI] | p | rules ahead | verdict (matched P&L) |"
    )
    print("|---" * 8 + "|")
    for scenario in scenarios:
        ordered = [runs[scenario][seed] for seed in seeds]
        for other in ("naive", "naive-once"):
            result = compare(ordered, "rules", other, reference="rules")
            matched, per_contract = (
                result["pnl_at_matched_exposure_usd"],
                result["pnl_per_contract_cents"],
            )
            print(
                f"| {scenario} | {other} | {_ci(matched, '')} | {_ci(per_contract, '')} "
                f"| {matched.wins}/{matched.n} | {matched.verdict} |"
            )
    print()
    print(
        "| scenario | brain | mean P&L ($) | mean average exposure ($) "
        "| mean P&L per contract (¢) |"
    )
    print("|---" * 5 + "|")
    for scenario in scenarios:
        for brain in ACCEPTANCE_BRAINS:
            rows = [runs[scenario][seed][brain] for seed in seeds]
            pnl = statistics.fmean(float(r.pnl) for r in rows)
            exposure = statistics.fmean(float(r.average_exposure) for r in rows)
            cents = statistics.fmean(float(r.pnl_per_contract or 0) * 100 for r in rows)
            print(f"| {scenario} | {brain} | {pnl:+9.2f} | {exposure:9.2f} | {cents:+7.2f} |")
    wall = time.perf_counter() - started
    print(
        f"({len(tasks)} runs of {len(ACCEPTANCE_BRAINS)} brains, {wall:.0f} s wall, "
        f"{workers} workers)"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="cProfile the run")
    parser.add_argument(
        "--acceptance",
        action="store_true",
        help="rules vs naive vs naive-once, paired over seeds, per scenario",
    )
    parser.add_argument("--seeds", type=int, default=20, help="seeds 1..N for --acceptance")
    parser.add_argument(
        "--acceptance-days", type=int, default=ACCEPTANCE_DAYS, help="days per seed (acceptance)"
    )
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help="comma-separated, for --acceptance"
    )
    parser.add_argument("--workers", type=int, default=2, help="processes for --acceptance")
    args = parser.parse_args()
    if args.acceptance:
        scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
        for name in scenarios:
            scenario_named(name)
        seeds = list(range(1, args.seeds + 1))
        return acceptance(seeds, args.acceptance_days, args.workers, scenarios)
    return bench(args.days, args.seed, args.profile)


if __name__ == "__main__":
    sys.exit(main())
