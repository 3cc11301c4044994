"""An exchange answer that lies is a failed source, never an empty portfolio: positions,
resting orders and balance answered 200 with an error body, `{}`, or wrong types. The cycle
names the failed source in health, proposes nothing from the unknown data (no buy, and no
"risk 1.00" sell-off of what is held), and sends nothing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from director.app import build_director
from director.settings import load_settings
from tests.chaos.harness import TICKERS, kalshi_venue
from tests.fakes import RecordingReporter
from tests.kalshi_standin import Canned

pytestmark = pytest.mark.chaos

ERROR_BODY = Canned.json({"error": {"code": "internal_error", "message": "try again"}})
EMPTY = Canned.json({})
WRONG_TYPES = {
    "balance": Canned.json({"balance": "lots", "balance_dollars": 12}),
    "positions": Canned.json({"market_positions": "none", "event_positions": {}, "cursor": 5}),
    "orders": Canned.json({"orders": {"a": 1}, "cursor": ""}),
}


@pytest.mark.parametrize("route", ["positions", "orders", "balance"])
@pytest.mark.parametrize("lie", ["error-body", "empty", "wrong-types"])
async def test_a_lying_answer_is_a_failed_source_and_nothing_is_proposed_from_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, route: str, lie: str
) -> None:
    with kalshi_venue(tmp_path, latency=0) as venue:
        # Something is held, so a $0 balance read as real would "reduce" it (risk 1.00).
        venue.standin.set_position(TICKERS[0], 40, Decimal("16.00"))
        reply = {"error-body": ERROR_BODY, "empty": EMPTY, "wrong-types": WRONG_TYPES[route]}[lie]
        venue.standin.script(route, reply, always=True)
        for name, value in venue.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        director = await build_director(load_settings(), RecordingReporter())
        try:
            report = await director.run_cycle("manual")
            state = await director.sense()
        finally:
            await director.close()
        assert report.error is None and report.state is not None
        assert report.state.degraded and f"{route} down" in report.state.health
        assert route in state.unknown_data
        assert report.outcomes == [], [o.description for o in report.outcomes]
        assert "no proposal from unknown data" in report.reasoning
        assert venue.standin.calls("create") == []
