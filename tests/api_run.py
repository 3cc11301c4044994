"""A real `omega-director run` (paper, rules brain, the Telegram stand-in) in a subprocess, with
the local API on an ephemeral port, for end-to-end tests and benchmarks of director/api/."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

TOKEN = "test-token-0123456789abcdef"
OPERATOR = 1001
_LISTENING = re.compile(r"local API listening on (http://\S+)")


class RunningDirector:
    """`with RunningDirector(tmp_path, tg_base_url, tg_token) as run:` → run.url, run.log()."""

    def __init__(
        self,
        workdir: Path,
        *,
        telegram: tuple[str, str] | None = None,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
        ready: re.Pattern[str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.db_path = workdir / "omega.db"
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(workdir),
            "OMEGA_DB_PATH": str(self.db_path),
            "OMEGA_API_TOKEN": TOKEN,
            "OMEGA_API_LISTEN": "127.0.0.1:0",
            "OMEGA_HEARTBEAT_GRACE_SECONDS": "1",
            "OMEGA_CYCLE_SECONDS": "3600",
            "OMEGA_BRAIN": "rules",
            "OMEGA_REVIEW_SCHEDULE": "off",
            "OMEGA_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
        if telegram is not None:
            base_url, token = telegram
            self.env.update(
                TELEGRAM_BOT_TOKEN=token,
                TELEGRAM_API_BASE_URL=base_url,
                OMEGA_ALLOWED_USERS=str(OPERATOR),
            )
        self.env.update(env or {})
        self.args = args
        self.ready = ready or _LISTENING
        self.url = ""
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> RunningDirector:
        command = [sys.executable, "-m", "omega.cli", "run", *self.args]
        self.process = subprocess.Popen(
            command,
            cwd=self.workdir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for_log(self.ready, timeout=60)
        listening = _LISTENING.search(self.log())
        self.url = listening.group(1) if listening else ""
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> int:
        process = self.process
        if process is None:
            return 0
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            with self._lock:
                self._lines.append(line)

    def log(self) -> str:
        with self._lock:
            return "".join(self._lines)

    def wait_for_log(self, pattern: re.Pattern[str], timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = pattern.search(self.log())
            if match:
                return match
            if self.process is not None and self.process.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"no {pattern.pattern!r} in the director's output:\n{self.log()}")

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Read the running director's database (WAL: readers never block it)."""
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
        try:
            return list(conn.execute(sql, params).fetchall())
        finally:
            conn.close()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def rss_kib(self) -> int:
        """The director's resident memory now (Linux)."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(
            next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))
        )

    def open_markets(self) -> list[str]:
        rows = self.query("SELECT ticker FROM paper_markets WHERE status = 'open' ORDER BY seq")
        return [str(r[0]) for r in rows]
