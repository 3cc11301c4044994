from __future__ import annotations

import io
from decimal import Decimal

from director.console import ConsoleReporter
from director.reporting import ApprovalRequest
from tests.builders import NOW


async def test_a_parked_action_says_where_approvals_are_taken() -> None:
    out = io.StringIO()
    request = ApprovalRequest(
        approval_id=3,
        action_id=9,
        cycle_id=2,
        description="place_order(KXA yes 0.40×100)",
        reason="cost $40.28 above the approval threshold $25",
        cost=Decimal("40.28"),
        expires_at=NOW,
    )
    await ConsoleReporter(out).approval_requested(request)
    assert out.getvalue() == (
        "[APPROVAL #3] place_order(KXA yes 0.40×100) waits: cost $40.28 above the approval "
        f"threshold $25 (expires {NOW:%H:%M} UTC; only the Telegram bot takes approvals: set "
        "TELEGRAM_BOT_TOKEN)\n"
    )
