"""The chaos suite's venue and process helpers: a Kalshi stand-in whose creates take their
time, the real `omega-director` console script run against it as a subprocess, and the check
that the database's records say exactly what the stand-in holds."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from tests.kalshi_standin import KalshiStandin, SMarket, new_rsa_key, write_private_key

# The venv's console script, the way systemd would start it.
OMEGA = str(Path(sys.executable).with_name("omega-director"))
TICKERS = [f"KXCHAOS-{n:02d}" for n in range(12)]
# A create takes this long to land on the stand-in (the "≥ 1.5 s").
CREATE_LATENCY_S = 1.5
# The director keeps looking an unclear create up for this long.
SETTLE_S = 4.0
OPEN_STATES = ("requested", "sent", "unknown")


@dataclass
class Venue:
    standin: KalshiStandin
    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def db(self) -> Path:
        return Path(self.env["OMEGA_DB_PATH"])

    def run(
        self, *args: str, timeout: float = 120, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [OMEGA, *args],
            cwd=self.root,
            env={**self.env, **extra},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, *args: str, stdin: int | None = None, **extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [OMEGA, *args],
            cwd=self.root,
            env={**self.env, **extra},
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def base_env(root: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OMEGA_", "TELEGRAM_", "ANTHROPIC_", "KALSHI_"))
    }
    env.update(
        {
            "OMEGA_DB_PATH": str(root / "omega.db"),
            "OMEGA_LOG_LEVEL": "WARNING",
            "OMEGA_BRAIN": "rules",
        }
    )
    env.update(extra)
    return env


@contextmanager
def kalshi_venue(root: Path, *, latency: float = CREATE_LATENCY_S) -> Iterator[Venue]:
    """Twelve open markets, each an opportunity in the feed, on a stand-in whose creates take
    `latency` seconds to land; the director trades them unattended (auto, no threshold)."""
    key = new_rsa_key()
    with KalshiStandin(key.public_key()) as standin:
        standin.balance = Decimal("10000.00")
        for ticker in TICKERS:
            standin.add_market(
                SMarket(
                    ticker,
                    ticker,
                    title=f"Will {ticker} happen?",
                    yes_bid=D("0.40"),
                    yes_ask=D("0.45"),
                )
            )
        standin.create_latency_s = latency
        feed = root / "feed.jsonl"
        feed.write_text(
            "".join(
                json.dumps({"market": t, "edge": 0.15, "confidence": 0.8, "expires_in_hours": 6})
                + "\n"
                for t in TICKERS
            )
        )
        env = base_env(
            root,
            OMEGA_EXCHANGE="kalshi",
            KALSHI_API_BASE=standin.base_url,
            KALSHI_API_KEY_ID=standin.key_id,
            KALSHI_PRIVATE_KEY_PATH=str(write_private_key(key, root / "kalshi.pem")),
            OMEGA_OPPORTUNITY_FEED=str(feed),
            OMEGA_AUTONOMY="auto",
            OMEGA_APPROVAL_COST_THRESHOLD="100000",
            OMEGA_ORDER_SETTLE_SECONDS=str(SETTLE_S),
            OMEGA_SOURCE_TIMEOUT_SECONDS="20",
        )
        yield Venue(standin, root, env)


D = Decimal


def rows(db: Path, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()


def assert_records_match(venue: Venue) -> dict[str, int]:
    """Per ticker at most one order per intended action, and the record equal to the
    stand-in: every order there is one `executed`/`approved` action with its order id, every
    action recorded as placed is there, nothing is left open, running or executing.
    Returns orders per ticker."""
    standin, db = venue.standin, venue.db
    with standin.lock:
        orders = {o.client_order_id: o for o in standin.orders.values()}
        per_ticker = Counter(o.ticker for o in standin.orders.values())
    assert len(orders) == len(standin.orders), "two stand-in orders share a client order id"
    actions = rows(db, "SELECT * FROM actions WHERE client_order_id IS NOT NULL")
    by_coid = {a["client_order_id"]: a for a in actions}
    assert len(by_coid) == len(actions), "two actions share a client order id"
    for coid, order in orders.items():
        action = by_coid.get(coid)
        assert action is not None, f"stand-in order {order.order_id} ({coid}) has no record"
        assert action["status"] in ("executed", "approved"), dict(action)
        assert action["order_id"] == order.order_id, dict(action)
    for coid, action in by_coid.items():
        placed = action["status"] in ("executed", "approved")
        assert placed == (coid in orders) or action["status"] == "awaiting_approval", dict(action)
        assert action["exec_state"] not in OPEN_STATES, dict(action)
        assert action["status"] not in ("sending", "unknown"), dict(action)
    intended = Counter(a["market"] for a in actions if a["status"] in ("executed", "approved"))
    for ticker, count in per_ticker.items():
        assert count <= 1, f"{ticker}: {count} orders"
        assert count == intended[ticker], ticker
    assert rows(db, "SELECT id FROM cycles WHERE status = 'running'") == []
    stuck = rows(db, "SELECT id FROM approvals WHERE status IN ('executing', 'unknown')")
    assert stuck == []
    return dict(per_ticker)
