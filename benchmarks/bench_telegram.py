"""The operator's phone over a day: how often it rings, and whether anything is lost.

1. Notifications per day at OMEGA_REPORT=every on the paper default: the real director (rules
   brain, paper exchange, auto autonomy, a 15-minute cycle) runs one simulated day (96 cycles)
   and reports through the real Telegram reporter, outbox, send path and PTB Bot to the Bot API
   stand-in. Prints the messages that notified audibly and those sent silently (target: ≤ 10
   audible, every cycle report delivered).
2. The same day against a Bot API that answers 429 (retry_after 1 s) to 20% of calls, seeded:
   prints the delivery rate of reports and approval requests (target 100%). The retry waits
   are not slept (the policy's sleep is injected); they are summed and printed.

Run: .venv/bin/python benchmarks/bench_telegram.py [--cycles 96] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telegram import Bot
from telegram.request import HTTPXRequest

from bot.outbox import Outbox
from bot.reporter import TelegramReporter
from bot.retry import RetryPolicy
from bot.send import Sender
from director.app import build_director
from director.settings import Settings
from tests.clocks import ManualClock
from tests.telegram_standin import TelegramStandIn

CHAT = 1001
START = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)


@dataclass
class DayFigures:
    cycles: int
    reports: int
    with_actions: int
    audible: int
    silent: int
    approvals_requested: int
    approvals_delivered: int
    calls: int
    throttled: int
    waited_seconds: float


async def one_day(cycles: int, throttle: float, seed: int) -> DayFigures:
    waited: list[float] = []

    async def no_wait(seconds: float) -> None:  # the 429s' waits, counted instead of slept
        waited.append(seconds)
        await asyncio.sleep(0)

    with tempfile.TemporaryDirectory() as tmp, TelegramStandIn() as tg:
        settings = Settings(
            _env_file=None,
            db_path=Path(tmp) / "omega.db",
            exchange="paper",
            brain="rules",
            cycle_seconds=900,
            review_schedule_text="off",
        )
        request = HTTPXRequest(connection_pool_size=4)
        async with Bot(tg.token, base_url=tg.base_url, request=request) as bot:
            policy = RetryPolicy(attempts=20, deadline_seconds=3600.0)
            sender = Sender(bot, policy=policy, brief=policy, sleep=no_wait)
            outbox = Outbox(capacity=10_000)
            outbox.start()
            outbox.open()
            reporter = TelegramReporter(sender, CHAT, outbox, report="every")
            clock = ManualClock(START)
            director = await build_director(settings, reporter, clock=clock)
            reporter.bind(director.queries, clock)
            requested = 0
            try:
                if throttle:
                    tg.throttle(throttle, retry_after=1, seed=seed)
                for _ in range(cycles):
                    report = await director.run_cycle("schedule")
                    requested += sum(1 for o in report.outcomes if o.approval_id is not None)
                    await outbox.join()
                    clock.now += timedelta(seconds=settings.cycle_seconds)
            finally:
                await outbox.close(30)
                await director.close()
        messages = tg.bot_messages(CHAT)
        return DayFigures(
            cycles=cycles,
            reports=sum(1 for m in messages if m.text.startswith("🔁 Cycle #")),
            with_actions=sum(
                1
                for m in messages
                if m.text.startswith("🔁 Cycle #") and "Actions: none" not in m.text
            ),
            audible=sum(1 for m in messages if not m.silent),
            silent=sum(1 for m in messages if m.silent),
            approvals_requested=requested,
            approvals_delivered=sum(1 for m in messages if "Approval needed #" in m.text),
            calls=len(tg.requests),
            throttled=sum(1 for r in tg.requests if r.outcome == "error 429"),
            waited_seconds=sum(waited),
        )


async def main(cycles: int, seed: int) -> None:
    quiet = await one_day(cycles, 0.0, seed)
    print(f"1. OMEGA_REPORT=every, paper default, {quiet.cycles} cycles (one day at 15 min):")
    print(
        f"   notifications: {quiet.audible} audible (target ≤ 10), {quiet.silent} silent;"
        f" cycle reports delivered {quiet.reports}/{quiet.cycles} ({quiet.with_actions} with"
        " actions);"
        f" approval requests {quiet.approvals_delivered}/{quiet.approvals_requested}"
    )
    flaky = await one_day(cycles, 0.2, seed)
    expected = flaky.cycles + flaky.approvals_requested
    delivered = flaky.reports + flaky.approvals_delivered
    rate = 100.0 * delivered / expected if expected else 100.0
    print(f"2. The same day, the Bot API answering 429 to 20% of calls (seed {seed}):")
    print(
        f"   {flaky.throttled} of {flaky.calls} calls answered 429 ({flaky.waited_seconds:.0f} s"
        f" of retry_after honoured); delivered {delivered}/{expected} = {rate:.1f}%"
        " (target 100%)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=96)
    parser.add_argument("--seed", type=int, default=7)
    options = parser.parse_args()
    asyncio.run(main(options.cycles, options.seed))
