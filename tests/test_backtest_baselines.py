from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from director.backtest.baselines import NaiveBrain, NoneBrain
from director.brains.base import ThinkContext
from director.guard import Limits, check_plan
from director.models import Action, PlaceOrder, PlaceOrderDetails, Plan, Side
from director.rulebook import DEFAULT_RULESET
from director.settings import Settings
from tests.builders import market, opportunity, position, state

D = Decimal
CONTEXT = ThinkContext(cycle_id=1, now=datetime(2026, 1, 5, tzinfo=UTC))


def _settings(contracts: int = 100, cost: str = "50", exposure: str = "0.5") -> Settings:
    return Settings(
        _env_file=None,
        max_order_contracts=contracts,
        max_order_cost=D(cost),
        max_exposure=D(exposure),
    )


def _limits(s: Settings) -> Limits:
    return Limits(
        max_order_contracts=s.max_order_contracts,
        max_order_cost=s.max_order_cost,
        max_exposure=s.max_exposure,
        risk_limit=DEFAULT_RULESET.thresholds.risk_limit,
    )


async def test_none_never_trades() -> None:
    s = state(opportunities=[opportunity("KXA", edge="0.5", confidence="0.99")])
    result = await NoneBrain().think(s, DEFAULT_RULESET, CONTEXT)
    assert result.plan.actions == []
    assert result.brain == "none"


async def test_naive_takes_every_opportunity_whatever_its_confidence_or_edge() -> None:
    opps = [
        opportunity("KXA", edge="0.01", confidence="0.10"),
        opportunity("KXB", edge="0.30", confidence="0.95"),
        opportunity("KXC", edge="0.02", confidence="0.50", side=Side.NO),
    ]
    s = state(cash="10000", opportunities=opps)
    result = await NaiveBrain(_settings()).think(s, DEFAULT_RULESET, CONTEXT)
    placed = [a.details for a in result.plan.actions if isinstance(a, PlaceOrder)]
    assert [(d.market, d.side) for d in placed] == [
        ("KXA", Side.YES),
        ("KXB", Side.YES),
        ("KXC", Side.NO),
    ]
    # At the ask of the side bought, as large as $50 per order allows.
    assert placed[0].price == D("0.42") and placed[2].price == D("0.60")
    assert placed[0].quantity == 100  # 100 × 0.42 + fee 1.71 = 43.71 ≤ 50: the contract cap
    assert placed[2].quantity == 81  # 81 × 0.60 + fee 1.37 = 49.97; 82 would be 50.58
    assert all(v.allowed for v in check_plan(result.plan, s, _limits(_settings())))


def test_naive_places_one_order_per_market() -> None:
    opps = [opportunity("KXA"), opportunity("KXA", side=Side.NO)]
    plan = NaiveBrain(_settings()).plan(state(opportunities=opps), DEFAULT_RULESET)
    assert len(plan.actions) == 1


def test_naive_adds_nothing_when_the_guard_allows_no_new_exposure() -> None:
    brain = NaiveBrain(_settings())
    opps = [opportunity("KXA")]
    assert brain.plan(state(opportunities=opps, safe_mode=True), DEFAULT_RULESET).actions == []
    risky = brain.plan(state(opportunities=opps, risk_score=0.81), DEFAULT_RULESET)
    assert risky.actions == [] and "risk 0.81 > 0.80" in risky.reasoning


def _bumped(plan: Plan, index: int, extra: int) -> Plan:
    action = plan.actions[index]
    assert isinstance(action, PlaceOrder)
    d = action.details
    assert d.quantity is not None
    bigger = PlaceOrder(
        details=PlaceOrderDetails(
            market=d.market, side=d.side, price=d.price, quantity=d.quantity + extra
        )
    )
    return Plan(reasoning="", actions=[*plan.actions[:index], bigger])


quotes = st.tuples(st.integers(min_value=1, max_value=96), st.integers(min_value=1, max_value=3))


@settings(max_examples=150, deadline=None)
@given(
    cash=st.integers(min_value=0, max_value=30_000),
    held=st.integers(min_value=0, max_value=400),
    book=st.lists(st.tuples(quotes, st.sampled_from([Side.YES, Side.NO])), min_size=1, max_size=8),
    contracts=st.integers(min_value=1, max_value=300),
    cost=st.integers(min_value=1, max_value=200),
    exposure=st.sampled_from(["0.1", "0.3", "0.5", "1"]),
)
def test_naive_orders_are_the_largest_the_guard_allows(
    cash: int,
    held: int,
    book: list[tuple[tuple[int, int], Side]],
    contracts: int,
    cost: int,
    exposure: str,
) -> None:
    s_settings = _settings(contracts, str(cost), exposure)
    limits = _limits(s_settings)
    markets = []
    opps = []
    for i, ((bid, spread), side) in enumerate(book):
        ticker = f"KX{i}-26JAN-T1"
        markets.append(
            market(ticker, bid=str(D(bid) / 100), ask=str(D(min(bid + spread, 99)) / 100))
        )
        opps.append(opportunity(ticker, side=side))
    positions = [position("KXHELD-26JAN", held, "0.50")] if held else []
    s = state(cash=str(cash), positions=positions, opportunities=opps, markets=markets)
    plan = NaiveBrain(s_settings).plan(s, DEFAULT_RULESET)

    verdicts = check_plan(plan, s, limits)
    assert all(v.allowed for v in verdicts), [v.reason for v in verdicts]
    # Maximal: one more contract on any order is refused given what came before it.
    for index in range(len(plan.actions)):
        assert not check_plan(_bumped(plan, index, 1), s, limits)[-1].allowed
    # Exhaustive: any opportunity left out can't take even one contract after the plan.
    taken = {a.details.market for a in plan.actions if isinstance(a, PlaceOrder)}
    for opp in opps:
        if opp.market in taken:
            continue
        one: Action = PlaceOrder(
            details=PlaceOrderDetails(
                market=opp.market,
                side=opp.side,
                price=s.markets[opp.market].ask(opp.side),
                quantity=1,
            )
        )
        extended = Plan(reasoning="", actions=[*plan.actions, one])
        assert not check_plan(extended, s, limits)[-1].allowed
