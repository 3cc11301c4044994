"""Telegram unreachable when the director starts: the loop still trades (cycles recorded, on
the console and in the log) and the bot connects in the background once Telegram answers."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.chaos.harness import OMEGA, base_env
from tests.telegram_standin import TelegramStandIn

pytestmark = pytest.mark.chaos


def done_cycles(db: Path) -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM cycles WHERE status = 'done'").fetchone()[0])
    except sqlite3.OperationalError:  # not migrated yet
        return 0
    finally:
        conn.close()


def wait_for(condition: object, what: str, limit_s: float = 60) -> None:
    """Poll a condition the director's own records make true (an event, not a duration)."""
    deadline = time.monotonic() + limit_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_cycles_run_while_telegram_is_down_and_the_bot_connects_when_it_is_back(
    tmp_path: Path,
) -> None:
    with TelegramStandIn() as tg:
        tg.fail(502)  # every Bot API call fails, getMe included
        env = base_env(
            tmp_path,
            TELEGRAM_BOT_TOKEN=tg.token,
            TELEGRAM_API_BASE_URL=tg.base_url,
            OMEGA_ALLOWED_USERS="1001",
            OMEGA_CYCLE_SECONDS="5",
            OMEGA_REVIEW_SCHEDULE="off",
            OMEGA_LOG_LEVEL="INFO",
        )
        proc = subprocess.Popen(
            [OMEGA, "run"],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for(
                lambda: done_cycles(tmp_path / "omega.db") >= 2, "two cycles with Telegram down"
            )
            assert proc.poll() is None, "the director stopped"
            assert tg.requests, "the bot never tried Telegram"
            tg.heal()
            wait_for(
                lambda: any(r.method == "getUpdates" for r in tg.requests),
                "the bot to start polling once Telegram is back",
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
        assert "Traceback" not in err, err[-3000:]
