"""The local API under load, against a real `omega-director run` (paper, rules brain, a cycle
every 2 s so cycles run throughout).

1. Intents: 5 concurrent clients send 50 intents/s in all for 20 s (open loop: each intent at
   its scheduled time, whatever the previous answer took); one in ten is sent again with the
   same intent_id. Prints the round-trip median and p99, and checks that no intent was lost
   (every one answered) or duplicated (one order per executed intent_id, none for a repeat).
2. Heartbeats: 500 beats/s from 5 clients over 50 script names for 10 s. Prints the rate
   achieved and the latency median/p99.
3. Memory: the director's resident memory without the API, with it idle, and after the load.

Run: .venv/bin/python benchmarks/bench_api.py
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.api_run import TOKEN, RunningDirector

CLIENTS = 5
INTENT_RATE = 50.0
INTENT_SECONDS = 20.0
BEAT_RATE = 500.0
BEAT_SECONDS = 10.0
AUTH = {"Authorization": f"Bearer {TOKEN}"}
KEEP_ALIVE_SECONDS = 3.0
CYCLE = re.compile(r"=== Omega Director Cycle #(\d+)")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def markets_to_trade(run: RunningDirector, n: int) -> list[str]:
    tickers = run.open_markets()[-n:]
    lines = [
        {"market": t, "edge": 0.05, "confidence": 0.5, "expires_in_hours": 2, "source": "bench"}
        for t in tickers
    ]
    async with httpx.AsyncClient(base_url=run.url, headers=AUTH) as api:
        answer = (await api.post("/v1/opportunities", json=lines)).json()
    assert answer["accepted"] == n, answer
    return tickers


def intent_bodies(client: int, tickers: list[str]) -> list[dict[str, Any]]:
    bodies = []
    for i in range(int(INTENT_SECONDS * INTENT_RATE / CLIENTS)):
        # One in ten is a retry of the one before: the same intent_id again.
        number = i - 1 if i % 10 == 9 else i
        bodies.append(
            {
                "intent_id": f"bench-{client}-{number}",
                "source": f"bench-{client}",
                "action_type": "place_order",
                "details": {
                    "market": tickers[i % len(tickers)],
                    "side": "yes",
                    "price": "0.99",
                    "quantity": 1,
                },
            }
        )
    return bodies


def beat_bodies(client: int) -> list[dict[str, Any]]:
    count = int(BEAT_SECONDS * BEAT_RATE / CLIENTS)
    return [{"name": f"script-{client}-{i % 10}", "every_seconds": 60} for i in range(count)]


def client_process(
    url: str, path: str, bodies: list[dict[str, Any]], rate: float, start_at: float
) -> list[Any]:
    """One client in its own process: each request at its scheduled time (open loop), over
    keep-alive connections opened as needed. A minimal HTTP/1.1 client, so that on a small
    machine the load generator is not what is measured."""
    return asyncio.run(_client(url, path, bodies, rate, start_at))


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.used_at = time.monotonic()

    async def post(self, path: str, body: bytes) -> tuple[int, Any]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        await self.writer.drain()
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return status, json.loads(await self.reader.readexactly(length))


async def _client(
    url: str, path: str, bodies: list[dict[str, Any]], rate: float, start_at: float
) -> list[Any]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    idle: list[_Connection] = []
    out: list[Any] = []

    async def one(body: dict[str, Any]) -> None:
        connection = None
        while idle and connection is None:
            candidate = idle.pop()
            if time.monotonic() - candidate.used_at < KEEP_ALIVE_SECONDS:
                connection = candidate
            else:  # the server may be closing it (uvicorn's keep-alive is 5 s): never reuse
                candidate.writer.close()
        if connection is None:
            connection = _Connection(*await asyncio.open_connection(host, int(port)))
        started = time.perf_counter()
        status, answer = await connection.post(path, json.dumps(body).encode())
        out.append((body, status, answer, (time.perf_counter() - started) * 1000))
        connection.used_at = time.monotonic()
        idle.append(connection)

    pending = []
    for i, body in enumerate(bodies):
        await asyncio.sleep(max(0.0, start_at + i / rate - time.time()))
        pending.append(asyncio.ensure_future(one(body)))
    await asyncio.gather(*pending)
    for connection in idle:
        connection.writer.close()
    return out


def load(run: RunningDirector, path: str, per_client: list[list[Any]], rate: float) -> list[Any]:
    """Run the clients at once; returns every (body, status code, answer, ms)."""
    start_at = time.time() + 1.0  # every process is up before the first request
    with ProcessPoolExecutor(len(per_client)) as pool:
        futures = [
            pool.submit(client_process, run.url, path, bodies, rate / len(per_client), start_at)
            for bodies in per_client
        ]
        return [answer for future in futures for answer in future.result()]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def check_intents(run: RunningDirector, answers: list[Any]) -> str:
    sent = int(INTENT_SECONDS * INTENT_RATE)
    assert len(answers) == sent, f"lost: {sent - len(answers)} unanswered"
    assert all(code == 200 for _, code, _, _ in answers), {code for _, code, _, _ in answers}
    by_id: dict[str, list[str]] = {}
    for body, _, answer, _ in answers:
        by_id.setdefault(body["intent_id"], []).append(answer["status"])
    firsts = [statuses for statuses in by_id.values()]
    repeats = sum(len(s) - 1 for s in firsts)
    duplicates = sum(s.count("duplicate") for s in firsts)
    executed = sum(1 for s in firsts if "executed" in s)
    orders = run.query("SELECT COUNT(*) FROM paper_orders WHERE client_order_id LIKE 'omega-%-0-%'")
    assert duplicates == repeats, (duplicates, repeats)
    assert orders[0][0] == executed, (orders, executed)
    statuses = {s for ss in firsts for s in ss}
    return (
        f"{len(by_id)} intent ids, {repeats} repeats all answered duplicate, {executed} executed "
        f"= {orders[0][0]} orders on the exchange (statuses seen: {', '.join(sorted(statuses))})"
    )


def intents_under_load(run: RunningDirector) -> None:
    tickers = asyncio.run(markets_to_trade(run, 20))
    cycles_before = len(CYCLE.findall(run.log()))
    cpu_before, t0 = cpu_seconds(run.pid), time.perf_counter()
    per_client = [intent_bodies(c, tickers) for c in range(CLIENTS)]
    answers = load(run, "/v1/intents", per_client, INTENT_RATE)
    wall, cpu = time.perf_counter() - t0 - 1.0, cpu_seconds(run.pid) - cpu_before
    latencies = [a[3] for a in answers]
    cycles = len(CYCLE.findall(run.log())) - cycles_before
    print(
        f"intents: {len(answers)} in {wall:.1f}s from {CLIENTS} client processes "
        f"({len(answers) / wall:.1f}/s), {cycles} cycles meanwhile: round trip median "
        f"{statistics.median(latencies):.1f} ms, p99 {pct(latencies, 0.99):.1f} ms, "
        f"max {max(latencies):.1f} ms; director CPU {cpu / wall:.0%}"
    )
    print(f"  no loss, no duplicate: {check_intents(run, answers)}")


def heartbeats_under_load(run: RunningDirector) -> None:
    cpu_before, t0 = cpu_seconds(run.pid), time.perf_counter()
    out = load(run, "/v1/heartbeats", [beat_bodies(c) for c in range(CLIENTS)], BEAT_RATE)
    wall, cpu = time.perf_counter() - t0 - 1.0, cpu_seconds(run.pid) - cpu_before
    assert all(code == 200 for _, code, _, _ in out)
    latencies = [o[3] for o in out]
    print(
        f"heartbeats: {len(out)} in {wall:.1f}s ({len(out) / wall:.0f}/s, asked {BEAT_RATE:g}/s) "
        f"from {CLIENTS} client processes: latency median {statistics.median(latencies):.1f} ms,"
        f" p99 {pct(latencies, 0.99):.1f} ms; director CPU {cpu / wall:.0%}"
    )


def memory_without_api(workdir: Path) -> int:
    ready = re.compile(r"=== Omega Director Cycle #3 ")
    env = {"OMEGA_API_TOKEN": ""}
    with RunningDirector(workdir, env=env, args=("--interval", "2"), ready=ready) as run:
        return run.rss_kib()


def main() -> None:
    with tempfile.TemporaryDirectory() as base:
        plain = Path(base, "plain")
        plain.mkdir()
        without = memory_without_api(plain)
        loaded = Path(base, "api")
        loaded.mkdir()
        ready = re.compile(r"=== Omega Director Cycle #3 ")
        with RunningDirector(loaded, args=("--interval", "2"), ready=ready) as run:
            idle = run.rss_kib()
            intents_under_load(run)
            heartbeats_under_load(run)
            after = run.rss_kib()
    print(
        f"memory (RSS at cycle 3): without the API {without / 1024:.1f} MB; with it idle "
        f"{idle / 1024:.1f} MB (+{(idle - without) / 1024:.1f} MB); after the load "
        f"{after / 1024:.1f} MB (+{(after - without) / 1024:.1f} MB)"
    )


if __name__ == "__main__":
    main()
