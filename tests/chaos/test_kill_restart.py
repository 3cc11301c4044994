"""kill -9 at every phase of a cycle, restarted at once (the way systemd restarts a service),
against a Kalshi stand-in whose creates take 1.5 s to land: never two orders for one intended
action, and after reconciliation the record is what the stand-in holds."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
from pathlib import Path

import pytest

from tests.chaos.harness import CREATE_LATENCY_S, assert_records_match, kalshi_venue, rows

pytestmark = pytest.mark.chaos

QUICK_LATENCY_S = 0.2

PHASES = [
    "cycle:started",
    "cycle:thought",
    "cycle:requested",
    "cycle:sent",
    "cycle:answered",
    "cycle:recorded",
]


@pytest.mark.parametrize("phase", PHASES)
def test_a_kill_at_each_phase_of_a_cycle_then_an_immediate_restart_places_nothing_twice(
    tmp_path: Path, phase: str
) -> None:
    # The create's latency only matters when the kill lands while it is in flight (below).
    with kalshi_venue(tmp_path, latency=QUICK_LATENCY_S) as venue:
        killed = venue.run("cycle", OMEGA_TEST_CRASH_AT=phase)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        again = venue.run("cycle")
        assert again.returncode == 0, again.stderr
        placed = assert_records_match(venue)
        # The restarted cycle traded what was left, once each.
        assert sum(placed.values()) >= 1
        interrupted = rows(venue.db, "SELECT status FROM cycles ORDER BY id")
        assert [r["status"] for r in interrupted] == ["interrupted", "done"]


def test_a_kill_while_the_create_is_in_flight_finds_the_order_when_it_lands(
    tmp_path: Path,
) -> None:
    """The issue's first finding: the create is on the wire when the process dies, and lands
    1.5 s later; the restart reaches its own first create long before that."""
    with kalshi_venue(tmp_path) as venue:
        proc = venue.start("cycle")
        try:
            # A gate, not a sleep: the stand-in says the create arrived.
            assert venue.standin.create_received.wait(60), "no create reached the stand-in"
        finally:
            proc.kill()
            proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        [first] = venue.standin.calls("create")
        first_coid = first.body["client_order_id"] if first.body else ""
        assert venue.standin.orders_with_client_id(first_coid) == []  # not landed yet
        again = venue.run("cycle")
        assert again.returncode == 0, again.stderr
        [landed] = venue.standin.orders_with_client_id(first_coid)
        [action] = rows(venue.db, "SELECT * FROM actions WHERE client_order_id = ?", (first_coid,))
        assert action["order_id"] == landed.order_id and action["exec_state"] == "reconciled"
        assert "found on the exchange" in action["exec_detail"]
        assert_records_match(venue)


def test_sigterm_during_a_one_shot_cycle_records_the_order_in_flight_and_the_cycle(
    tmp_path: Path,
) -> None:
    with kalshi_venue(tmp_path) as venue:
        proc = venue.start("cycle")
        assert venue.standin.create_received.wait(60), "no create reached the stand-in"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 128 + signal.SIGTERM, err
        assert "cycle stopped by SIGTERM" in err
        [cycle] = rows(venue.db, "SELECT * FROM cycles")
        assert cycle["status"] == "interrupted" and cycle["error"] == "stopped by SIGTERM"
        # The create in flight was answered and recorded with its order id before exiting.
        [sent] = [r for r in rows(venue.db, "SELECT * FROM actions") if r["exec_state"]]
        assert sent["exec_state"] == "acknowledged" and sent["order_id"], dict(sent)
        assert_records_match(venue)


APPROVAL_PHASES = [
    "approval:claimed",
    "approval:requested",
    "approval:sent",
    "in-flight",
    "approval:answered",
    "approval:recorded",
]


@pytest.mark.parametrize("phase", APPROVAL_PHASES)
def test_a_kill_at_each_phase_of_an_approved_execution_settles_it_at_restart(
    tmp_path: Path, phase: str
) -> None:
    """Approved at the console of a running director, killed mid-execution, restarted: the
    approval is never left `executing`, and it says what the stand-in holds."""
    latency = CREATE_LATENCY_S if phase == "in-flight" else QUICK_LATENCY_S
    with kalshi_venue(tmp_path, latency=latency) as venue:
        parked = venue.run("cycle", OMEGA_AUTONOMY="confirm")
        assert parked.returncode == 0 and "[APPROVAL #1]" in parked.stdout, parked.stderr
        assert venue.standin.calls("create") == []
        controller, terminal = pty.openpty()
        crash = {} if phase == "in-flight" else {"OMEGA_TEST_CRASH_AT": phase}
        proc = venue.start(
            "run", "--interval", "3600", stdin=terminal, OMEGA_AUTONOMY="confirm", **crash
        )
        os.close(terminal)
        try:
            read_until(proc, "[CONSOLE] Commands")
            read_until(proc, "[ACT]")
            os.write(controller, b"approve 1\n")
            if phase == "in-flight":
                assert venue.standin.create_received.wait(60), "no create reached the stand-in"
                proc.kill()
            proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=30)
            os.close(controller)
        assert proc.returncode == -signal.SIGKILL
        again = venue.run("cycle", OMEGA_AUTONOMY="confirm")
        assert again.returncode == 0, again.stderr
        [approval] = rows(venue.db, "SELECT * FROM approvals WHERE id = 1")
        [action] = rows(venue.db, "SELECT * FROM actions WHERE id = ?", (approval["action_id"],))
        placed = venue.standin.orders_with_client_id(action["client_order_id"])
        assert approval["status"] == ("approved" if placed else "failed"), dict(approval)
        assert approval["result"], dict(approval)
        assert_records_match(venue)
        if phase in ("approval:claimed", "approval:requested"):
            assert placed == [] and "before it was sent" in approval["result"]
        elif phase == "approval:sent":  # recorded `sent`, killed before the wire
            assert placed == [] and "never placed" in approval["result"]
        else:
            assert len(placed) == 1 and action["order_id"] == placed[0].order_id


def read_until(proc: subprocess.Popen[str], prefix: str) -> str:
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith(prefix):
            return line
    raise AssertionError(f"no line starting {prefix!r} in:\n{''.join(seen)}")
