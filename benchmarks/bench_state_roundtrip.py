"""/state round trip through the local Bot API stand-in while a cycle's brain call is in flight.

The real bot (PTB Application, rate limiter, concurrent updates) polls the stand-in over real
HTTP on 127.0.0.1; the real Director senses the paper exchange (40 markets) with its scanner.
The first cycle starts at once and its brain sleeps 20 s, as a slow AI call would. Meanwhile
the operator sends /state N times, one after another; a round trip is from the update being
queued at the stand-in to the bot's reply arriving there.

Target: median under 300 ms. Exits 1 if the median misses it or the cycle was not thinking
throughout.

Run: .venv/bin/python benchmarks/bench_state_roundtrip.py [--n 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path

# The stand-in lives with the tests; the benchmark drives the same one.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import BotTuning, OmegaBot
from director.app import assemble
from director.brains.base import ThinkContext, ThinkResult
from director.brains.rules import RulesBrain
from director.clock import wall_clock
from director.director import Director
from director.models import SystemState
from director.reporting import Reporter
from director.rulebook import RuleSet
from director.settings import Settings
from tests.telegram_standin import TelegramStandIn

OPERATOR = 1001
BRAIN_SECONDS = 20.0
TARGET_MS = 300.0


class SlowBrain:
    """The rules brain after a 20-second wait: a long AI call."""

    name = "slow-rules"

    def __init__(self, settings: Settings) -> None:
        self.rules = RulesBrain(settings)
        self.thinking = asyncio.Event()
        self.done = asyncio.Event()

    async def think(self, state: SystemState, rules: RuleSet, context: ThinkContext) -> ThinkResult:
        self.thinking.set()
        try:
            await asyncio.sleep(BRAIN_SECONDS)
            return await self.rules.think(state, rules, context)
        finally:
            self.done.set()

    async def close(self) -> None:
        return None


async def measure(n: int) -> tuple[list[float], bool]:
    with TelegramStandIn() as tg, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None,
            telegram_bot_token=tg.token,
            telegram_api_base_url=tg.base_url,
            allowed_users=[OPERATOR],
            db_path=Path(tmp) / "bench.db",
            exchange="paper",
            brain="rules",
            review_schedule_text="off",
        )
        brain = SlowBrain(settings)

        async def factory(reporter: Reporter) -> Director:
            # The live wiring with the slow brain; the director closes what it opened.
            return await assemble(
                settings, reporter, wall_clock, AsyncExitStack(), brains=lambda *_: (brain, None)
            )

        tuning = BotTuning(shutdown_grace_seconds=0.5, outbox_drain_seconds=1.0)
        bot = await OmegaBot.create(settings, tuning=tuning, director_factory=factory)
        try:
            if not await bot.start(asyncio.Event()):
                raise RuntimeError("the bot did not start")
            await asyncio.wait_for(brain.thinking.wait(), 10)
            await send_state(tg)  # warm-up: first-use costs are not the steady state
            timings = [await send_state(tg) for _ in range(n)]
            thinking_throughout = bot.director.running and not brain.done.is_set()
        finally:
            await bot.stop()
        return timings, thinking_throughout


async def send_state(tg: TelegramStandIn) -> float:
    before = tg.last_message_id(OPERATOR)
    started = time.perf_counter()
    tg.send_command(OPERATOR, "/state")
    while True:
        if any(
            m.message_id > before + 1 and m.text.startswith("📊 State of the Union")
            for m in tg.bot_messages(OPERATOR)
        ):
            return (time.perf_counter() - started) * 1000
        if time.perf_counter() - started > 30:
            raise TimeoutError("no /state reply within 30 s")
        await asyncio.sleep(0.001)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="round trips to time (default 50)")
    args = parser.parse_args()
    if args.n < 1:
        parser.error("--n must be at least 1")
    timings, thinking = asyncio.run(measure(args.n))
    timings.sort()
    p90 = timings[min(len(timings) - 1, int(len(timings) * 0.9))]
    median = statistics.median(timings)
    print(f"/state round trips while a {BRAIN_SECONDS:.0f}-second brain call is in flight")
    print(f"  n={len(timings)}  median={median:.1f} ms  p90={p90:.1f} ms")
    print(
        f"  min={timings[0]:.1f} ms  max={timings[-1]:.1f} ms  target: median < {TARGET_MS:.0f} ms"
    )
    print(f"  cycle still thinking after the last round trip: {'yes' if thinking else 'NO'}")
    ok = median < TARGET_MS and thinking
    print("  result:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
