"""A full 15,000-market Kalshi cycle against a stand-in that enforces the Basic tier's buckets.

The stand-in runs in its own process (tests/kalshi_standin.py --limits basic): Kalshi's token
buckets (read 200 tokens/s, write 100 tokens/s, one second of capacity) with per-endpoint costs
(10 by default), a 429 past them. What is measured is the client: it reads the account's limits
at start-up, then runs one cycle — the universe scan (every open event page, the books it
needs) and SENSE's reads (exchange status, balance, positions, resting orders, the quotes of
the markets in play), then the order books of `--books` markets, eight at a time (a scanner
walking depth; the generated universe holds no sure basket, so the scan itself asks for few):
concurrent callers sharing one bucket is where a client overruns a server. Three runs:

- cold: the buckets start full, as after start-up;
- drained: the client's read bucket starts empty, the rate-limit-bound case, compared with the
  floor the buckets allow (tokens spent / refill rate);
- traced: the drained run again under tracemalloc, for the client's peak Python memory.

Targets: 0 429s; drained wall time <= 1.15 x floor; peak memory < 150 MB.

    .venv/bin/python benchmarks/bench_kalshi_scan.py [--markets 15000] [--books 200]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from director.exchanges.kalshi import KalshiExchange
from director.exchanges.kalshi.auth import KalshiSigner
from director.scanners.kalshi_scanner import ScanResult, UniverseScanner
from tests.kalshi_standin import new_rsa_key, write_public_key

KEY_ID = "bench-key"
FLOOR_TARGET = 1.15
MEMORY_TARGET_MB = 150.0
SENSE_QUOTES = 100  # markets whose quotes SENSE reads (held, resting, in play)


@dataclass(frozen=True)
class Cycle:
    scan: ScanResult
    wall_s: float
    requests: int
    tokens: int
    rate_limited: int
    read_rate: float
    tier: str


async def read_books(exchange: KalshiExchange, tickers: list[str]) -> None:
    gate = asyncio.Semaphore(8)

    async def one(ticker: str) -> None:
        async with gate:
            await exchange.get_orderbook(ticker)

    await asyncio.gather(*(one(t) for t in tickers))


async def one_cycle(base_url: str, signer: KalshiSigner, *, drained: bool, books: int) -> Cycle:
    async with KalshiExchange(base_url=base_url, signer=signer) as exchange:
        limits = await exchange.load_limits()
        if drained:
            exchange.reads.drain()
        before_requests, before_tokens = exchange.stats.requests, exchange.stats.tokens
        started = time.perf_counter()
        scan = await UniverseScanner(exchange).scan()
        await exchange.trading_status()
        await exchange.get_balance()
        await exchange.get_positions()
        await exchange.get_resting_orders()
        legs = [leg.market for basket in scan.baskets for leg in basket.legs]
        await exchange.get_markets(legs[:SENSE_QUOTES])
        tickers = [m.ticker async for m in exchange.iter_markets()][:books]
        await read_books(exchange, tickers)
        wall = time.perf_counter() - started
        return Cycle(
            scan=scan,
            wall_s=wall,
            requests=exchange.stats.requests - before_requests,
            tokens=exchange.stats.tokens - before_tokens,
            rate_limited=exchange.stats.rate_limited,
            read_rate=limits.read.refill_rate,
            tier=limits.tier,
        )


def report(name: str, cycle: Cycle) -> float:
    floor = cycle.tokens / cycle.read_rate
    ratio = cycle.wall_s / floor if floor else float("nan")
    scan = cycle.scan
    print(
        f"{name:8s} {scan.markets_scanned:6d} markets {scan.events_scanned:5d} events "
        f"{cycle.requests:4d} requests {cycle.tokens:6d} tokens  429s {cycle.rate_limited}  "
        f"wall {cycle.wall_s:6.2f}s  floor {floor:6.2f}s  ratio {ratio:4.2f}x  "
        f"baskets {len(scan.baskets)}  errors {scan.errors}  complete {scan.complete}"
    )
    return ratio


def serve(markets: int, public: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests" / "kalshi_standin.py"),
            "--markets",
            str(markets),
            "--public-key",
            str(public),
            "--key-id",
            KEY_ID,
            "--limits",
            "basic",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=15_000)
    parser.add_argument("--books", type=int, default=200, help="order books read per cycle")
    args = parser.parse_args()

    key = new_rsa_key()
    signer = KalshiSigner(KEY_ID, key)
    with tempfile.TemporaryDirectory() as folder:
        server = serve(args.markets, write_public_key(key, Path(folder) / "bench.pub"))
        try:
            assert server.stdout is not None and server.stdin is not None
            base_url = server.stdout.readline().strip()
            if not base_url.startswith("http"):
                print("the stand-in did not start", file=sys.stderr)
                return 1
            print(f"stand-in {base_url}, {args.markets} markets, Basic-tier buckets enforced")
            cold = asyncio.run(one_cycle(base_url, signer, drained=False, books=args.books))
            print(f"tier {cold.tier}: read refill {cold.read_rate:g} tokens/s")
            report("cold", cold)
            time.sleep(1.5)  # let the server's bucket refill between runs
            drained = asyncio.run(one_cycle(base_url, signer, drained=True, books=args.books))
            ratio = report("drained", drained)
            time.sleep(1.5)
            tracemalloc.start()
            traced = asyncio.run(one_cycle(base_url, signer, drained=True, books=args.books))
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            report("traced", traced)
            server.stdin.close()
            refused_line = server.stdout.readline().strip()
        finally:
            if server.stdin is not None and not server.stdin.closed:
                server.stdin.close()
            server.wait(timeout=10)
    peak_mb = peak / 2**20
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    limited = cold.rate_limited + drained.rate_limited + traced.rate_limited
    print(f"server side: {refused_line or 'no count'}; client saw {limited} 429s")
    print(f"peak Python memory (tracemalloc) {peak_mb:.1f} MB; process max RSS {rss_mb:.1f} MB")
    ok = limited == 0 and ratio <= FLOOR_TARGET and max(peak_mb, rss_mb) < MEMORY_TARGET_MB
    print(
        f"targets: 0 429s, drained <= {FLOOR_TARGET}x floor, memory < {MEMORY_TARGET_MB:g} MB: "
        f"{'met' if ok else 'MISSED'}"
    )
    return 0 if ok and drained.scan.complete and drained.scan.errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
