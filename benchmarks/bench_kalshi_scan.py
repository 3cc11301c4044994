"""Full scan of a 15,000-market Kalshi universe with the Basic-tier limits on.

The stand-in runs in its own process (tests/kalshi_standin.py), so what is measured here is the
client: signing, pacing, HTTP, parsing and the scanner. Three runs:

- cold: the bucket starts full, as it does for the hourly scan;
- drained: the bucket starts empty, so every page waits for its token: the rate-limit-bound
  case, compared with the floor (pages / reads per second);
- traced: the drained run again under tracemalloc, for the client's peak Python memory.

Targets: drained wall time <= 1.5 x floor; peak memory < 150 MB.

    .venv/bin/python benchmarks/bench_kalshi_scan.py [--markets 15000] [--reads 20]
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from director.exchanges.kalshi import KalshiExchange
from director.exchanges.kalshi_auth import KalshiSigner
from director.scanners.kalshi_scanner import ScanResult, UniverseScanner
from tests.kalshi_standin import new_rsa_key, write_public_key

KEY_ID = "bench-key"
FLOOR_TARGET = 1.5
MEMORY_TARGET_MB = 150.0


async def scan(
    base_url: str, signer: KalshiSigner, reads: float, *, drained: bool
) -> tuple[ScanResult, float]:
    async with KalshiExchange(
        base_url=base_url, signer=signer, reads_per_second=reads, writes_per_second=10
    ) as exchange:
        if drained:
            exchange.reads.drain()
        started = time.perf_counter()
        result = await UniverseScanner(exchange).scan()
        return result, time.perf_counter() - started


def report(name: str, result: ScanResult, wall: float, reads: float) -> float:
    floor = result.pages / reads
    ratio = wall / floor if floor else float("nan")
    print(
        f"{name:8s} {result.markets_scanned:6d} markets {result.events_scanned:5d} events "
        f"{result.pages:3d} pages  wall {wall:6.3f}s  floor {floor:6.3f}s  "
        f"ratio {ratio:4.2f}x  errors {result.errors}  opportunities "
        f"{len(result.opportunities)}"
    )
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=15_000)
    parser.add_argument("--reads", type=float, default=20.0, help="reads per second (Basic: 20)")
    args = parser.parse_args()

    key = new_rsa_key()
    signer = KalshiSigner(KEY_ID, key)
    with tempfile.TemporaryDirectory() as folder:
        public = write_public_key(key, Path(folder) / "bench.pub")
        server = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests" / "kalshi_standin.py"),
                "--markets",
                str(args.markets),
                "--public-key",
                str(public),
                "--key-id",
                KEY_ID,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            base_url = server.stdout.readline().strip()
            if not base_url.startswith("http"):
                print("the stand-in did not start", file=sys.stderr)
                return 1
            print(f"stand-in {base_url}, {args.markets} markets, {args.reads:g} reads/s")
            cold, cold_wall = asyncio.run(scan(base_url, signer, args.reads, drained=False))
            report("cold", cold, cold_wall, args.reads)
            drained, drained_wall = asyncio.run(scan(base_url, signer, args.reads, drained=True))
            ratio = report("drained", drained, drained_wall, args.reads)
            tracemalloc.start()
            traced, traced_wall = asyncio.run(scan(base_url, signer, args.reads, drained=True))
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            report("traced", traced, traced_wall, args.reads)
        finally:
            if server.stdin is not None:
                server.stdin.close()
            server.wait(timeout=10)
    peak_mb = peak / 2**20
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(f"peak Python memory (tracemalloc) {peak_mb:.1f} MB; process max RSS {rss_mb:.1f} MB")
    ok = ratio <= FLOOR_TARGET and max(peak_mb, rss_mb) < MEMORY_TARGET_MB
    print(
        f"targets: drained <= {FLOOR_TARGET}x floor, memory < {MEMORY_TARGET_MB:g} MB: "
        f"{'met' if ok else 'MISSED'}"
    )
    return 0 if ok and drained.complete and drained.errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
