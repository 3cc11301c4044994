from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console

from director.backtest.report import (
    ProgressBar,
    blocks_table,
    comparisons,
    plot_equity,
    print_report,
    write_json,
)
from director.backtest.runner import BacktestConfig, BacktestResult, run_backtest
from director.settings import Settings

SETTINGS = Settings(_env_file=None, cycle_seconds=3600)


def _run(brains: tuple[str, ...]) -> BacktestResult:
    return asyncio.run(run_backtest(BacktestConfig(days=1, seed=4, brains=brains), SETTINGS))


@pytest.fixture(scope="module")
def three() -> BacktestResult:
    """rules, naive and none over one day: results are plain data, shared by the tests."""
    return _run(("rules", "naive", "none"))


def test_json_keeps_results_apart_from_runtime(three: BacktestResult, tmp_path: Path) -> None:
    result = three
    path = write_json(result, tmp_path / "out" / "report.json")
    data = json.loads(path.read_text())
    assert list(data) == ["format", "backtest", "results", "runtime"]
    assert data["backtest"]["seed"] == 4 and data["backtest"]["cycles"] == 24
    assert data["backtest"]["start"] == "2026-01-05T00:00:00+00:00"
    assert list(data["results"]) == ["rules", "naive", "none"]
    assert set(data["runtime"]["rules"]) == {"wall_seconds"}
    rules = data["results"]["rules"]
    for money in ("start_equity", "final_equity", "fees", "realized_pnl", "max_drawdown_usd"):
        assert Decimal(rules[money]) == Decimal(rules[money]).quantize(Decimal("0.01"))
    assert len(rules["equity_curve"]["values"]) == 25
    assert rules["equity_curve"]["step_seconds"] == 3600
    assert data["results"]["none"]["sharpe_like"] is None
    assert data["results"]["none"]["hit_rate"] is None
    # Nothing that varies run to run hides in the results.
    assert "wall" not in json.dumps(data["results"])
    naive = result.results["naive"]
    assert data["results"]["naive"]["guard_blocks"]["total"] == naive.guard_blocks
    assert data["results"]["naive"]["approvals"]["requested"] == naive.approvals.requested


def test_the_table_compares_every_brain(three: BacktestResult) -> None:
    result = three
    console = Console(record=True, width=200)
    print_report(result, console)
    text = console.export_text()
    for expected in (
        "rules",
        "naive",
        "none",
        "Final equity",
        "Max drawdown",
        "Sharpe-like",
        "Hit rate",
        "Fees paid",
        "Approvals requested",
        "AI cost",
        "rules vs naive: max drawdown",
        "wall time",
    ):
        assert expected in text
    assert f"${result.results['rules'].final_equity:,.2f}" in text


def test_comparison_lines_say_which_way_each_measure_went(three: BacktestResult) -> None:
    result = three
    lines = comparisons(result)
    assert len(lines) == 2
    rules, naive = result.results["rules"], result.results["naive"]
    lower = rules.drawdown.fraction < naive.drawdown.fraction
    assert ("(lower)" in lines[0]) == lower and ("(NOT lower)" in lines[0]) == (not lower)
    assert "not comparable" in lines[1]  # `none` has no ratio
    assert comparisons(_run(("rules",))) == []


def test_blocks_table_only_when_something_was_blocked(three: BacktestResult) -> None:
    assert blocks_table(_run(("none",))) is None
    table = blocks_table(three)
    assert (table is None) == (not any(r.blocks for r in three.results.values()))


def test_the_equity_chart_is_a_png(three: BacktestResult, tmp_path: Path) -> None:
    path = plot_equity(three, tmp_path / "charts" / "equity.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000


def test_the_progress_bar_tracks_each_brain() -> None:
    console = Console(record=True, width=120, force_terminal=False)
    with ProgressBar(console) as bar:
        bar("rules", 1, 4)
        bar("rules", 4, 4)
        bar("naive", 2, 4)
    text = console.export_text()
    assert "rules" in text and "4/4" in text and "naive" in text and "2/4" in text
