"""`omega-director cycle`: one cycle now, and a stop request (SIGTERM, SIGINT) that leaves an
honest record.

A stop cancels the cycle: an order already on its way finishes and its answer is recorded
(director/execution.py shields it), nothing new is sent, and the cycle is recorded
`interrupted` with the signal that stopped it — never left `running`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from director.director import Director

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def run_one_cycle(director: Director) -> int:
    """Exit code: 0 for a cycle that ran, 1 for one that failed, 128 + signal when stopped."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(director.run_cycle("manual"))
    stopped: list[signal.Signals] = []

    def stop(signum: signal.Signals) -> None:
        if stopped:
            # A second stop must not cut short the wait for an order in flight.
            log.warning("%s again: still recording the order in flight", signum.name)
            return
        log.warning("%s: stopping the cycle (an order in flight is recorded)", signum.name)
        stopped.append(signum)
        task.cancel()

    installed = []
    for signum in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop, signum)
            installed.append(signum)
    try:
        report = await task
    except asyncio.CancelledError:
        if not stopped:
            raise
        await record_interrupted(director, f"stopped by {stopped[0].name}")
        print(f"omega-director: cycle stopped by {stopped[0].name}", file=sys.stderr)
        return 128 + int(stopped[0])
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
    return 1 if report.error else 0


async def record_interrupted(director: Director, why: str) -> int:
    """Mark this process's running cycle interrupted, saying why."""
    return await director.store.fail_running_cycles(director.clock(), why)
