from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from director.backtest.report import report_dict
from director.backtest.runner import BacktestConfig, BacktestError, BacktestResult, run_backtest
from director.settings import Settings

# Hourly cycles keep a simulated day to 24 cycles: the same code path, a fraction of the time.
SETTINGS = Settings(_env_file=None, cycle_seconds=3600)


async def _run(settings: Settings = SETTINGS, **config: Any) -> BacktestResult:
    values: dict[str, Any] = {"days": 1, "seed": 11, "brains": ("rules",)}
    values.update(config)
    return await run_backtest(BacktestConfig(**values), settings)


def _compared(result: BacktestResult) -> str:
    report = report_dict(result)
    del report["runtime"]
    return json.dumps(report, sort_keys=True)


async def test_the_same_seed_gives_an_identical_report() -> None:
    first = await _run(brains=("rules", "naive"))
    second = await _run(brains=("rules", "naive"))
    assert _compared(first) == _compared(second)
    assert first.results["naive"].orders_sent > 0  # something happened worth comparing
    other = await _run(brains=("rules", "naive"), seed=12)
    assert _compared(other) != _compared(first)


async def test_every_brain_sees_the_same_market_path(tmp_path: Path) -> None:
    result = await _run(brains=("naive", "none"), db_dir=tmp_path)
    assert result.results["naive"].fills > 0
    assert result.results["none"].fills == 0

    def path(db: Path, columns: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(db) as conn:
            return conn.execute(f"SELECT {columns} FROM paper_markets ORDER BY ticker").fetchall()

    # The hidden probabilities, the settlements and the markets listed are the same ...
    hidden = "ticker, x, bias, status, result, fair_at_close"
    naive, none = path(tmp_path / "naive.db", hidden), path(tmp_path / "none.db", hidden)
    assert len(naive) > SETTINGS.paper_markets  # markets opened and settled during the day
    assert naive == none
    # ... only the quotes of events naive traded carry its price impact.
    quotes = "event_ticker, yes_bid, yes_ask"
    moved = set(path(tmp_path / "naive.db", quotes)) ^ set(path(tmp_path / "none.db", quotes))
    with sqlite3.connect(tmp_path / "naive.db") as conn:
        traded = {
            row[0]
            for row in conn.execute(
                "SELECT DISTINCT m.event_ticker FROM paper_fills f"
                " JOIN paper_markets m ON m.ticker = f.market"
            )
        }
    assert moved and {row[0] for row in moved} <= traded


async def test_the_none_brain_ends_where_it_started() -> None:
    none = (await _run(brains=("none",))).results["none"]
    assert set(none.equity) == {SETTINGS.paper_starting_cash}
    assert none.cycles == 24 and len(none.equity) == 25
    assert none.drawdown.fraction == 0
    assert none.sharpe is None
    assert (none.orders_sent, none.fills, none.fees, none.approvals.requested) == (
        0,
        0,
        Decimal(0),
        0,
    )


async def test_approvals_follow_the_policy() -> None:
    # Naive orders cost up to $50, above a $25 approval threshold: most need a human.
    settings = SETTINGS.model_copy(update={"approval_cost_threshold_setting": Decimal(25)})
    approved = (await _run(settings, brains=("naive",), approvals="approve")).results["naive"]
    rejected = (await _run(settings, brains=("naive",), approvals="reject")).results["naive"]
    assert approved.approvals.requested > 0
    assert approved.approvals.approved > 0 and approved.approvals.rejected == 0
    assert rejected.approvals.requested > 0
    assert rejected.approvals.approved == 0
    assert rejected.approvals.rejected == rejected.approvals.requested
    assert rejected.orders_sent < approved.orders_sent


async def test_the_final_mark_and_the_money_add_up() -> None:
    rules = (await _run(brains=("rules",), seed=5)).results["rules"]
    assert rules.orders_sent > 0
    assert rules.fills >= 1
    assert rules.fees > 0
    assert len(rules.equity) == rules.cycles + 1
    assert rules.start_equity == SETTINGS.paper_starting_cash


async def test_progress_is_reported_after_every_cycle() -> None:
    seen: list[tuple[str, int, int]] = []
    await run_backtest(
        BacktestConfig(days=1, seed=3, brains=("none", "rules")),
        SETTINGS,
        progress=lambda brain, done, total: seen.append((brain, done, total)),
    )
    assert seen[0] == ("none", 1, 24)
    assert seen[23] == ("none", 24, 24)
    assert seen[-1] == ("rules", 24, 24)
    assert len(seen) == 48


async def test_an_existing_database_is_never_reused_or_overwritten(tmp_path: Path) -> None:
    old = tmp_path / "naive.db"
    old.write_bytes(b"precious")
    with pytest.raises(BacktestError, match="already exists"):
        await _run(brains=("rules", "naive"), db_dir=tmp_path)
    assert old.read_bytes() == b"precious"
    assert not (tmp_path / "rules.db").exists()  # refused before anything ran


async def test_a_file_in_place_of_the_database_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("notes")
    with pytest.raises(BacktestError, match="not a directory"):
        await _run(db_dir=tmp_path / "out")


async def test_too_short_for_two_cycles_is_refused() -> None:
    daily = Settings(_env_file=None, cycle_seconds=86_400)
    with pytest.raises(BacktestError, match="at least 2"):
        await run_backtest(BacktestConfig(days=1, seed=1, brains=("none",)), daily)


async def test_spending_needs_a_key() -> None:
    with pytest.raises(BacktestError, match="ANTHROPIC_API_KEY"):
        await _run(brains=("claude",), allow_api_spend=True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"days": 0}, "--days must be between"),
        ({"days": 1000}, "--days must be between"),
        ({"days": 1.5}, "whole number"),
        ({"seed": "7"}, "--seed must be an integer"),
        ({"brains": ()}, "no brain"),
        ({"brains": ("rules", "genius")}, "unknown brain 'genius'"),
        ({"brains": ("rules", "rules")}, "named twice"),
        ({"approvals": "maybe"}, "--approvals"),
        ({"start": datetime(2026, 1, 5)}, "timezone-aware"),
    ],
)
def test_a_bad_configuration_is_refused_with_a_clear_message(
    change: dict[str, Any], message: str
) -> None:
    values: dict[str, Any] = {"days": 1, "seed": 1, "brains": ("rules",), **change}
    with pytest.raises(BacktestError, match=message):
        BacktestConfig(**values)
