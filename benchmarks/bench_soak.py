"""Soak: thousands of cycles against a faulty Kalshi, killed and restarted again and again.

The real director (rules brain, auto autonomy) on a simulated clock (a cycle every 15
simulated minutes, nothing sleeps but the client's own retry backoff) against the Kalshi
stand-in over real HTTP. Every cycle three fresh markets appear as opportunities and older ones
settle. 5 % of requests meet a fault at random (seeded): a 500, a hang past the client's
timeout, a create done and then answered 500, a 200 carrying an error body. Every 100 cycles
the director is "killed" at a random phase of a cycle (an in-process kill: an exception no code
catches, raised at a crash point, after which nothing of that director runs or writes — what
kill -9 leaves) and a new one is started on the same database, reconciling first.

Prints: orders placed vs intended, duplicates and lost orders (targets 0), records matching the
stand-in after the final reconciliation (target 100 %), and the cycle times (worst, p99, p50).

Run: .venv/bin/python benchmarks/bench_soak.py [--cycles 2000] [--seed 12]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from director.brains.rules import RulesBrain
from director.crashpoints import set_crash_hook
from director.director import Director
from director.exchanges.kalshi import KalshiExchange, KalshiTuning
from director.exchanges.kalshi.ratelimit import Backoff
from director.models import Opportunity, Side
from director.settings import Settings
from director.store import Store
from tests.clocks import ManualClock
from tests.fakes import RecordingReporter
from tests.kalshi_standin import (
    Fault,
    KalshiStandin,
    SMarket,
    new_rsa_key,
    write_private_key,
)

START = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
FAULTS = (Fault.ERROR_500, Fault.HANG, Fault.ACCEPT_THEN_500, Fault.ERROR_BODY)
PHASES = (
    "cycle:started",
    "cycle:thought",
    "cycle:requested",
    "cycle:sent",
    "cycle:answered",
    "cycle:recorded",
)
FAULT_RATE = 0.05
NEW_MARKETS_PER_CYCLE = 3
SETTLE_AFTER_CYCLES = 24


class SimulatedKill(BaseException):
    """Raised at a crash point; nothing catches it, so nothing more is written."""


class FreshOpportunities:
    """This cycle's new markets, as a scanner would report them."""

    name = "soak-scanner"

    def __init__(self) -> None:
        self.current: list[Opportunity] = []

    async def opportunities(self, now: datetime) -> list[Opportunity]:
        return list(self.current)

    def counters(self) -> dict[str, int]:
        return {}


@dataclass
class Soak:
    root: Path
    standin: KalshiStandin
    clock: ManualClock
    key_path: Path
    source: FreshOpportunities = field(default_factory=FreshOpportunities)
    cycle_ms: list[float] = field(default_factory=list)
    kills: Counter[str] = field(default_factory=Counter)
    restart_ms: list[float] = field(default_factory=list)
    born: dict[str, int] = field(default_factory=dict)

    def settings(self) -> Settings:
        return Settings(
            exchange="kalshi",
            kalshi_api_base=self.standin.base_url,
            kalshi_api_key_id=self.standin.key_id,
            kalshi_private_key_path=self.key_path,
            kalshi_reads_per_second=1000,
            kalshi_writes_per_second=1000,
            autonomy_setting="auto",
            approval_cost_threshold_setting=Decimal(10**6),
            brain="rules",
            db_path=self.root / "soak.db",
            order_settle_seconds=60,
            source_timeout_seconds=5,
        )

    async def start_director(self) -> Director:
        """What build_director does for Kalshi, with a client tuned for a fast soak."""
        settings = self.settings()
        store = await Store.open(settings.db_path)
        tuning = KalshiTuning(request_timeout_s=0.1, max_attempts=3, backoff=Backoff(0.01, 0.04))
        exchange = KalshiExchange.from_settings(
            settings, clock=self.clock, journal=store, tuning=tuning
        )
        await exchange.restore_intents()
        director = Director(
            settings=settings,
            store=store,
            exchange=exchange,
            brain=RulesBrain(settings),
            reporter=RecordingReporter(),
            clock=self.clock,
            sources=[self.source],
        )
        director.reconciler.sleep = self.simulated_sleep  # its wait passes in simulated time
        await director.reconciler.settle_at_start()
        return director

    async def simulated_sleep(self, seconds: float) -> None:
        self.clock.advance(seconds=seconds)
        await asyncio.sleep(0)

    def new_markets(self, cycle: int) -> None:
        now = self.clock()
        fresh = []
        for k in range(NEW_MARKETS_PER_CYCLE):
            ticker = f"KXSOAK-{cycle:05d}-{k}"
            self.standin.add_market(
                SMarket(
                    ticker, ticker, title=ticker, yes_bid=Decimal("0.40"), yes_ask=Decimal("0.45")
                )
            )
            self.born[ticker] = cycle
            fresh.append(
                Opportunity(
                    market=ticker,
                    side=Side.YES,
                    edge=Decimal("0.15"),
                    confidence=Decimal("0.8"),
                    expires_at=now + timedelta(hours=2),
                    source="soak",
                )
            )
        self.source.current = [o for o in self.source.current if o.expires_at > now] + fresh
        with self.standin.lock:  # old markets settle: their positions go away
            for ticker, born in list(self.born.items()):
                if cycle - born > SETTLE_AFTER_CYCLES:
                    self.standin.positions.pop(ticker, None)
                    self.standin.markets[ticker].status = "finalized"
                    self.standin.markets[ticker].cache = None
                    del self.born[ticker]


async def run(cycles: int, seed: int, kill_every: int) -> Soak:
    rng = random.Random(seed)
    root = Path(tempfile.mkdtemp(prefix="omega-soak-"))
    key = new_rsa_key()
    clock = ManualClock(START)
    standin = KalshiStandin(key.public_key(), clock=clock, hang_seconds=0.15, record=False)
    standin.balance = Decimal("1000000.00")
    soak = Soak(root, standin.start(), clock, write_private_key(key, root / "k.pem"))
    # Hung and dropped connections are the point here: no server traceback for each one.
    assert standin._server is not None
    standin._server.handle_error = lambda request, address: None  # type: ignore[method-assign]
    standin.faults_at_random(FAULT_RATE, FAULTS, seed=seed)
    director = await soak.start_director()
    armed: str | None = None

    def hook(phase: str) -> None:
        nonlocal armed
        if phase == armed:
            armed = None
            raise SimulatedKill(phase)

    set_crash_hook(hook)
    try:
        for cycle in range(1, cycles + 1):
            soak.new_markets(cycle)
            if cycle % kill_every == 0:
                armed = rng.choice(PHASES)
            t0 = time.perf_counter()
            try:
                await director.run_cycle("schedule")
            except SimulatedKill as kill:
                soak.kills[str(kill)] += 1
                await _abandon(director)
                t1 = time.perf_counter()
                director = await soak.start_director()
                soak.restart_ms.append((time.perf_counter() - t1) * 1000)
            soak.cycle_ms.append((time.perf_counter() - t0) * 1000)
            clock.advance(seconds=900)
        standin.faults_at_random(0, (), seed=0)
        await director.close()
        director = await soak.start_director()  # a last restart settles what is still open
        await director.close()
    finally:
        set_crash_hook(None)
        standin.stop()
    return soak


async def _abandon(director: Director) -> None:
    """The killed director runs no more code: only its sockets and file handle are dropped
    (closing them writes nothing)."""
    await director.exchange.close()
    await director.store.close()


def report(soak: Soak) -> bool:
    """Print the figures; True when every target is met."""
    db = sqlite3.connect(soak.root / "soak.db")
    db.row_factory = sqlite3.Row
    actions = list(db.execute("SELECT * FROM actions WHERE client_order_id IS NOT NULL"))
    intended = [a for a in actions if a["exec_state"] is not None]
    orders = list(soak.standin.orders.values())
    by_coid = Counter(o.client_order_id for o in orders)
    per_ticker = Counter(o.ticker for o in orders)
    duplicates = sum(n - 1 for n in per_ticker.values() if n > 1)
    duplicates += sum(n - 1 for n in by_coid.values() if n > 1)
    known = {a["client_order_id"]: a for a in intended}
    placed_ids = {o.client_order_id: o.order_id for o in orders}
    lost = sum(
        1
        for a in intended
        if a["status"] in ("executed", "approved") and a["client_order_id"] not in placed_ids
    )
    lost += sum(1 for coid in placed_ids if coid not in known)
    matching = 0
    for a in intended:
        on_exchange = placed_ids.get(a["client_order_id"])
        says_placed = a["status"] in ("executed", "approved")
        if says_placed == (on_exchange is not None) and (
            not says_placed or a["order_id"] == on_exchange
        ):
            matching += 1
    still_open = sum(1 for a in intended if a["exec_state"] in ("requested", "sent", "unknown"))
    statuses = Counter(a["status"] for a in intended)
    running = db.execute("SELECT COUNT(*) FROM cycles WHERE status = 'running'").fetchone()[0]
    times = sorted(soak.cycle_ms)
    print(f"cycles: {len(times)} (simulated {len(times) * 15 / 60 / 24:.1f} days)")
    print(
        f"faults dealt: {len(soak.standin.chaos_hits)} "
        f"({dict(Counter(f.value for _, f in soak.standin.chaos_hits))})"
    )
    print(f"kills: {sum(soak.kills.values())} ({dict(soak.kills)})")
    print(
        f"orders intended (sent or about to be): {len(intended)}  "
        f"placed on the exchange: {len(orders)}"
    )
    print(
        f"  recorded placed: {statuses['executed'] + statuses['approved']}, not placed "
        f"(refused, or provably never reached the exchange): {statuses['failed']}"
    )
    print(f"duplicates: {duplicates}   lost: {lost}   still unresolved: {still_open}")
    share = 100 * matching / len(intended) if intended else 100.0
    print(f"records matching the exchange: {matching}/{len(intended)} ({share:.2f}%)")
    print(f"cycles left running: {running}")
    print(
        f"cycle time: worst {times[-1]:.0f} ms, p99 {times[int(len(times) * 0.99) - 1]:.0f} ms, "
        f"p50 {statistics.median(times):.0f} ms (a killed cycle counts until it died)"
    )
    if soak.restart_ms:
        print(f"restart with reconciliation: worst {max(soak.restart_ms):.0f} ms")
    db.close()
    return duplicates == 0 and lost == 0 and still_open == 0 and matching == len(intended)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--kill-every", type=int, default=100)
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # thousands of injected faults: figures only
    t0 = time.perf_counter()
    soak = asyncio.run(run(args.cycles, args.seed, args.kill_every))
    met = report(soak)
    print(f"wall time: {time.perf_counter() - t0:.0f} s")
    print("targets (0 duplicates, 0 lost, 100 % matching): " + ("met" if met else "MISSED"))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
