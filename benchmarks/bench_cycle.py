"""Cycle overhead — everything but the brain's thinking — and the memory of a long run.

1. A Director on the paper exchange with 1,000 markets, 100 positions, 50 resting orders and
   200 opportunities; the brain returns a ready plan instantly, so what is timed is sense,
   guard, act, record and report. Prints the median and p90 of 40 cycles (target: median
   < 100 ms).
2. `omega-director run` as a subprocess for 200 cycles on the embedded default; prints its
   resident memory at cycles 50, 100, 150 and 200 (target: < 200 MB and not growing).

Run: .venv/bin/python benchmarks/bench_cycle.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from director.brains.base import ThinkContext, ThinkResult
from director.director import Director
from director.exchanges.paper import PaperExchange
from director.models import (
    CancelOrder,
    CancelOrderDetails,
    Opportunity,
    OrderAction,
    OrderRequest,
    PlaceOrder,
    PlaceOrderDetails,
    Plan,
    Priority,
    Side,
    SystemState,
)
from director.rulebook import RuleSet
from director.settings import Settings
from director.store import Store
from tests.fakes import ListSource, RecordingReporter

START = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)


class InstantBrain:
    """A plan like a busy cycle's: two orders and a cancel, decided in no time."""

    name = "instant"

    async def think(self, state: SystemState, rules: RuleSet, context: ThinkContext) -> ThinkResult:
        actions: list[PlaceOrder | CancelOrder] = []
        for opp in state.active_opportunities[:2]:
            ask = state.markets[opp.market].ask(opp.side)
            if ask is not None:
                actions.append(
                    PlaceOrder(
                        details=PlaceOrderDetails(
                            market=opp.market, side=opp.side, price=ask, quantity=1
                        )
                    )
                )
        if state.pending_orders:
            order_id = state.pending_orders[0].order_id
            actions.append(CancelOrder(details=CancelOrderDetails(order_id=order_id)))
        return ThinkResult(
            plan=Plan(reasoning="benchmark", actions=actions, priority=Priority.LOW),
            brain=self.name,
        )

    async def close(self) -> None:
        return None


async def cycle_overhead() -> list[float]:
    now = [START]
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(Path(tmp) / "bench.db")
        paper = await PaperExchange.open(
            store, seed=1, n_markets=1000, starting_cash=Decimal(1_000_000), clock=lambda: now[0]
        )
        markets = [m for m in await paper.get_markets() if m.is_open and m.yes_ask and m.yes_bid]
        for i, m in enumerate(markets[:100]):
            assert m.yes_ask is not None
            await paper.place_order(
                OrderRequest(
                    market=m.ticker,
                    side=Side.YES,
                    action=OrderAction.BUY,
                    price=m.yes_ask,
                    quantity=5,
                    client_order_id=f"seed-pos-{i}",
                )
            )
        for i, m in enumerate(markets[100:150]):
            await paper.place_order(
                OrderRequest(
                    market=m.ticker,
                    side=Side.YES,
                    action=OrderAction.BUY,
                    price=Decimal("0.01"),
                    quantity=5,
                    client_order_id=f"seed-ord-{i}",
                )
            )
        opportunities = [
            Opportunity(
                market=m.ticker,
                side=Side.YES,
                edge=Decimal("0.12"),
                confidence=Decimal("0.8"),
                expires_at=START + timedelta(days=60),
                source="bench",
            )
            for m in markets[150:350]
        ]
        director = Director(
            settings=Settings(autonomy_setting="auto", max_exposure=Decimal("0.9")),
            store=store,
            exchange=paper,
            brain=InstantBrain(),
            reporter=RecordingReporter(),
            clock=lambda: now[0],
            sources=[ListSource(opportunities)],
        )
        state = await director.sense()
        print(
            f"state: {len(state.markets)} markets quoted of {len(markets)} open, "
            f"{len(state.open_positions)} positions, {len(state.pending_orders)} resting orders, "
            f"{len(state.active_opportunities)} opportunities"
        )
        timings = []
        for _ in range(40):
            now[0] += timedelta(seconds=1)  # not 15 min: keep the book as set up
            started = time.perf_counter()
            report = await director.run_cycle("schedule")
            timings.append((time.perf_counter() - started) * 1000)
            assert report.error is None, report.error
        await director.close()
        return timings


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def long_run_memory(cycles: int = 200) -> dict[int, float]:
    marks = {cycles // 4 * k: 0.0 for k in range(1, 5)}
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "OMEGA_DB_PATH": str(Path(tmp) / "run.db"),
            "OMEGA_LOG_LEVEL": "WARNING",
        }
        env.pop("TELEGRAM_BOT_TOKEN", None)
        env.pop("ANTHROPIC_API_KEY", None)
        exe = Path(sys.executable).with_name("omega-director")
        proc = subprocess.Popen(
            [str(exe), "run", "--cycles", str(cycles), "--interval", "0.01"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=tmp,
            env=env,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("=== Omega Director Cycle #"):
                number = int(line.split("#")[1].split()[0])
                if number in marks:
                    marks[number] = rss_mb(proc.pid)
        proc.wait(timeout=600)
    return marks


def main() -> None:
    timings = asyncio.run(cycle_overhead())
    median = statistics.median(timings)
    p90 = statistics.quantiles(timings, n=10)[-1]
    print(
        f"cycle overhead (1,000 markets, 100 positions, 50 orders, 200 opportunities): "
        f"median {median:.1f} ms, p90 {p90:.1f} ms over {len(timings)} cycles "
        f"(target median < 100 ms: {'PASS' if median < 100 else 'FAIL'})"
    )
    marks = long_run_memory()
    figures = ", ".join(f"cycle {n}: {mb:.1f} MB" for n, mb in sorted(marks.items()))
    values = [marks[n] for n in sorted(marks)]
    growth = values[-1] - values[0]
    verdict = "PASS" if max(values) < 200 and growth < 10 else "FAIL"
    print(
        f"omega-director run RSS: {figures}; growth from first to last mark {growth:+.1f} MB "
        f"(target < 200 MB and flat: {verdict})"
    )


if __name__ == "__main__":
    main()
