"""The paper simulator's market model: calibrated, martingale, finite depth, honest queues."""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from director.exchanges.paper_dynamics import diffuse, news, news_exclusive, transfer
from director.exchanges.paper_fills import commit_take, plan_take, resting_fill
from director.exchanges.paper_market import SimMarket
from director.exchanges.paper_scenarios import SCENARIOS, scenario_named
from director.exchanges.paper_sim import STEPS_PER_HOUR, Kind, Simulator, step_of
from director.models import Order, OrderAction, OrderStatus, Side

START = step_of(datetime(2026, 1, 5, tzinfo=UTC))
STRESS_SCENARIOS = tuple(name for name in SCENARIOS if name != "base")
Sample = tuple[float, float, float]  # (hidden p, quote mid, hours to close)


def run_universe(
    seed: int, days: int, every_hours: int, scenario: str = "base"
) -> tuple[dict[str, list[Sample]], dict[str, bool]]:
    """Samples of every open market every `every_hours`, and each settled market's result."""
    sim = Simulator.genesis(seed=seed, n_markets=400, step=START, scenario=scenario_named(scenario))
    samples: dict[str, list[Sample]] = {}
    results: dict[str, bool] = {}
    for i in range(days * 24 * STEPS_PER_HOUR):
        for market in sim.advance().settled:
            results[market.ticker] = market.result is Side.YES
        if i % (every_hours * STEPS_PER_HOUR) == 0:
            for m in sim.open_markets():
                assert m.yes_bid is not None and m.yes_ask is not None
                p = sim.fair(m.ticker)
                assert p is not None
                hours = (m.close_step - sim.step) / STEPS_PER_HOUR
                samples.setdefault(m.ticker, []).append((p, (m.yes_bid + m.yes_ask) / 200, hours))
    return samples, results


def buckets(
    samples: dict[str, list[Sample]],
    results: dict[str, bool],
    pick: Callable[[Sample], float | None],
    n: int,
) -> list[tuple[int, float, float]]:
    """(count, mean price, settled YES frequency, tolerance) per n-tile of the picked price.

    Samples of one market share its outcome, so the tolerance is three standard errors
    counted over distinct markets, not samples (and at least 3 points)."""
    grouped: list[list[tuple[float, bool]]] = [[] for _ in range(n)]
    markets: list[set[str]] = [set() for _ in range(n)]
    for ticker, rows in samples.items():
        if ticker not in results:
            continue
        for row in rows:
            price = pick(row)
            if price is not None:
                index = min(n - 1, int(price * n))
                grouped[index].append((price, results[ticker]))
                markets[index].add(ticker)
    table = []
    for g, names in zip(grouped, markets, strict=True):
        if not g:
            continue
        price = statistics.fmean(p for p, _ in g)
        spread = 3 * (price * (1 - price) / len(names)) ** 0.5
        table.append((len(g), price, statistics.fmean(y for _, y in g), max(0.03, spread)))
    return table


@pytest.fixture(scope="module")
def universe() -> tuple[dict[str, list[Sample]], dict[str, bool]]:
    return run_universe(seed=11, days=10, every_hours=3)


def test_hidden_probabilities_settle_at_their_value_in_every_decile(
    universe: tuple[dict[str, list[Sample]], dict[str, bool]],
) -> None:
    samples, results = universe
    assert len(results) > 2500
    table = buckets(samples, results, lambda s: s[0], 10)
    assert len(table) == 10
    for count, price, frequency, tolerance in table:
        assert count > 1000 and tolerance < 0.07
        assert abs(frequency - price) < tolerance, (price, frequency)


def test_two_days_out_the_hidden_value_is_still_calibrated(
    universe: tuple[dict[str, list[Sample]], dict[str, bool]],
) -> None:
    """The old walk settled 0.16 as 23% and 0.84 as 75% this far out: not a martingale."""
    samples, results = universe
    table = buckets(samples, results, lambda s: s[0] if s[2] >= 48 else None, 3)
    assert len(table) == 3
    for count, price, frequency, tolerance in table:
        assert count > 400 and tolerance < 0.12
        assert abs(frequency - price) < tolerance, (price, frequency)


def test_quoted_prices_settle_near_their_price_longshots_a_little_dear(
    universe: tuple[dict[str, list[Sample]], dict[str, bool]],
) -> None:
    samples, results = universe
    table = buckets(samples, results, lambda s: s[1], 10)
    for _, price, frequency, tolerance in table:
        assert abs(frequency - price) < tolerance, (price, frequency)
    _, cheapest, settled, _ = table[0]
    assert settled < cheapest  # the favourite-longshot bias of real prediction markets


@pytest.mark.parametrize("p", [0.03, 0.2, 0.5, 0.81, 0.97])
def test_every_move_is_a_martingale(p: float) -> None:
    rng = random.Random(5)
    n = 40_000
    diffused = [diffuse(p, 0.4, rng.gauss(0, 1)) for _ in range(n)]
    after_news = [news(p, 0.5, rng.random()) for _ in range(n)]
    assert all(0 < q < 1 for q in diffused + after_news)
    assert abs(statistics.fmean(diffused) - p) < 0.004
    assert abs(statistics.fmean(after_news) - p) < 0.006
    ps = [p, (1 - p) * 0.7, (1 - p) * 0.3]
    moved = []
    for _ in range(n):
        qs = list(ps)
        transfer(qs, 0, 1, 0.4, rng.gauss(0, 1))
        qs = news_exclusive(qs, 0.4, rng.random())
        assert abs(sum(qs) - 1) < 1e-9 and min(qs) > 0
        moved.append(qs[0])
    assert abs(statistics.fmean(moved) - p) < 0.006


def binary_market(sim: Simulator) -> SimMarket:
    return next(m for m in sim.open_markets() if m.kind is Kind.BINARY and m.yes_ask < 90)  # type: ignore[operator]


def test_a_large_buy_walks_the_book_and_its_impact_fades() -> None:
    sim = Simulator.genesis(seed=4, n_markets=40, step=START)
    market = binary_market(sim)
    depth = sim.depth(market)
    ask = market.yes_ask
    assert ask is not None
    levels = plan_take(market, depth, Side.YES, OrderAction.BUY, depth * 2 + 5, ask + 2)
    assert levels == [(ask, depth), (ask + 1, depth), (ask + 2, 5)]
    # Within the limit only: one cent up takes two levels, the rest would rest.
    assert (
        sum(n for _, n in plan_take(market, depth, Side.YES, OrderAction.BUY, 10**6, ask + 1))
        == 2 * depth
    )
    commit_take(market, depth, Side.YES, OrderAction.BUY, levels)
    assert market.yes_ask == ask + 2 and market.taken_ask == 5
    # The next buyer meets the moved touch with what is left of it.
    assert plan_take(market, depth, Side.YES, OrderAction.BUY, depth, 99)[0] == (ask + 2, depth - 5)
    moved = market.impact
    assert moved == pytest.approx((2 * depth + 5) / depth)
    for _ in range(3 * STEPS_PER_HOUR):
        sim.advance()
    assert abs(market.impact) < moved / 20


def test_buying_no_lifts_the_yes_bid_down() -> None:
    sim = Simulator.genesis(seed=4, n_markets=40, step=START)
    market = binary_market(sim)
    depth = sim.depth(market)
    bid = market.yes_bid
    assert bid is not None
    levels = plan_take(market, depth, Side.NO, OrderAction.BUY, depth + 1, 100 - bid + 1)
    assert levels == [(100 - bid, depth), (100 - bid + 1, 1)]
    commit_take(market, depth, Side.NO, OrderAction.BUY, levels)
    assert market.yes_bid == bid - 1 and market.impact < 0


def resting_buy(market: SimMarket, cents: int, n: int, qty: int = 10) -> Order:
    return Order(
        order_id=f"po-{n:08d}",
        client_order_id=f"c{n}",
        market=market.ticker,
        side=Side.YES,
        action=OrderAction.BUY,
        price=Decimal(cents) / 100,
        quantity=qty,
        remaining=qty,
        status=OrderStatus.RESTING,
        created_at=datetime(2026, 1, 5, tzinfo=UTC),
    )


def test_resting_buys_fill_mostly_when_the_value_falls() -> None:
    """Adverse selection: a bid at the touch is reached by the flow that follows bad news."""
    sim = Simulator.genesis(seed=9, n_markets=200, step=START)
    filled_moves: list[float] = []
    all_moves: list[float] = []
    for i in range(12 * STEPS_PER_HOUR):
        sim.advance()
        for n, market in enumerate(sim.open_markets()):
            if market.yes_bid is None or market.kind is not Kind.BINARY:
                continue
            fair, before = sim.fair(market.ticker), market.fair_before
            if fair is None or before is None:
                continue  # opened this step
            order = resting_buy(market, market.yes_bid, i * 1000 + n)
            qty = resting_fill(market, sim.depth(market), order, fair, sim.seed, sim.step)
            all_moves.append(fair - before)
            if qty:
                filled_moves.append(fair - before)
    assert len(filled_moves) > 200
    assert statistics.fmean(filled_moves) < 0 < statistics.fmean(filled_moves) + 0.05
    assert sum(m < 0 for m in filled_moves) > 2 * sum(m > 0 for m in filled_moves)
    assert abs(statistics.fmean(all_moves)) < 0.001  # the value itself has no drift


def test_scenarios_are_named_and_stress_one_thing_each() -> None:
    assert set(STRESS_SCENARIOS) == {"news-shock", "liquidity-drought", "correlated", "fat-tails"}
    with pytest.raises(ValueError, match="unknown scenario"):
        scenario_named("crash")
    base = Simulator.genesis(seed=2, n_markets=40, step=START)
    dry = Simulator.genesis(
        seed=2, n_markets=40, step=START, scenario=SCENARIOS["liquidity-drought"]
    )
    pairs = list(zip(base.open_markets(), dry.open_markets(), strict=True))
    assert all(dry.depth(d) < base.depth(b) for b, d in pairs)
    for _ in range(3):
        base.advance(), dry.advance()
    spread = statistics.fmean((m.yes_ask or 0) - (m.yes_bid or 0) for m in base.open_markets())
    dry_spread = statistics.fmean((m.yes_ask or 0) - (m.yes_bid or 0) for m in dry.open_markets())
    assert dry_spread > spread + 2


@pytest.mark.parametrize("name", STRESS_SCENARIOS)
def test_every_scenario_stays_calibrated(name: str) -> None:
    samples, results = run_universe(seed=21, days=4, every_hours=6, scenario=name)
    for count, price, frequency, tolerance in buckets(samples, results, lambda s: s[0], 5):
        if count > 300:
            assert abs(frequency - price) < tolerance, (name, price, frequency)


def test_correlated_markets_move_together() -> None:
    def mean_correlation(name: str) -> float:
        sim = Simulator.genesis(seed=8, n_markets=60, step=START, scenario=scenario_named(name))
        moves: dict[str, list[float]] = {}
        for _ in range(6 * STEPS_PER_HOUR):
            before = {m.ticker: m.x for m in sim.open_markets() if m.kind is Kind.BINARY}
            sim.advance()
            for m in sim.open_markets():
                if m.ticker in before:
                    moves.setdefault(m.ticker, []).append(m.x - before[m.ticker])
        full = [v for v in moves.values() if len(v) == 6 * STEPS_PER_HOUR][:10]
        assert len(full) >= 5
        pairs = [(a, b) for i, a in enumerate(full) for b in full[i + 1 :]]
        return statistics.fmean(statistics.correlation(a, b) for a, b in pairs)

    assert abs(mean_correlation("base")) < 0.1
    assert mean_correlation("correlated") > 0.2
