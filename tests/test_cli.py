"""End to end through the real command line, on the embedded default (paper, rules, console)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from director.store import Store

EXE = [sys.executable, "-m", "omega.cli"]


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OMEGA_", "TELEGRAM_", "ANTHROPIC_", "KALSHI_"))
    }
    env.update({"OMEGA_DB_PATH": str(tmp_path / "omega.db"), "OMEGA_LOG_LEVEL": "WARNING"})
    env.update(extra)
    return env


def omega(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EXE, *args],
        cwd=tmp_path,
        env=env_for(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


def start_run(tmp_path: Path, stdin: int | None = None, **extra: str) -> subprocess.Popen[str]:
    """`omega-director run` with 30 s between cycles, in the background."""
    return subprocess.Popen(
        [*EXE, "run", "--interval", "30"],
        cwd=tmp_path,
        env=env_for(tmp_path, **extra),
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_until(proc: subprocess.Popen[str], prefix: str, seen: list[str] | None = None) -> str:
    """The first line of its output starting with `prefix`."""
    assert proc.stdout is not None
    seen = [] if seen is None else seen
    for line in proc.stdout:
        seen.append(line)
        if line.startswith(prefix):
            return line
    raise AssertionError(f"no line starting {prefix!r} in:\n{''.join(seen)}")


def test_cycle_on_a_fresh_database_prints_all_three_phases(tmp_path: Path) -> None:
    done = omega(tmp_path, "cycle")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert re.search(r"=== Omega Director Cycle #1 @ \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ===", out)
    assert "[SENSE] Cash: $10,000.00" in out
    assert "[THINK] (rules)" in out and "[ACT]" in out


def test_a_restart_keeps_the_paper_account_and_operator_state(tmp_path: Path) -> None:
    first = omega(tmp_path, "cycle", OMEGA_PAPER_STARTING_CASH="5000")
    assert first.returncode == 0, first.stderr

    async def turn_on_safe_mode() -> None:
        store = await Store.open(tmp_path / "omega.db")
        await store.set_safe_mode(True, "test")
        await store.close()

    asyncio.run(turn_on_safe_mode())
    # The account was created with $5,000; a different setting later does not reset it.
    second = omega(tmp_path, "cycle", OMEGA_PAPER_STARTING_CASH="9999")
    assert second.returncode == 0, second.stderr
    assert "Cycle #2" in second.stdout and "SAFE MODE (operator)" in second.stdout
    equity = re.search(r"Equity: \$([\d,.]+)", second.stdout)
    assert equity is not None and abs(float(equity[1].replace(",", "")) - 5000) < 500


def test_state_command(tmp_path: Path) -> None:
    done = omega(tmp_path, "state")
    assert done.returncode == 0, done.stderr
    assert "State of the Union" in done.stdout and "opportunities (" in done.stdout


def test_a_database_that_is_not_sqlite_is_refused_untouched(tmp_path: Path) -> None:
    (tmp_path / "omega.db").write_text("not a database")
    done = omega(tmp_path, "cycle")
    assert done.returncode == 2
    assert "not an SQLite database" in done.stderr
    assert (tmp_path / "omega.db").read_text() == "not a database"


def test_run_stops_cleanly_between_cycles_on_sigterm(tmp_path: Path) -> None:
    proc = start_run(tmp_path)
    read_until(proc, "[ACT]")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Cycle #2" not in out


def test_run_with_a_cycle_limit(tmp_path: Path) -> None:
    done = omega(tmp_path, "run", "--cycles", "3", "--interval", "0.01")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("=== Omega Director Cycle #") == 3


def test_a_second_director_on_the_same_database_is_refused(tmp_path: Path) -> None:
    proc = start_run(tmp_path)
    try:
        read_until(proc, "[ACT]")
        second = omega(tmp_path, "cycle")
        assert second.returncode == 2
        assert f"is in use by another omega-director (pid {proc.pid})" in second.stderr
        assert "Cycle #" not in second.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    # Once the first has stopped, the database is free again.
    third = omega(tmp_path, "cycle")
    assert third.returncode == 0, third.stderr
    assert "Cycle #2" in third.stdout


def test_an_approval_typed_at_the_console_executes_once(tmp_path: Path) -> None:
    import pty

    # Every order waits (threshold $0), and stdin is a terminal, as for a person at a console.
    controller, terminal = pty.openpty()
    # 2,000 markets: the first cycle surely finds an order to make (the paper scanner reports
    # about one opportunity past the default thresholds per 200 markets a cycle).
    proc = start_run(
        tmp_path, terminal, OMEGA_APPROVAL_COST_THRESHOLD="0", OMEGA_PAPER_MARKETS="2000"
    )
    os.close(terminal)
    seen: list[str] = []
    try:
        read_until(proc, "[CONSOLE] Commands: `approve N`", seen)
        parked = read_until(proc, "[APPROVAL #1]", seen)
        assert "type `approve 1` or `reject 1`" in parked
        read_until(proc, "[ACT]", seen)
        os.write(controller, b"approve 1\n")
        done = read_until(proc, "[APPROVAL #1] ", seen)
        assert done.startswith("[APPROVAL #1] Approved by console (")
        os.write(controller, b"approve 1\n")
        again = read_until(proc, "[APPROVAL #1] ", seen)
        assert again.startswith("[APPROVAL #1] Already approved by console (")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        os.close(controller)
    assert proc.returncode == 0, err
