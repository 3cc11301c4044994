"""Typed commands for the console loop, so an operator without Telegram can decide approvals.

`omega-director run` without a bot token reads lines from a terminal on its standard input:
`approve N`, `reject N`, `pending` and `help`. The decision goes through the same
Director.decide_approval as a Telegram press (one decision wins, a re-check on fresh state
first), and whoever can type here can open the database anyway, so no further authorization.
Without a terminal (a service, a container, a pipe), or when started in the background of a
shell, nothing is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import os
import re
import sys
from typing import Protocol, TextIO

from director.reporting import ApprovalDecision, ApprovalRequest

log = logging.getLogger(__name__)

HELP = (
    "Commands: `approve N` / `reject N` (an approval's number), `pending` (what waits), "
    "`help`. Ctrl-C stops between cycles."
)
_DECIDE = re.compile(r"(approve|reject)\s+#?(\d{1,9})", re.IGNORECASE)


class ApprovalDesk(Protocol):
    async def pending_approvals(self) -> list[ApprovalRequest]: ...

    async def decide_approval(
        self, approval_id: int, user: str, approve: bool
    ) -> ApprovalDecision: ...


def console_user() -> str:
    try:
        return f"console ({getpass.getuser()})"
    except Exception:  # no user name in this environment
        return "console"


class ConsoleCommands:
    def __init__(self, desk: ApprovalDesk, out: TextIO | None = None, who: str = "") -> None:
        self._desk = desk
        self._out = out or sys.stdout
        self._who = who or console_user()
        self._tasks: set[asyncio.Task[None]] = set()

    def _print(self, text: str) -> None:
        print(text, file=self._out, flush=True)

    async def handle(self, line: str) -> None:
        """One typed line; never raises (a failure is printed and logged)."""
        text = line.strip()
        if not text:
            return
        try:
            await self._dispatch(text)
        except Exception as exc:
            log.exception("console command %r failed", text[:80])
            self._print(f"[CONSOLE] {text[:40]!r} failed ({type(exc).__name__}); it is logged.")

    async def _dispatch(self, text: str) -> None:
        if match := _DECIDE.fullmatch(text):
            approve = match[1].lower() == "approve"
            decision = await self._desk.decide_approval(int(match[2]), self._who, approve)
            self._print(f"[APPROVAL #{decision.approval_id}] {decision.message}")
            return
        if text.lower() == "pending":
            self._print(format_pending(await self._desk.pending_approvals()))
            return
        if text.lower() != "help":
            self._print(f"[CONSOLE] Unknown command {text[:40]!r}.")
        self._print(HELP)

    def attach(self, stdin: TextIO | None = None) -> bool:
        """Read commands from `stdin` (a terminal) as lines arrive; False if it is not one."""
        stdin = stdin or sys.stdin
        try:
            if not stdin.isatty():
                return False
            fd = stdin.fileno()
        except (AttributeError, OSError, ValueError):
            return False
        if _in_background(fd):
            return False
        loop = asyncio.get_running_loop()

        def readable() -> None:
            line = stdin.readline()
            if not line:  # end of input: stop listening, keep running
                loop.remove_reader(fd)
                return
            task = loop.create_task(self.handle(line))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        try:
            loop.add_reader(fd, readable)
        except (NotImplementedError, OSError):  # a loop without add_reader
            return False
        self._print(f"[CONSOLE] {HELP}")
        return True

    async def close(self, stdin: TextIO | None = None) -> None:
        """Stop reading and let the commands already typed finish (before the store closes)."""
        stdin = stdin or sys.stdin
        with contextlib.suppress(AttributeError, OSError, ValueError, NotImplementedError):
            asyncio.get_running_loop().remove_reader(stdin.fileno())
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _in_background(fd: int) -> bool:
    """Started with `&` from a shell: reading the terminal would stop the process (SIGTTIN)."""
    try:
        return os.tcgetpgrp(fd) != os.getpgrp()
    except OSError:  # not our controlling terminal: no job control to fear
        return False


def format_pending(requests: list[ApprovalRequest]) -> str:
    if not requests:
        return "[PENDING] Nothing waits for approval."
    lines = [f"[PENDING] {len(requests)} waiting:"]
    for r in requests:
        lines.append(
            f"  #{r.approval_id} {r.description}: {r.reason} (expires {r.expires_at:%H:%M} UTC)"
        )
    return "\n".join(lines)
