"""The local API's app in process (httpx over ASGI): bounds and refusals that the end-to-end
tests (tests/test_api_e2e.py) would take long to reach."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from director.api.app import create_app
from director.api.opportunities import ApiOpportunities
from director.director import Director
from director.heartbeats import Heartbeats
from director.models import Plan
from director.settings import Settings
from director.store import Store
from tests.builders import NOW, market
from tests.fakes import FakeExchange, RecordingReporter, ScriptedBrain

TOKEN = "in-process-token-0123"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    store = await Store.open(tmp_path / "o.db")
    director = Director(
        settings=Settings(_env_file=None, db_path=tmp_path / "o.db", api_token=TOKEN),
        store=store,
        exchange=FakeExchange(markets=[market("KXA")]),
        brain=ScriptedBrain(Plan(reasoning="idle")),
        reporter=RecordingReporter(),
        clock=lambda: NOW,
    )
    heartbeats, opportunities = Heartbeats(store, 60), ApiOpportunities(max_markets=2)
    director.senser.sources.append(opportunities)
    app = create_app(director, heartbeats, opportunities)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as api:
        yield {"api": api, "director": director, "opportunities": opportunities}
    await store.close()


def line(ticker: str, **extra: Any) -> dict[str, Any]:
    return {"market": ticker, "edge": 0.2, "confidence": 0.8, "expires_in_hours": 1, **extra}


async def test_the_opportunity_book_is_bounded_and_the_freshest_line_wins(
    env: dict[str, Any],
) -> None:
    api = env["api"]
    answer = (await api.post("/v1/opportunities", json=[line("KXA"), line("KXB")])).json()
    assert answer == {"accepted": 2, "rejected": []}
    full = (await api.post("/v1/opportunities", json=[line("KXC"), line("KXA", edge=0.3)])).json()
    assert full["accepted"] == 1 and full["rejected"][0]["index"] == 0
    assert "too many markets (2)" in full["rejected"][0]["error"]
    kept = await env["opportunities"].opportunities(NOW)
    assert [(o.market, str(o.edge), o.source) for o in kept] == [
        ("KXA", "0.3", "api"),
        ("KXB", "0.2", "api"),
    ]
    state = (await api.get("/v1/state")).json()
    assert [o["market"] for o in state["active_opportunities"]] == ["KXA"]  # KXB: no such market


async def test_oversized_bodies_and_too_many_lines_are_refused(env: dict[str, Any]) -> None:
    api = env["api"]
    huge = await api.post(
        "/v1/opportunities",
        content=b"[" + b'"x",' * 400_000 + b'"x"]',
        headers={"Content-Type": "application/json"},
    )
    assert huge.status_code == 413 and "larger than" in huge.json()["error"]

    async def chunks() -> Any:  # no Content-Length: the cap must hold while reading
        for _ in range(300):
            yield b'"x",' * 1000

    chunked = await api.post(
        "/v1/opportunities", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert chunked.status_code == 413 and "larger than" in chunked.json()["error"]
    many = await api.post("/v1/opportunities", json=[line("KXA")] * 1001)
    assert many.status_code == 422 and "at most 1000" in many.json()["error"]
    assert await env["opportunities"].opportunities(NOW) == []


async def test_an_unknown_action_type_or_field_is_a_422_naming_it(env: dict[str, Any]) -> None:
    api = env["api"]
    body = {"intent_id": "i1", "source": "s", "action_type": "buy_everything", "details": {}}
    answer = await api.post("/v1/intents", json=body)
    assert answer.status_code == 422 and answer.json()["error"].startswith("action_type")
    answer = await api.post("/v1/intents", json={**body, "action_type": "do_nothing", "x": 1})
    assert answer.status_code == 422 and answer.json()["error"].startswith("x:")
    beat = {"name": "a", "every_seconds": 60, "status": "sleeping"}
    answer = await api.post("/v1/heartbeats", json=beat)
    assert answer.status_code == 422 and answer.json()["error"].startswith("status:")
