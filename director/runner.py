"""The loop without Telegram: a cycle at once, then one every interval, reported to a Reporter.

SIGINT or SIGTERM stops it cleanly between cycles: a running cycle finishes and is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import timedelta

from director.director import CycleInProgress, Director

log = logging.getLogger(__name__)


async def run_loop(
    director: Director,
    *,
    interval_s: float,
    max_cycles: int | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Run cycles until stopped (or `max_cycles` ran); returns the number of cycles run."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
    ran = 0
    try:
        while not stop.is_set():
            director.next_cycle_at = director.clock() + timedelta(seconds=interval_s)
            try:
                await director.run_cycle("schedule")
            except CycleInProgress:
                log.info("previous cycle still running; skipped this tick")
            except Exception:
                # run_cycle records and reports its own failures; this is a last resort so a
                # bug can never end an unattended loop.
                log.exception("cycle crashed")
            ran += 1
            if max_cycles is not None and ran >= max_cycles:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
    if stop.is_set():
        log.info("stopped between cycles after %d cycle(s)", ran)
    return ran
