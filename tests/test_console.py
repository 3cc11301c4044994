from __future__ import annotations

import io
import os
from decimal import Decimal

import pytest

from director import console_input
from director.console import ConsoleReporter
from director.console_input import HELP, ConsoleCommands
from director.reporting import ApprovalDecision, ApprovalRequest
from tests.builders import NOW


def parked(approval_id: int = 3) -> ApprovalRequest:
    return ApprovalRequest(
        approval_id=approval_id,
        action_id=9,
        cycle_id=2,
        description="place_order(KXA yes 0.40×100)",
        reason="cost $40.28 above the approval threshold $25",
        cost=Decimal("40.28"),
        expires_at=NOW,
    )


async def test_a_parked_action_says_how_to_decide_it() -> None:
    out = io.StringIO()
    reporter = ConsoleReporter(out)
    await reporter.approval_requested(parked())
    reporter.interactive = True
    await reporter.approval_requested(parked())
    first, second = out.getvalue().splitlines()
    head = (
        "[APPROVAL #3] place_order(KXA yes 0.40×100) waits: cost $40.28 above the approval "
        f"threshold $25 (expires {NOW:%H:%M} UTC; "
    )
    assert first == head + "decide it in `omega-director run` (type `approve 3`) or in Telegram)"
    assert second == head + "type `approve 3` or `reject 3`)"


class Desk:
    def __init__(self, pending: list[ApprovalRequest] | None = None) -> None:
        self.pending = pending or []
        self.decided: list[tuple[int, str, bool]] = []
        self.fail = False

    async def pending_approvals(self) -> list[ApprovalRequest]:
        return self.pending

    async def decide_approval(self, approval_id: int, user: str, approve: bool) -> ApprovalDecision:
        if self.fail:
            raise RuntimeError("database is locked")
        self.decided.append((approval_id, user, approve))
        verb = "Approved" if approve else "Rejected"
        return ApprovalDecision(approval_id, True, verb.lower(), f"{verb} by {user}.")


async def test_typed_decisions_go_to_the_director_as_the_console_user() -> None:
    out, desk = io.StringIO(), Desk()
    commands = ConsoleCommands(desk, out, who="console (ana)")
    for line in ("approve 3\n", "  REJECT #4 ", "\n"):
        await commands.handle(line)
    assert desk.decided == [(3, "console (ana)", True), (4, "console (ana)", False)]
    assert out.getvalue().splitlines() == [
        "[APPROVAL #3] Approved by console (ana).",
        "[APPROVAL #4] Rejected by console (ana).",
    ]


async def test_pending_help_and_unknown_commands() -> None:
    out, desk = io.StringIO(), Desk([parked(3), parked(5)])
    commands = ConsoleCommands(desk, out, who="console")
    await commands.handle("pending")
    await commands.handle("approve three")
    await commands.handle("help")
    assert out.getvalue().splitlines() == [
        "[PENDING] 2 waiting:",
        f"  #3 place_order(KXA yes 0.40×100): cost $40.28 above the approval threshold $25 "
        f"(expires {NOW:%H:%M} UTC)",
        f"  #5 place_order(KXA yes 0.40×100): cost $40.28 above the approval threshold $25 "
        f"(expires {NOW:%H:%M} UTC)",
        "[CONSOLE] Unknown command 'approve three'.",
        HELP,
        HELP,
    ]
    assert desk.decided == []
    desk.pending = []
    await commands.handle("pending")
    assert out.getvalue().splitlines()[-1] == "[PENDING] Nothing waits for approval."


async def test_a_failing_command_is_reported_not_raised() -> None:
    out, desk = io.StringIO(), Desk()
    desk.fail = True
    await ConsoleCommands(desk, out, who="console").handle("approve 1")
    assert out.getvalue() == "[CONSOLE] 'approve 1' failed (RuntimeError); it is logged.\n"


def test_without_a_terminal_nothing_is_read() -> None:
    assert ConsoleCommands(Desk(), io.StringIO()).attach(io.StringIO("approve 1\n")) is False


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return 0


def test_started_in_the_background_of_a_shell_nothing_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Reading the terminal from a background job would stop the process (SIGTTIN).
    monkeypatch.setattr(console_input.os, "tcgetpgrp", lambda fd: os.getpgrp() + 1)
    assert ConsoleCommands(Desk(), io.StringIO()).attach(FakeTerminal()) is False
