"""Backtest speed and memory, and the acceptance comparison of the rules brain with `naive`.

    .venv/bin/python benchmarks/bench_backtest.py                 # 30 days, rules: time, RSS
    .venv/bin/python benchmarks/bench_backtest.py --profile       # ... and where the time goes
    .venv/bin/python benchmarks/bench_backtest.py --acceptance    # 10 seeds, rules vs naive

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
from decimal import Decimal

from director.backtest.runner import BacktestConfig, run_backtest
from director.backtest.tally import BrainResult
from director.settings import Settings

WALL_TARGET_S = 60.0
RSS_TARGET_MB = 300.0


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


def _one_seed(seed: int, days: int) -> tuple[int, BrainResult, BrainResult]:
    config = BacktestConfig(days=days, seed=seed, brains=("rules", "naive"))
    result = asyncio.run(run_backtest(config, _settings()))
    return seed, result.results["rules"], result.results["naive"]


def _pct(value: Decimal) -> str:
    return f"{value * 100:6.2f}%"


def _ratio(value: Decimal | None) -> str:
    return "   n/a" if value is None else f"{value:6.2f}"


def acceptance(seeds: list[int], days: int, workers: int) -> int:
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        rows = sorted(pool.map(_one_seed, seeds, [days] * len(seeds)), key=lambda r: r[0])
    header = (
        "| seed | rules DD | naive DD | rules Sharpe | naive Sharpe | rules return "
        "| naive return | rules hit | naive hit | DD better | Sharpe better |"
    )
    print(f"acceptance: {days} days × {len(seeds)} seeds, rules vs naive (approvals: approve)")
    print(header)
    print("|---" * 11 + "|")
    wins_dd = wins_sharpe = 0
    for seed, rules, naive in rows:
        dd = rules.drawdown.fraction < naive.drawdown.fraction
        sharpe = (
            rules.sharpe is not None and naive.sharpe is not None and rules.sharpe > naive.sharpe
        )
        wins_dd += dd
        wins_sharpe += sharpe
        print(
            f"| {seed:4d} | {_pct(rules.drawdown.fraction)} | {_pct(naive.drawdown.fraction)} "
            f"| {_ratio(rules.sharpe)} | {_ratio(naive.sharpe)} "
            f"| {_pct(rules.total_return)} | {_pct(naive.total_return)} "
            f"| {_pct(rules.hits.rate or Decimal(0))} | {_pct(naive.hits.rate or Decimal(0))} "
            f"| {'yes' if dd else 'NO'} | {'yes' if sharpe else 'NO'} |"
        )
    n = len(rows)
    print(
        f"rules beats naive on max drawdown in {wins_dd}/{n} seeds, on the Sharpe-like ratio in "
        f"{wins_sharpe}/{n} ({time.perf_counter() - started:.0f} s wall, {workers} workers)"
    )
    summary: dict[str, dict[str, list[Decimal]]] = {"rules": {}, "naive": {}}
    for _, *results in rows:
        for name, r in zip(("rules", "naive"), results, strict=True):
            summary[name].setdefault("drawdown", []).append(r.drawdown.fraction)
            summary[name].setdefault("sharpe", []).append(r.sharpe or Decimal(0))
            summary[name].setdefault("return", []).append(r.total_return)
    for stat, pick in (("median", statistics.median), ("mean", statistics.mean)):
        rules, naive = ({k: pick(v) for k, v in summary[b].items()} for b in ("rules", "naive"))
        print(
            f"{stat:>6} over seeds: max drawdown {_pct(rules['drawdown'])} vs "
            f"{_pct(naive['drawdown'])}, Sharpe-like {_ratio(rules['sharpe'])} vs "
            f"{_ratio(naive['sharpe'])}, return {_pct(rules['return'])} vs "
            f"{_pct(naive['return'])}"
        )
    # The acceptance: lower drawdown on every seed, and the better risk-adjusted ratio over
    # the seeds (the median: one seed's luck can't decide it either way).
    median_sharpe = {b: statistics.median(summary[b]["sharpe"]) for b in summary}
    return 0 if wins_dd == n and median_sharpe["rules"] > median_sharpe["naive"] else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="cProfile the run")
    parser.add_argument(
        "--acceptance", action="store_true", help="rules vs naive over several seeds"
    )
    parser.add_argument("--seeds", type=int, default=10, help="seeds 1..N for --acceptance")
    parser.add_argument("--workers", type=int, default=2, help="processes for --acceptance")
    args = parser.parse_args()
    if args.acceptance:
        return acceptance(list(range(1, args.seeds + 1)), args.days, args.workers)
    return bench(args.days, args.seed, args.profile)


if __name__ == "__main__":
    sys.exit(main())
