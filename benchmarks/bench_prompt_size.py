"""Prompt size per cycle: the claude brain's prompt against the seed's, for a standard state.

Standard state: 1,000 markets, 100 positions, 50 resting orders, 200 opportunities, 20 news
items. The seed's prompt is its prompt text with `json.dumps(asdict(state), indent=2)` of the
same state, modelled with dataclasses mirroring the seed's fields (the seed had no market
table or titles, so the comparison is conservative: only our prompt pays for them).

Also checks that the static prefix (output schema + system prompt) is byte-identical between two
cycles with different states, so the prompt cache can hit. Exits 1 if either check fails.

Run: .venv/bin/python benchmarks/bench_prompt_size.py
"""

from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from director.brains.plan_schema import plan_schema
from director.brains.prompt import StateLimits, planner_message, static_prefix
from director.guard import Limits
from director.models import (
    Autonomy,
    Market,
    NewsItem,
    Opportunity,
    Order,
    Position,
    Side,
    SourceHealth,
    SystemHealth,
    SystemState,
)
from director.rulebook import DEFAULT_RULESET
from director.settings import Settings

TARGET_RATIO = 3.0

SEED_PROMPT = (
    "You are the Omega Director, an autonomous trading system overseer.\n\n"
    "CURRENT STATE:\n{state}\n\n"
    "RULES:\n"
    "1. Preserve capital. If risk_score > 0.8, reduce positions.\n"
    "2. Act on high-confidence opportunities (confidence > 0.7, edge > 0.1) within risk "
    "limits.\n"
    "3. Cancel stale pending orders (> 2 hours old) that have not filled.\n"
    "4. If system health is degraded, enter safe mode (only close positions, no new "
    "orders).\n\n"
    "Respond with a JSON object: {{reasoning, actions:[{{action_type, details}}], "
    "priority: HIGH|MEDIUM|LOW, requires_opus_consult: bool}}"
)

_WORDS = (
    "Will the high temperature in NYC exceed 85F",
    "Will the Fed cut rates at the next meeting",
    "Will CPI year over year come in above 3.1%",
    "Will the S&P 500 close above 5,600",
    "Will BTC trade above $70,000 at 5pm ET",
    "Will the Lakers win the game",
)


# --- the seed's state, as its dataclasses had it -----------------------------------------


@dataclass
class SeedPosition:
    market: str
    side: str
    quantity: int
    avg_price: float
    current_price: float
    unrealized_pnl: float


@dataclass
class SeedOrder:
    order_id: str
    market: str
    side: str
    price: float
    quantity: int
    status: str
    created_at: str


@dataclass
class SeedOpportunity:
    market: str
    edge: float
    confidence: float
    expires_in_hours: float
    side: str
    source: str


@dataclass
class SeedSystemState:
    timestamp: str
    portfolio_cash: float
    open_positions: list[SeedPosition] = field(default_factory=list)
    pending_orders: list[SeedOrder] = field(default_factory=list)
    recent_pnl_24h: float = 0.0
    system_health: dict[str, bool] = field(default_factory=dict)
    active_opportunities: list[SeedOpportunity] = field(default_factory=list)
    current_risk_score: float = 0.0


# --- the standard state -------------------------------------------------------------------


def _price(rng: random.Random) -> Decimal:
    return Decimal(rng.randint(3, 97)) / 100


def standard_state(seed: int, now: datetime) -> SystemState:
    rng = random.Random(seed)
    markets: dict[str, Market] = {}
    for i in range(1000):
        ticker = f"KX{rng.choice(['HIGHNY', 'FED', 'CPI', 'INX', 'BTC', 'NBA'])}-26MAY{i:04d}"
        bid = _price(rng)
        markets[ticker] = Market(
            ticker=ticker,
            title=f"{rng.choice(_WORDS)} on May {1 + i % 28}, 2026?",
            yes_bid=bid,
            yes_ask=min(bid + Decimal("0.02"), Decimal("0.99")),
            last_price=bid + Decimal("0.01"),
            close_time=now + timedelta(hours=rng.randint(1, 400)),
            volume=rng.randint(0, 50_000),
        )
    tickers = list(markets)
    held = rng.sample(tickers, 100)
    positions = [
        Position(
            market=t,
            side=rng.choice([Side.YES, Side.NO]),
            quantity=rng.randint(1, 100),
            avg_price=_price(rng),
            mark_price=markets[t].mark(Side.YES),
        )
        for t in held
    ]
    orders = [
        Order(
            order_id=f"ord-{seed}-{i:05d}",
            market=rng.choice(tickers),
            side=rng.choice([Side.YES, Side.NO]),
            price=_price(rng),
            quantity=(q := rng.randint(1, 50)),
            remaining=q,
            created_at=now - timedelta(minutes=rng.randint(1, 600)),
        )
        for i in range(50)
    ]
    opportunities = [
        Opportunity(
            market=t,
            side=rng.choice([Side.YES, Side.NO]),
            edge=Decimal(rng.randint(1, 300)) / 1000,
            confidence=Decimal(rng.randint(40, 99)) / 100,
            expires_at=now + timedelta(minutes=rng.randint(30, 2000)),
            source=rng.choice(["heat-scanner", "fed-model", "arb-scanner"]),
            title=markets[t].title,
            observed_at=now,
        )
        for t in rng.sample(tickers, 200)
    ]
    news = [
        NewsItem(
            title=f"{rng.choice(_WORDS)}: analysts weigh in ({i})",
            link=f"https://news.example/{i}",
            source="wire",
            published=now - timedelta(minutes=rng.randint(1, 1000)),
        )
        for i in range(20)
    ]
    exposure = sum((p.cost for p in positions), Decimal(0))
    return SystemState(
        timestamp=now,
        portfolio_cash=Decimal("8423.17"),
        equity=Decimal("8423.17") + exposure,
        exposure=exposure,
        open_positions=positions,
        pending_orders=orders,
        recent_pnl_24h=Decimal("-112.40"),
        system_health=SystemHealth(
            sources={
                "exchange": SourceHealth(ok=True, latency_ms=41.0, critical=True),
                "feed": SourceHealth(ok=True, latency_ms=3.0),
                "news": SourceHealth(ok=rng.random() > 0.5, latency_ms=250.0),
            }
        ),
        active_opportunities=opportunities,
        current_risk_score=rng.random(),
        autonomy=Autonomy.AUTO,
        markets=markets,
        news=news,
    )


def seed_state(state: SystemState) -> SeedSystemState:
    """The same state in the seed's shape (floats and strings, as the seed had them)."""
    now = state.timestamp
    return SeedSystemState(
        timestamp=now.isoformat(),
        portfolio_cash=float(state.portfolio_cash),
        open_positions=[
            SeedPosition(
                market=p.market,
                side=p.side.value,
                quantity=p.quantity,
                avg_price=float(p.avg_price),
                current_price=float(p.mark_price or p.avg_price),
                unrealized_pnl=float(((p.mark_price or p.avg_price) - p.avg_price) * p.quantity),
            )
            for p in state.open_positions
        ],
        pending_orders=[
            SeedOrder(
                order_id=o.order_id,
                market=o.market,
                side=o.side.value,
                price=float(o.price),
                quantity=o.quantity,
                status=o.status.value,
                created_at=o.created_at.isoformat(),
            )
            for o in state.pending_orders
        ],
        recent_pnl_24h=float(state.recent_pnl_24h),
        system_health={name: s.ok for name, s in state.system_health.sources.items()},
        active_opportunities=[
            SeedOpportunity(
                market=o.market,
                edge=float(o.edge),
                confidence=float(o.confidence),
                expires_in_hours=round((o.expires_at - now).total_seconds() / 3600, 2),
                side=o.side.value,
                source=o.source,
            )
            for o in state.active_opportunities
        ],
        current_risk_score=state.current_risk_score,
    )


def seed_prompt(state: SystemState) -> str:
    return SEED_PROMPT.format(state=json.dumps(asdict(seed_state(state)), indent=2))


def cached_prefix(state: SystemState, limits: Limits) -> str:
    """Everything the cache keys the prefix on: the output schema and the system prompt."""
    del state  # the point: the prefix must not depend on it
    payload: dict[str, Any] = {
        "format": plan_schema(),
        "system": static_prefix(DEFAULT_RULESET, limits),
    }
    return json.dumps(payload, sort_keys=False)


def main() -> int:
    now = datetime(2026, 5, 9, 12, 0, tzinfo=UTC)
    limits = Limits.from_settings(Settings(_env_file=None), DEFAULT_RULESET)
    state = standard_state(seed=1, now=now)
    other = standard_state(seed=2, now=now + timedelta(minutes=15))

    prefix = static_prefix(DEFAULT_RULESET, limits)
    tools = json.dumps(plan_schema(), separators=(",", ":"))
    started = time.perf_counter()
    message = planner_message(state, StateLimits())
    build_ms = (time.perf_counter() - started) * 1000
    ours_total = len(prefix) + len(tools) + len(message)
    seed_total = len(seed_prompt(state))
    ratio = seed_total / ours_total
    ratio_uncached = seed_total / len(message)

    same_prefix = cached_prefix(state, limits) == cached_prefix(other, limits)
    states_differ = planner_message(state) != planner_message(other)

    print("standard state: 1000 markets, 100 positions, 50 resting orders, 200 opportunities")
    print(f"seed prompt                       {seed_total:>9,} chars")
    print(
        f"our prompt (prefix+schema+state)  {ours_total:>9,} chars "
        f"(prefix {len(prefix):,}, output schema {len(tools):,}, state {len(message):,})"
    )
    print(f"ratio, whole prompt               {ratio:>9.2f}x  (target >= {TARGET_RATIO:g}x)")
    print(f"ratio, per-cycle uncached part    {ratio_uncached:>9.2f}x")
    print(f"state serialization time          {build_ms:>9.2f} ms")
    print(f"static prefix byte-identical across two different states: {same_prefix}")
    ok = ratio >= TARGET_RATIO and same_prefix and states_differ
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
