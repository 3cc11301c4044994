from __future__ import annotations

import json
from pathlib import Path

import pytest

from director.backtest.command import brains_from
from director.backtest.runner import BacktestError
from omega.cli import main


@pytest.fixture(autouse=True)
def isolated(cli_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The clean command-line environment, with hourly cycles."""
    monkeypatch.setenv("OMEGA_CYCLE_SECONDS", "3600")


def test_backtest_compares_brains_and_saves_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["backtest", "--days", "1", "--seed", "2", "--compare", "rules,none", "--out", "run"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "Final equity" in out and "rules" in out and "none" in out
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert list(report["results"]) == ["rules", "none"]
    assert report["backtest"]["cycle_seconds"] == 3600 and report["backtest"]["days"] == 1
    assert (tmp_path / "run" / "equity.png").exists()
    assert (tmp_path / "run" / "rules.db").exists() and (tmp_path / "run" / "none.db").exists()


def test_without_out_the_databases_are_temporary(tmp_path: Path) -> None:
    assert main(["backtest", "--days", "1", "--brain", "none"]) == 0
    assert (tmp_path / "backtest-report" / "report.json").exists()
    assert not list(tmp_path.rglob("*.db"))


def test_a_used_out_directory_is_refused_and_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backtest", "--days", "1", "--brain", "none", "--out", "run"]) == 0
    before = (tmp_path / "run" / "none.db").read_bytes()
    capsys.readouterr()
    assert main(["backtest", "--days", "1", "--brain", "none", "--out", "run"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "run" / "none.db").read_bytes() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--compare", "rules,genius"], "unknown brain 'genius'"),
        (["--compare", "rules,,none"], "unknown brain ''"),
        (["--days", "0"], "--days must be between"),
    ],
)
def test_bad_options_get_one_clear_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backtest", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("omega-director: backtest: ") and message in err


def test_a_file_where_the_report_goes_is_refused_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "backtest-report").write_text("not a folder")
    assert main(["backtest", "--days", "1", "--brain", "none"]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_an_unknown_brain_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["backtest", "--brain", "genius"])
    assert exit_info.value.code == 2


def test_brain_and_compare_combine_in_order_without_repeats() -> None:
    assert brains_from(None, None) == ("rules",)
    assert brains_from("naive", None) == ("naive",)
    assert brains_from(None, "rules,naive,none") == ("rules", "naive", "none")
    assert brains_from("claude", "rules, Naive,claude") == ("claude", "rules", "naive")
    with pytest.raises(BacktestError):
        brains_from(None, "")
