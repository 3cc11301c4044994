"""The claude brain in a backtest: the real SDK against the local Messages API stand-in, through
the record/replay cache. A first run records, a second replays with no API call and gives the
same report, and a replay that would need the API stops instead of spending."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from director.backtest.report import report_dict
from director.backtest.runner import (
    DEFAULT_START,
    BacktestConfig,
    BacktestError,
    BacktestResult,
    run_backtest,
)
from director.exchanges.paper import PaperExchange
from director.scanners.paper_scanner import PaperScanner
from director.settings import Settings
from director.store import Store
from tests.anthropic_standin import AnthropicStandIn, Reply, Usage

SEED = 21
CYCLES = 24  # one day of hourly cycles
HOLD = {
    "reasoning": "Nothing worth doing.",
    "actions": [],
    "priority": "LOW",
    "requires_opus_consult": False,
}


@pytest.fixture
def api() -> Iterator[AnthropicStandIn]:
    with AnthropicStandIn() as standin:
        yield standin


def _settings(api: AnthropicStandIn, key: str | None = "sk-ant-backtest-secret") -> Settings:
    return Settings(
        _env_file=None,
        cycle_seconds=3600,
        anthropic_api_key=key,
        anthropic_base_url=api.base_url,
        ai_timeout_seconds=5.0,
        ai_max_retries=0,
    )


async def _first_opportunity(tmp_path: Path) -> tuple[str, str, str]:
    """What the paper scanner offers at the backtest's first cycle: (market, side, ask)."""
    store = await Store.open(tmp_path / "peek.db")
    try:
        exchange = await PaperExchange.open(
            store,
            seed=SEED,
            n_markets=40,
            starting_cash=Settings(_env_file=None).paper_starting_cash,
            clock=lambda: DEFAULT_START,
        )
        found = await PaperScanner(exchange, seed=SEED).scan(DEFAULT_START)
        best = found[0]
        ask = exchange.markets_snapshot()[best.market].ask(best.side)
        assert ask is not None
        await exchange.close()
    finally:
        await store.close()
    return best.market, best.side.value, str(ask)


def _all_text(root: Path) -> str:
    return "".join(path.read_text() for path in sorted(root.rglob("*.json")))


def _compared(result: BacktestResult) -> str:
    report = report_dict(result)
    del report["runtime"]
    return json.dumps(report, sort_keys=True)


async def _backtest(
    settings: Settings, cache: Path, *, allow: bool, seed: int = SEED
) -> BacktestResult:
    config = BacktestConfig(
        days=1, seed=seed, brains=("claude",), replay_dir=cache, allow_api_spend=allow
    )
    return await run_backtest(config, settings)


async def test_record_then_replay_gives_the_same_report_with_no_api_call(
    api: AnthropicStandIn, tmp_path: Path
) -> None:
    market, side, ask = await _first_opportunity(tmp_path)
    trade: dict[str, Any] = {
        "reasoning": "One contract of the best opportunity.",
        "actions": [
            {
                "action_type": "place_order",
                "details": {"market": market, "side": side, "price": float(ask), "quantity": 1},
            }
        ],
        "priority": "LOW",
        "requires_opus_consult": False,
    }
    # Fixed usage per answer, so the report's token counts are exact.
    api.script(
        Reply.json(trade, usage=Usage()),
        *(Reply.json(HOLD, usage=Usage()) for _ in range(CYCLES - 1)),
    )
    cache = tmp_path / "replay"

    recorded = await _backtest(_settings(api), cache, allow=True)
    claude = recorded.results["claude"]
    assert len(api.requests) == CYCLES and api.unused == 0
    assert claude.orders_sent == 1 and claude.fills == 1  # the scripted trade reached the venue
    assert claude.fallback_cycles == 0 and claude.brain_errors == 0
    assert claude.ai.calls == CYCLES
    assert claude.ai.input_tokens == 100 * CYCLES and claude.ai.output_tokens == 50 * CYCLES
    assert claude.ai.cost_usd > 0
    stats = recorded.runtime["claude"].replay
    assert stats is not None and (stats.recorded, stats.live_requests) == (CYCLES, CYCLES)
    assert "sk-ant-backtest-secret" not in "".join(p.read_text() for p in cache.rglob("*.json"))

    # No key, no network allowed, and the stand-in has no answer left: all from the cache.
    replayed = await _backtest(_settings(api, key=None), cache, allow=False)
    assert len(api.requests) == CYCLES
    assert _compared(replayed) == _compared(recorded)
    stats = replayed.runtime["claude"].replay
    assert stats is not None and (stats.hits, stats.live_requests) == (CYCLES, 0)


async def test_a_replay_that_needs_the_api_stops_without_calling_it(
    api: AnthropicStandIn, tmp_path: Path
) -> None:
    api.script(*(Reply.json(HOLD) for _ in range(CYCLES)))
    with pytest.raises(BacktestError, match="--allow-api-spend"):
        await _backtest(_settings(api), tmp_path / "empty-cache", allow=False)
    assert api.requests == []
