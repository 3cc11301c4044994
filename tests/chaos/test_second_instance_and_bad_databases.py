"""One director per database whatever name reaches it, and a database that can't be used
refused at start in one line with exit code 2 — never a traceback, never a trade."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.chaos.harness import OMEGA, base_env, rows

pytestmark = pytest.mark.chaos


def omega(root: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OMEGA, *args],
        cwd=root,
        env=base_env(root, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


@contextmanager
def running_director(root: Path) -> Iterator[subprocess.Popen[str]]:
    """`omega-director run` on paper, past its first cycle (read from its output)."""
    proc = subprocess.Popen(
        [OMEGA, "run", "--interval", "60"],
        cwd=root,
        env=base_env(root),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("[ACT]"):
            break
    else:
        raise AssertionError("the first director never cycled:\n" + "".join(seen))
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err


def one_line_refusal(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("omega-director: "), done.stderr
    assert "Traceback" not in done.stderr and "Cycle #" not in done.stdout
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_a_second_director_through_a_symlink_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "alias.db").symlink_to(tmp_path / "omega.db")
    with running_director(tmp_path) as first:
        second = omega(tmp_path, "cycle", OMEGA_DB_PATH=str(tmp_path / "elsewhere" / "alias.db"))
        one_line_refusal(second, "in use by another omega-director", f"pid {first.pid}")
        relative = omega(tmp_path / "elsewhere", "cycle", OMEGA_DB_PATH="../omega.db")
        one_line_refusal(relative, "in use by another omega-director")
    # The first director's record is whole: only its own cycle(s), none from the refused ones.
    assert {r["status"] for r in rows(tmp_path / "omega.db", "SELECT status FROM cycles")} == {
        "done"
    }


def test_a_hard_link_to_the_database_is_refused_running_or_not(tmp_path: Path) -> None:
    with running_director(tmp_path):
        os.link(tmp_path / "omega.db", tmp_path / "twin.db")
        twin = omega(tmp_path, "cycle", OMEGA_DB_PATH=str(tmp_path / "twin.db"))
        one_line_refusal(twin, "hard links")
    alone = omega(tmp_path, "cycle", OMEGA_DB_PATH=str(tmp_path / "twin.db"))
    one_line_refusal(alone, "hard links")
    # Even the original name: two names would give the database two write-ahead logs.
    original = omega(tmp_path, "cycle")
    one_line_refusal(original, "hard links")


def test_a_corrupt_database_is_refused_in_one_line(tmp_path: Path) -> None:
    assert omega(tmp_path, "cycle").returncode == 0
    db = tmp_path / "omega.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with db.open("r+b") as handle:
        handle.seek(4096 * 3)
        handle.write(b"\xff" * 4096)
    one_line_refusal(omega(tmp_path, "cycle"), "corrupt")


def test_a_database_locked_by_another_program_is_refused_in_one_line(tmp_path: Path) -> None:
    assert omega(tmp_path, "cycle").returncode == 0
    holder = sqlite3.connect(tmp_path / "omega.db", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        one_line_refusal(omega(tmp_path, "cycle"), "locked")
    finally:
        holder.close()


def _make_read_only(path: Path) -> bool:
    """chattr +i where we are root (permissions don't bind root), else chmod."""
    if os.geteuid() != 0:
        path.chmod(0o555 if path.is_dir() else 0o444)
        return True
    chattr = shutil.which("chattr")
    return bool(chattr) and subprocess.run([chattr, "+i", str(path)]).returncode == 0


def _make_writable(path: Path) -> None:
    if os.geteuid() != 0:
        path.chmod(0o755 if path.is_dir() else 0o644)
    else:
        subprocess.run(["chattr", "-i", str(path)], check=False)


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_read_only_database_is_refused_in_one_line(tmp_path: Path, what: str) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    assert omega(tmp_path, "cycle", OMEGA_DB_PATH=str(folder / "omega.db")).returncode == 0
    for leftover in folder.glob("omega.db-*"):
        leftover.unlink()
    target = folder / "omega.db" if what == "file" else folder
    if not _make_read_only(target):
        pytest.fail("cannot make a read-only file here (no chattr as root)")
    try:
        done = omega(tmp_path, "cycle", OMEGA_DB_PATH=str(folder / "omega.db"))
    finally:
        _make_writable(target)
    one_line_refusal(done, "omega.db")
