"""End to end through real HTTP to a running `omega-director run` (paper exchange, rules brain,
the Telegram Bot API stand-in): the local API, heartbeats and the watchdog, intents through the
guard, the CLI for shell scripts."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api_run import OPERATOR, TOKEN, RunningDirector
from tests.telegram_standin import StoredMessage, TelegramStandIn

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def tg() -> Iterator[TelegramStandIn]:
    with TelegramStandIn() as standin:
        yield standin


@pytest.fixture(scope="module")
def run(tg: TelegramStandIn, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDirector]:
    workdir = tmp_path_factory.mktemp("api-e2e")
    with RunningDirector(workdir, telegram=(tg.base_url, tg.token)) as director:
        yield director


@pytest.fixture
async def api(run: RunningDirector) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=run.url, headers=AUTH, timeout=30) as client:
        yield client


def messages_with(tg: TelegramStandIn, text: str) -> list[StoredMessage]:
    return [m for m in tg.bot_messages(OPERATOR) if text in m.text]


async def a_fresh_market(run: RunningDirector, api: httpx.AsyncClient, edge: float = 0.3) -> str:
    """An open paper market no scanner named yet, posted as an opportunity."""
    state = (await api.get("/v1/state")).json()
    named = {o["market"] for o in state["active_opportunities"]}
    held = {p["market"] for p in state["open_positions"]}
    ticker = next(t for t in reversed(run.open_markets()) if t not in named | held)
    line = {"market": ticker, "edge": edge, "confidence": 0.9, "expires_in_hours": 2}
    answer = await api.post("/v1/opportunities", json={**line, "source": "heat-scanner"})
    assert answer.json() == {"accepted": 1, "rejected": []}
    return ticker


async def ask_of(api: httpx.AsyncClient, ticker: str) -> str:
    state = (await api.get("/v1/state")).json()
    return str(state["markets"][ticker]["yes_ask"])


def intent(intent_id: str, ticker: str, price: str, quantity: int) -> dict[str, Any]:
    return {
        "intent_id": intent_id,
        "source": "rebalancer",
        "action_type": "place_order",
        "details": {"market": ticker, "side": "yes", "price": price, "quantity": quantity},
        "reason": "rebalance to target weights",
    }


def orders_of(run: RunningDirector, ticker: str) -> int:
    return int(run.query("SELECT COUNT(*) FROM paper_orders WHERE market = ?", (ticker,))[0][0])


async def test_a_bad_token_is_refused_logged_without_it_and_changes_nothing(
    run: RunningDirector, api: httpx.AsyncClient
) -> None:
    # Below the rules' min edge: a cycle running meanwhile never trades it, so any order on
    # it could only have come from the refused intents.
    ticker = await a_fresh_market(run, api, edge=0.05)
    wrong = {"Authorization": "Bearer not-the-token-at-all-xyz"}
    body = intent("bad-token-1", ticker, await ask_of(api, ticker), 3)
    async with httpx.AsyncClient(base_url=run.url, timeout=30) as anonymous:
        missing = await anonymous.post("/v1/intents", json=body)
    wrong_one = await api.post("/v1/intents", json=body, headers=wrong)
    for refused in (missing, wrong_one):
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    beat = {"name": "sneaky", "every_seconds": 60}
    assert (await api.post("/v1/heartbeats", json=beat, headers=wrong)).status_code == 401
    assert (await api.get("/v1/state", headers=wrong)).status_code == 401
    assert orders_of(run, ticker) == 0
    health = (await api.get("/v1/health")).json()
    assert "sneaky" not in [s["name"] for s in health["scripts"]]
    run.wait_for_log(re.compile(r"refused POST /v1/intents from 127\.0\.0\.1 \(wrong token\)"))
    run.wait_for_log(re.compile(r"refused POST /v1/intents from 127\.0\.0\.1 \(no bearer token\)"))
    assert "not-the-token-at-all-xyz" not in run.log() and TOKEN not in run.log()


async def test_a_bad_body_is_a_422_naming_the_field(api: httpx.AsyncClient) -> None:
    answer = await api.post("/v1/heartbeats", json={"name": "x", "every_seconds": -1})
    assert answer.status_code == 422 and answer.json()["error"].startswith("every_seconds:")
    bad = {**intent("bad-1", "KX", "0.5", 1), "details": {"side": "yes", "price": "0.5"}}
    answer = await api.post("/v1/intents", json=bad)
    assert answer.status_code == 422 and answer.json()["error"].startswith("details.market:")
    docs = await api.get("/openapi.json", headers={})
    assert docs.status_code == 200 and "/v1/intents" in docs.json()["paths"]


async def test_intents_execute_block_and_never_duplicate_and_show_by_whom(
    run: RunningDirector, api: httpx.AsyncClient, tg: TelegramStandIn
) -> None:
    ticker = await a_fresh_market(run, api)
    price = await ask_of(api, ticker)
    first = (await api.post("/v1/intents", json=intent("reb-1", ticker, price, 5))).json()
    assert first["status"] == "executed" and first["order_id"], first
    again = (await api.post("/v1/intents", json=intent("reb-1", ticker, price, 5))).json()
    assert again["status"] == "duplicate" and again["order_id"] == first["order_id"]
    assert orders_of(run, ticker) == 1
    over = (await api.post("/v1/intents", json=intent("reb-2", ticker, price, 500))).json()
    assert over["status"] == "blocked" and "max 100 contracts per order" in over["reason"]
    assert orders_of(run, ticker) == 1
    # The next cycle's report tells the operator who asked.
    tg.send_command(OPERATOR, "/cycle")
    report = await tg.wait_for_message("by rebalancer: executed", chat_id=OPERATOR, timeout=30)
    assert ticker in report.text


async def test_in_confirm_an_intent_waits_with_a_button_that_says_who_asked(
    run: RunningDirector, api: httpx.AsyncClient, tg: TelegramStandIn
) -> None:
    ticker = await a_fresh_market(run, api)
    before = tg.last_message_id(OPERATOR)
    tg.send_command(OPERATOR, "/autonomy confirm")
    await tg.wait_for_message("confirm", chat_id=OPERATOR, after=before + 1)
    try:
        body = intent("confirm-1", ticker, await ask_of(api, ticker), 4)
        answer = (await api.post("/v1/intents", json=body)).json()
        assert answer["status"] == "awaiting_approval" and answer["approval_id"], answer
        request = await tg.wait_for_message(f"{ticker}", chat_id=OPERATOR, after=before + 1)
        assert "by rebalancer" in request.text and request.buttons()
        assert orders_of(run, ticker) == 0
        tg.press(OPERATOR, request, "Approve")
        await tg.wait_for(lambda: orders_of(run, ticker) == 1, what="the approved order")
    finally:
        tg.send_command(OPERATOR, "/autonomy auto")
        await tg.wait_for_message("auto", chat_id=OPERATOR, after=before + 3)


async def test_silence_alerts_once_after_the_grace_and_return_alerts_once(
    run: RunningDirector, api: httpx.AsyncClient, tg: TelegramStandIn
) -> None:
    beat = {"name": "heat-scanner", "every_seconds": 1, "detail": "scan done"}
    for _ in range(3):
        assert (await api.post("/v1/heartbeats", json=beat)).status_code == 200
    silent = await tg.wait_for_message("heat-scanner silent since", chat_id=OPERATOR, timeout=20)
    assert "due every 1 s" in silent.text
    health = (await api.get("/v1/health")).json()
    [script] = [s for s in health["scripts"] if s["name"] == "heat-scanner"]
    assert script["late"] and health["degraded_by"] == []  # not critical: a warning only
    # Back, now due hourly (a 1 s period would be silent again before the watchdog looks).
    hourly = {**beat, "every_seconds": 3600}
    assert (await api.post("/v1/heartbeats", json=hourly)).status_code == 200
    back = await tg.wait_for_message("heat-scanner is back", chat_id=OPERATOR, timeout=20)
    assert "back: ok" in back.text
    # More beats and another watchdog tick later: still one alert of each kind.
    await api.post("/v1/heartbeats", json=hourly)
    await tg.wait_for(lambda: run.log().count("Script ") >= 2, what="the watchdog's alerts logged")
    tg.send_command(OPERATOR, "/scripts")
    await tg.wait_for_message("heat-scanner ok · last beat", chat_id=OPERATOR, timeout=20)
    assert len(messages_with(tg, "heat-scanner silent")) == 1
    assert len(messages_with(tg, "heat-scanner is back")) == 1


async def test_a_critical_scripts_silence_blocks_new_orders(
    run: RunningDirector, api: httpx.AsyncClient, tg: TelegramStandIn
) -> None:
    ticker = await a_fresh_market(run, api)
    beat = {"name": "risk-reset", "every_seconds": 1, "critical": True}
    assert (await api.post("/v1/heartbeats", json=beat)).status_code == 200
    await tg.wait_for_message("risk-reset silent since", chat_id=OPERATOR, timeout=20)
    body = intent("during-silence", ticker, await ask_of(api, ticker), 2)
    answer = (await api.post("/v1/intents", json=body)).json()
    assert answer["status"] == "blocked" and "safe mode" in answer["reason"], answer
    assert "script:risk-reset" in answer["reason"] and orders_of(run, ticker) == 0
    await api.post("/v1/heartbeats", json={**beat, "every_seconds": 3600})
    await tg.wait_for_message("risk-reset is back", chat_id=OPERATOR, timeout=20)
    body = intent("after-return", ticker, await ask_of(api, ticker), 2)
    assert (await api.post("/v1/intents", json=body)).json()["status"] == "executed"


async def test_posted_opportunities_appear_in_state_and_scripts_in_telegram(
    run: RunningDirector, api: httpx.AsyncClient, tg: TelegramStandIn
) -> None:
    ticker = await a_fresh_market(run, api, edge=0.95)
    batch = [
        {"market": ticker, "edge": 0.95, "confidence": 0.9, "expires_in_hours": 1},
        {"market": "", "edge": 0.2, "confidence": 0.9, "expires_in_hours": 1},
        {"market": ticker, "edge": 0.2, "confidence": 2, "expires_in_hours": 1},
        "not an object",
    ]
    answer = (await api.post("/v1/opportunities", json=batch)).json()
    assert answer["accepted"] == 1 and [r["index"] for r in answer["rejected"]] == [1, 2, 3]
    assert answer["rejected"][1]["error"].startswith("confidence:")
    state = (await api.get("/v1/state")).json()
    assert ticker in [o["market"] for o in state["active_opportunities"]]
    before = tg.last_message_id(OPERATOR)
    tg.send_command(OPERATOR, "/state")
    reply = await tg.wait_for_message("", chat_id=OPERATOR, after=before + 1)
    assert ticker in reply.text
    await api.post("/v1/heartbeats", json={"name": "pnl-logger", "every_seconds": 300})
    tg.send_command(OPERATOR, "/scripts")
    listing = await tg.wait_for_message("pnl-logger", chat_id=OPERATOR, after=before + 2)
    assert "every 5 min" in listing.text and "next due" in listing.text


def cli(
    run: RunningDirector, *args: str, listen: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**run.env, "OMEGA_API_LISTEN": listen or run.url.removeprefix("http://")}
    return subprocess.run(
        [sys.executable, "-m", "omega.cli", *args],
        cwd=run.workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_the_cli_beats_and_sends_intents(
    run: RunningDirector, api: httpx.AsyncClient
) -> None:
    done = cli(run, "beat", "cron-job", "--every", "3600", "--detail", "nightly")
    assert done.returncode == 0 and "cron-job: ok, next beat due by" in done.stdout
    failed = cli(run, "beat", "cron-job", "--every", "3600", "--status", "failed")
    assert failed.returncode == 0
    [script] = [
        s for s in (await api.get("/v1/health")).json()["scripts"] if s["name"] == "cron-job"
    ]
    assert script["status"] == "failed"
    ticker = await a_fresh_market(run, api)
    path = run.workdir / "intent.json"
    path.write_text(json.dumps(intent("cli-1", ticker, await ask_of(api, ticker), 200)))
    blocked = cli(run, "intent", "--from", str(path))
    assert blocked.returncode == 1 and "cli-1: blocked" in blocked.stdout


def test_the_cli_says_so_in_one_line_when_the_director_is_not_running(
    run: RunningDirector, tmp_path: Path
) -> None:
    nobody = cli(run, "beat", "x", "--every", "60", listen="127.0.0.1:9")  # discard port: closed
    assert nobody.returncode == 2
    assert nobody.stderr.strip().count("\n") == 0 and "director is not running" in nobody.stderr


def example(run: RunningDirector, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**run.env, "OMEGA_API_URL": run.url}
    path = Path(__file__).resolve().parents[1] / "examples" / script
    return subprocess.run(
        [sys.executable, str(path), *args],
        cwd=run.workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_the_examples_post_opportunities_beat_and_rebalance(
    run: RunningDirector, api: httpx.AsyncClient
) -> None:
    state = (await api.get("/v1/state")).json()
    taken = {o["market"] for o in state["active_opportunities"]}
    taken |= {p["market"] for p in state["open_positions"]}
    ticker = next(t for t in run.open_markets() if t not in taken)
    csv_path = run.workdir / "candidates.csv"
    csv_path.write_text(f"market,edge,confidence,side\n{ticker},0.4,0.9,yes\n{ticker},0.4,7,yes\n")
    scanned = example(run, "scanner.py", str(csv_path), "--every", "3600")
    assert scanned.returncode == 0 and "1 posted, 1 rejected" in scanned.stdout, scanned.stderr
    scripts = (await api.get("/v1/health")).json()["scripts"]
    [scanner] = [s for s in scripts if s["name"] == "heat-scanner"]
    assert scanner["status"] == "degraded" and scanner["detail"] == "1 posted, 1 rejected"
    body = intent("example-buy", ticker, await ask_of(api, ticker), 6)
    assert (await api.post("/v1/intents", json=body)).json()["status"] == "executed"
    targets = run.workdir / "targets.json"
    targets.write_text(json.dumps({ticker: 2}))
    rebalanced = example(run, "rebalancer.py", str(targets))
    assert rebalanced.returncode == 0 and f"{ticker} → 2: executed" in rebalanced.stdout
    held = (await api.get("/v1/state")).json()["open_positions"]
    assert [p["quantity"] for p in held if p["market"] == ticker] == [2]
