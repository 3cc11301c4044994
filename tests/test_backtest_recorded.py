"""`backtest --replay`: the real director over a paper recording, the same report twice, fills
within the recorded depth, fees as the fee function says."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from director.backtest.recorded import ReplayConfig, run_replay_backtest
from director.backtest.report import report_dict
from director.backtest.runner import BacktestError
from director.fees import trade_fee
from director.models import Fill, OrderAction, Side
from director.recorder.format import MANIFEST, MarketLine
from director.recorder.reader import Recording
from director.settings import Settings
from omega.cli import main
from tests.books import balanced
from tests.clocks import SteppingClock
from tests.recording_helpers import (
    START,
    capture_venues,
    paper_settings,
    record_paper,
)

POLLS = 12


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, Settings]:
    """Twelve hourly polls of the paper venue (sync, so command-line tests can use it)."""
    settings = paper_settings(tmp_path)
    out = tmp_path / "rec"
    asyncio.run(record_paper(out, settings, SteppingClock(START), polls=POLLS, every=3600))
    return out, settings


def check_fills_against_the_recording(recording: Path, fills: list[Fill]) -> int:
    """Every fill within the depth recorded for its market at its time, and every taker fee
    the fee function's; returns how many fills were checked."""
    by_time: dict[object, list[Fill]] = defaultdict(list)
    for fill in fills:
        by_time[fill.created_at].append(fill)
    lines: dict[str, MarketLine] = {}
    used: dict[tuple[str, Side, Decimal], int] = defaultdict(int)  # since the market's line
    checked = 0
    for poll in Recording.open(recording).polls():
        for line in poll.markets:
            lines[line.ticker] = line
            for key in [k for k in used if k[0] == line.ticker]:
                del used[key]
        for fill in by_time.pop(poll.at, []):
            line = lines[fill.market]
            book_side = fill.side.other if fill.action is OrderAction.BUY else fill.side
            levels = line.bids(book_side)
            fee = trade_fee(fill.quantity, fill.price, line.fees, maker=not fill.is_taker)
            assert fill.fee == fee, fill
            if fill.is_taker:
                bid = 1 - fill.price if fill.action is OrderAction.BUY else fill.price
                size = next(s for p, s in levels if p == bid)
                used[(fill.market, book_side, bid)] += fill.quantity
                assert used[(fill.market, book_side, bid)] <= size, fill
            else:
                used[(fill.market, book_side, Decimal(-1))] += fill.quantity
                assert used[(fill.market, book_side, Decimal(-1))] <= sum(s for _, s in levels)
            checked += 1
    assert not by_time, "a fill at a time no poll has"
    return checked


async def test_a_replay_trades_within_the_recorded_depth_and_pays_the_recorded_fees(
    recorded: tuple[Path, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    recording, settings = recorded
    venues = capture_venues(monkeypatch)
    result = await run_replay_backtest(
        ReplayConfig(recording=recording, brains=("rules", "naive")), settings
    )
    assert result.setup.cycles == POLLS and result.setup.start == START
    naive = venues[1]
    assert (
        check_fills_against_the_recording(recording, naive.fills) == result.results["naive"].fills
    )
    assert naive.fills, "the naive brain should have traded"
    # Naive asks for more than the touch holds: some orders filled only in part.
    assert any(f.quantity < 100 for f in naive.fills)
    assert all(balanced(v.account()) for v in venues)
    assert result.results["naive"].fees == sum((f.fee for f in naive.fills), Decimal(0))


async def test_the_same_replay_twice_gives_the_same_report(
    recorded: tuple[Path, Settings],
) -> None:
    recording, settings = recorded
    config = ReplayConfig(recording=recording, brains=("rules", "naive", "none"))
    first = report_dict(await run_replay_backtest(config, settings))
    second = report_dict(await run_replay_backtest(config, settings))
    first.pop("runtime"), second.pop("runtime")
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    assert first["results"]["naive"]["fills"] > 0


async def test_a_window_replays_only_its_polls(recorded: tuple[Path, Settings]) -> None:
    recording, settings = recorded
    polls = [p.at for p in Recording.open(recording).polls()]
    config = ReplayConfig(recording=recording, brains=("none",), since=polls[2], until=polls[6])
    result = await run_replay_backtest(config, settings)
    assert result.setup.cycles == 4 and result.setup.start == polls[2]


async def test_a_recording_too_short_or_missing_is_refused(
    recorded: tuple[Path, Settings], tmp_path: Path
) -> None:
    recording, settings = recorded
    with pytest.raises(BacktestError, match="not a directory"):
        await run_replay_backtest(ReplayConfig(tmp_path / "nope", ("rules",)), settings)
    polls = [p.at for p in Recording.open(recording).polls()]
    short = ReplayConfig(recording, ("rules",), since=polls[-1])
    with pytest.raises(BacktestError, match="at least 2 polls"):
        await run_replay_backtest(short, settings)


def test_the_command_line_replays_a_recording_into_the_same_report_twice(
    recorded: tuple[Path, Settings], cli_env: None, tmp_path: Path
) -> None:
    recording, _ = recorded
    args = ["backtest", "--replay", str(recording), "--compare", "rules,naive"]
    assert main([*args, "--out", "one"]) == 0
    assert main([*args, "--out", "two"]) == 0
    one = json.loads((tmp_path / "one" / "report.json").read_text())
    two = json.loads((tmp_path / "two" / "report.json").read_text())
    assert one["backtest"]["cycles"] == POLLS and one["backtest"]["cycle_seconds"] == 3600
    assert one["results"] == two["results"] and one["backtest"] == two["backtest"]
    assert (tmp_path / "one" / "equity.png").exists()
    # The trader's metrics come with a replay too.
    for key in ("pnl_per_contract", "pnl_per_dollar", "calibration", "break_even_slippage"):
        assert key in one["results"]["naive"], key


def test_a_recording_made_before_tick_grids_replays_on_whole_cents_and_says_so_once(
    recorded: tuple[Path, Settings],
    cli_env: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    recording, _ = recorded
    args = ["backtest", "--replay", str(recording), "--compare", "rules,naive"]
    assert main([*args, "--out", "new"]) == 0
    assert "tick grids" not in capsys.readouterr().out
    # A paper recording has no grid to record: as schema 1 it is what the recorder wrote
    # before grids were recorded.
    manifest = json.loads((recording / MANIFEST).read_text())
    (recording / MANIFEST).write_text(json.dumps({**manifest, "schema_version": 1}))
    assert main([*args, "--out", "old"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert out.count("was recorded without tick grids (schema 1)") == 1
    assert "every market was replayed on whole cents" in out
    new = json.loads((tmp_path / "new" / "report.json").read_text())
    old = json.loads((tmp_path / "old" / "report.json").read_text())
    assert old["results"] == new["results"] and "notes" not in old


def test_the_command_line_refuses_a_directory_that_is_not_a_recording(
    cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["backtest", "--replay", "empty"]) == 2
    assert "not a recording" in capsys.readouterr().err


def test_record_refuses_bad_options_on_the_command_line(
    cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["record", "--out", "rec", "--polls", "0"]) == 2
    assert "--polls must be at least 1" in capsys.readouterr().err


def test_record_on_the_command_line_writes_a_first_poll_at_once(
    cli_env: None, tmp_path: Path
) -> None:
    assert main(["record", "--out", "rec", "--polls", "1"]) == 0  # the first poll never waits
    (poll,) = Recording.open(tmp_path / "rec").polls()
    assert poll.seq == 1 and poll.full and len(poll.markets) == 40  # OMEGA_PAPER_MARKETS
    assert json.loads((tmp_path / "rec" / "manifest.json").read_text())["interval_seconds"] == 900
