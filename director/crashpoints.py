"""Named phases where a test may kill the director, to prove a kill -9 there loses nothing.

`OMEGA_TEST_CRASH_AT=<phase>` makes the process SIGKILL itself the moment it reaches that
phase: no `finally`, no flush, exactly what a power cut or the OOM killer does. Unset (always,
outside the chaos tests) a crash point is one environment lookup. Phases are
"<path>:<step>", e.g. "cycle:thought", "cycle:sent", "approval:answered" (see PHASES).
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable

log = logging.getLogger(__name__)

ENV = "OMEGA_TEST_CRASH_AT"

PHASES = (
    "cycle:started",  # the cycle is recorded `running`, nothing sensed
    "cycle:thought",  # a plan exists, nothing recorded of it
    "cycle:requested",  # the order action is recorded `requested`, not sent
    "cycle:sent",  # recorded `sent`, the create not yet on the wire
    "cycle:answered",  # the exchange answered, the answer not yet recorded
    "cycle:recorded",  # the answer is recorded, the cycle not finished
    "approval:claimed",  # a press took the approval (`executing`), nothing re-checked
    "approval:requested",
    "approval:sent",
    "approval:answered",
    "approval:recorded",
)


# An in-process stand-in for the kill, for the soak benchmark (benchmarks/bench_soak.py): it
# raises an exception no code catches, so nothing more is written — what a kill leaves.
_hook: Callable[[str], None] | None = None


def set_crash_hook(hook: Callable[[str], None] | None) -> None:
    global _hook
    _hook = hook


def crash_point(phase: str) -> None:
    if _hook is not None:
        _hook(phase)
    if os.environ.get(ENV) == phase:
        log.warning("crash point %s: killing this process (test)", phase)
        os.kill(os.getpid(), signal.SIGKILL)
