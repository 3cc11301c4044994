"""The paper exchange and scanner on their own: a month of cycles, and sensing a big book.

1. Backtest load: 30 days of 15-minute cycles (2,880) on 40 markets. Each cycle scans, senses
   (balance, positions, resting orders, then the markets involved) and buys the
   opportunities past the default thresholds. Target: well under a minute in all.
2. Sense on 1,000 markets with 100 positions and 50 resting orders, as director/sense.py
   does it, (a) with the simulation already at the clock, (b) one 5-minute step behind (the
   step's simulation and its write included), (c) one 15-minute cycle (3 steps) behind.
   Target: a few ms for (a). Also a scan of the 1,000 markets and a day of fills.
3. Re-opening that account (a restart).

Run: .venv/bin/python benchmarks/bench_paper_exchange.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from director.exchanges.paper import PaperExchange
from director.models import OrderRequest, Side
from director.scanners.paper_scanner import PaperScanner
from director.store import Store
from tests.clocks import ManualClock

START = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)


async def sense(exchange: PaperExchange) -> None:
    """What director/sense.py asks of the exchange: three calls at once, then the markets."""
    _, positions, orders = await asyncio.gather(
        exchange.get_balance(), exchange.get_positions(), exchange.get_resting_orders()
    )
    tickers = sorted({p.market for p in positions} | {o.market for o in orders})
    await exchange.get_markets(tickers)


async def backtest(folder: Path) -> None:
    clock = ManualClock(START)
    store = await Store.open(folder / "backtest.db")
    exchange = await PaperExchange.open(
        store, seed=7, n_markets=40, starting_cash=Decimal(10000), clock=clock
    )
    scanner = PaperScanner(exchange, seed=7)
    found = placed = 0
    began = time.perf_counter()
    for cycle in range(2880):
        clock.now += timedelta(minutes=15)
        opportunities = await scanner.scan(clock.now)
        await sense(exchange)
        found += len(opportunities)
        for opp in opportunities:
            if opp.confidence > Decimal("0.7") and opp.edge > Decimal("0.1"):
                ask = exchange.markets_snapshot()[opp.market].ask(opp.side)
                assert ask is not None
                await exchange.place_order(
                    OrderRequest(
                        market=opp.market,
                        side=opp.side,
                        price=ask,
                        quantity=10,
                        client_order_id=f"bt-{cycle}-{opp.market}",
                    )
                )
                placed += 1
    elapsed = time.perf_counter() - began
    account = await exchange.account()
    equity = account.cash + account.reserved + account.positions_cost
    print("1. backtest: 2,880 cycles × 40 markets (scan + sense + orders)")
    print(f"   total {elapsed:.2f} s, {elapsed / 2880 * 1000:.2f} ms per cycle")
    print(f"   {found / 2880:.1f} opportunities per cycle, {placed} orders placed")
    print(
        f"   realized P&L ${account.realized_pnl}, fees ${account.fees_paid}, "
        f"equity at cost ${equity} (from ${account.starting_cash})"
    )
    await exchange.close()
    await store.close()


async def timed(
    runs: int, prepare: Callable[[], Any], action: Callable[[], Awaitable[None]]
) -> str:
    samples = []
    for _ in range(runs):
        prepare()
        began = time.perf_counter()
        await action()
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    p90 = samples[int(len(samples) * 0.9)]
    return f"median {statistics.median(samples):.2f} ms, p90 {p90:.2f} ms ({runs} runs)"


async def big_book(folder: Path) -> None:
    clock = ManualClock(START)
    path = folder / "big.db"
    store = await Store.open(path)
    exchange = await PaperExchange.open(
        store, seed=3, n_markets=1000, starting_cash=Decimal(1_000_000), clock=clock
    )
    markets = sorted(exchange.markets_snapshot().values(), key=lambda m: m.ticker)
    for i, market in enumerate(markets[:100]):
        ask = market.ask(Side.YES)
        assert ask is not None
        await exchange.place_order(
            OrderRequest(
                market=market.ticker, side=Side.YES, price=ask, quantity=5, client_order_id=f"p{i}"
            )
        )
    for i, market in enumerate(markets[100:150]):
        await exchange.place_order(
            OrderRequest(
                market=market.ticker,
                side=Side.NO,
                price=Decimal("0.01"),
                quantity=5,
                client_order_id=f"r{i}",
            )
        )
    print("2. sense: 1,000 markets, 100 positions, 50 resting orders")

    def stay() -> None:
        pass

    def step() -> None:
        clock.now += timedelta(minutes=5)

    def cycle() -> None:
        clock.now += timedelta(minutes=15)

    print("   (a) simulation current:   ", await timed(200, stay, lambda: sense(exchange)))
    print("   (b) one 5-minute step:    ", await timed(60, step, lambda: sense(exchange)))
    print("   (c) one 15-minute cycle:  ", await timed(60, cycle, lambda: sense(exchange)))
    scanner = PaperScanner(exchange, seed=3)

    async def scan() -> None:
        await scanner.scan(clock.now)

    async def fills() -> None:
        await exchange.get_fills(since=clock.now - timedelta(days=1))

    print("   scan of 1,000 markets:    ", await timed(60, stay, scan))
    print("   get_fills(last day):      ", await timed(60, stay, fills))
    print("   markets_snapshot():       ", await timed(200, stay, _snapshot(exchange)))
    await exchange.close()
    await store.close()

    began = time.perf_counter()
    store = await Store.open(path)
    reopened = await PaperExchange.open(
        store, seed=3, n_markets=1000, starting_cash=Decimal(1_000_000), clock=clock
    )
    print(f"3. re-open of that account: {(time.perf_counter() - began) * 1000:.0f} ms")
    await reopened.close()
    await store.close()


def _snapshot(exchange: PaperExchange) -> Callable[[], Awaitable[None]]:
    async def take() -> None:
        exchange.markets_snapshot()

    return take


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        await backtest(Path(folder))
        await big_book(Path(folder))


if __name__ == "__main__":
    asyncio.run(main())
