"""A simulated day of the Claude brain: what it calls, what the cache saves, what it costs.

96 cycles 15 minutes apart over the standard state (bench_prompt_size.py: 1,000 markets, 100
positions, 50 resting orders, 200 opportunities), in a world that changes on a third of the
cycles (a new draw every third cycle; in between only quotes move). The real RoutedBrain and
ClaudeBrain talk through the official SDK to the Messages API stand-in, which computes usage
the way the API does: cache reads only while the prefix's TTL lasts, on a simulated clock.

Tokens are counted with the SDK's count_tokens against the stand-in, whose estimate is the
documented rule of thumb (about four characters a token). Output tokens are not knowable
offline: every answer is billed OUTPUT_TOKENS (a documented estimate: medium-effort adaptive
thinking plus a ~400-token plan), the same for both approaches. Dollars are at list prices
(brains/pricing.py). The seed's approach: its prompt every cycle (bench_prompt_size.seed_prompt),
no cache, the same model.

Targets: cache hits on >= 95% of planner calls after the first; >= 5x cheaper per day than the
seed's approach. Exits 1 if either fails.

Run: .venv/bin/python benchmarks/bench_ai_day.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anthropic
from bench_prompt_size import seed_prompt, standard_state

from director.brains.base import LLMCall, ThinkContext
from director.brains.claude import ClaudeBrain
from director.brains.pricing import PriceTable, TokenUsage
from director.brains.router import RoutedBrain
from director.brains.rules import RulesBrain
from director.models import SystemState
from director.rulebook import DEFAULT_RULESET
from director.settings import Settings
from director.store import Store
from tests.anthropic_standin import AnthropicStandIn, Reply

CYCLES = 96
CHANGE_EVERY = 3
OUTPUT_TOKENS = 1_200
MODEL = "claude-sonnet-5-5"
HOLD = {"reasoning": "Hold.", "actions": [], "priority": "LOW", "requires_opus_consult": False}
START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


class SimSeconds:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def world(draw: int, now: datetime) -> SystemState:
    """A standard state whose resting orders are fresh (the rules cancel stale ones), so only
    what the draw changes is material."""
    state = standard_state(seed=draw, now=now)
    orders = [
        o.model_copy(update={"created_at": now - timedelta(minutes=20)})
        for o in state.pending_orders
    ]
    return state.model_copy(update={"pending_orders": orders})


async def run_day(api: AnthropicStandIn, seconds: SimSeconds, db: Path) -> list[LLMCall]:
    settings = Settings(
        _env_file=None,
        brain="claude",
        anthropic_api_key="sk-bench",
        anthropic_base_url=api.base_url,
        ai_max_retries=0,
        daily_budget_usd=Decimal(1000),
    )
    store = await Store.open(db)
    clock = {"now": START}
    primary = ClaudeBrain(settings, ledger=store, clock=lambda: clock["now"])
    router = RoutedBrain(primary, RulesBrain(settings), store, settings, lambda: clock["now"])
    api.script(*(Reply.json(HOLD, output_tokens=OUTPUT_TOKENS) for _ in range(CYCLES)))
    calls: list[LLMCall] = []
    current = world(0, START)
    try:
        for cycle in range(CYCLES):
            now = START + timedelta(minutes=15 * cycle)
            clock["now"], seconds.t = now, cycle * 900.0
            if cycle % CHANGE_EVERY == 0:
                current = world(cycle, now)
            # Between draws only quotes and risk noise move: not material to a plan.
            state = current.model_copy(update={"timestamp": now})
            result = await router.think(state, DEFAULT_RULESET, ThinkContext(cycle + 1, now))
            calls.extend(result.calls)
    finally:
        await router.close()
        await store.close()
    return calls


async def seed_cost(api: AnthropicStandIn) -> tuple[int, Decimal]:
    """Tokens of the seed's prompt (counted by the SDK) and its cost per cycle, no cache."""
    async with anthropic.AsyncAnthropic(api_key="sk-bench", base_url=api.base_url) as client:
        counted = await client.messages.count_tokens(
            model=MODEL,
            messages=[{"role": "user", "content": seed_prompt(world(0, START))}],
        )
    usage = TokenUsage(input_tokens=counted.input_tokens, output_tokens=OUTPUT_TOKENS)
    return counted.input_tokens, PriceTable().cost(MODEL, usage)


async def main() -> int:
    seconds = SimSeconds()
    with AnthropicStandIn(clock=seconds) as api, tempfile.TemporaryDirectory() as tmp:
        calls = await run_day(api, seconds, Path(tmp) / "bench.db")
        seed_tokens, seed_per_cycle = await seed_cost(api)
        refused = list(api.refused)
    planner = [c for c in calls if c.tier == "planner"]
    after_first = planner[1:]
    hits = sum(1 for c in after_first if c.cache_read_tokens > 0)
    hit_rate = hits / len(after_first) if after_first else 0.0
    ours = sum((c.cost_usd for c in calls), Decimal(0))
    seed_day = seed_per_cycle * CYCLES
    ratio = seed_day / ours if ours else Decimal(0)
    prompt = [
        c.input_tokens + c.cache_read_tokens + c.cache_write_tokens + c.cache_write_1h_tokens
        for c in planner
    ]
    print(f"simulated day: {CYCLES} cycles at 15 min, world changes every {CHANGE_EVERY}rd cycle")
    print(f"planner calls made                {len(planner):>8} of {CYCLES} cycles")
    print(f"cache hit rate after the first    {hit_rate:>8.1%}  (target >= 95%)")
    print(f"prompt tokens per call (median)   {sorted(prompt)[len(prompt) // 2]:>8,}")
    print(f"  of which read from the cache    {planner[-1].cache_read_tokens:>8,}")
    print(f"output tokens per call (assumed)  {OUTPUT_TOKENS:>8,}")
    print(f"our dollars per day               {ours:>8.4f}")
    print(f"seed: {seed_tokens:,} prompt tokens every cycle, no cache: ${seed_day:.4f} per day")
    print(f"cheaper than the seed's approach  {ratio:>8.1f}x  (target >= 5x)")
    if refused:
        print(f"requests refused by the contract: {refused}")
    ok = hit_rate >= 0.95 and ratio >= 5 and not refused
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
