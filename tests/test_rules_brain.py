from __future__ import annotations

from director.brains.rules import RulesBrain
from director.guard import check_plan
from director.models import CancelOrder, PlaceOrder, Priority, Rebalance, Side
from director.rulebook import DEFAULT_RULESET, RuleSet, Thresholds
from director.settings import Settings
from tests.builders import LIMITS, D, opportunity, order, position, state

BRAIN = RulesBrain(Settings())


def test_rule2_filters_and_reasons_like_an_operator() -> None:
    opps = [
        opportunity("KXA", edge="0.18", confidence="0.9"),
        opportunity("KXB", edge="0.12", confidence="0.75"),
        opportunity("KXC", edge="0.30", confidence="0.5"),  # confidence too low
        opportunity("KXD", edge="0.05", confidence="0.95"),  # edge too low
    ]
    plan = BRAIN.plan(state(opportunities=opps), DEFAULT_RULESET)
    assert "4 opportunities detected. Rule 2 applies." in plan.reasoning
    assert "confidence > 0.7 and edge > 0.1 leaves 2" in plan.reasoning
    markets = [a.details.market for a in plan.actions if isinstance(a, PlaceOrder)]
    assert markets == ["KXA", "KXB"]  # highest edge first
    assert plan.priority is Priority.MEDIUM
    # The sizes it picks pass the guard.
    assert all(v.allowed for v in check_plan(plan, state(opportunities=opps), LIMITS))


def test_near_the_risk_threshold_takes_only_the_best() -> None:
    opps = [opportunity("KXA", edge="0.18"), opportunity("KXB", edge="0.12")]
    plan = BRAIN.plan(state(opportunities=opps, risk_score=0.72), DEFAULT_RULESET)
    assert [a.details.market for a in plan.actions if isinstance(a, PlaceOrder)] == ["KXA"]
    assert (
        "Risk 0.72 is near the threshold: selecting the single highest edge (0.18)"
        in plan.reasoning
    )


def test_rule1_reduces_the_largest_positions_and_adds_nothing() -> None:
    positions = [position("KXP", 40, "0.50"), position("KXQ", 10, "0.20")]
    s = state(positions=positions, opportunities=[opportunity("KXA")], risk_score=0.9)
    plan = BRAIN.plan(s, DEFAULT_RULESET)
    assert plan.priority is Priority.HIGH
    rebalances = [a for a in plan.actions if isinstance(a, Rebalance)]
    assert rebalances[0].details.market == "KXP" and rebalances[0].details.target_quantity == 20
    assert not any(isinstance(a, PlaceOrder) for a in plan.actions)
    assert "rule 1 applies" in plan.reasoning


def test_rule3_cancels_stale_orders_only() -> None:
    s = state(orders=[order("old", "KXA", age_hours=3), order("new", "KXB", age_hours=1)])
    plan = BRAIN.plan(s, DEFAULT_RULESET)
    assert [a.details.order_id for a in plan.actions if isinstance(a, CancelOrder)] == ["old"]


def test_rule4_degraded_health_means_no_new_orders() -> None:
    plan = BRAIN.plan(state(opportunities=[opportunity("KXA")], degraded=True), DEFAULT_RULESET)
    assert not any(isinstance(a, PlaceOrder) for a in plan.actions)
    assert "rule 4" in plan.reasoning and plan.priority is Priority.HIGH


def test_skips_markets_already_held_or_working() -> None:
    s = state(
        positions=[position("KXA")],
        orders=[order("o1", "KXB")],
        opportunities=[opportunity("KXA"), opportunity("KXB"), opportunity("KXC", side=Side.NO)],
    )
    plan = BRAIN.plan(s, DEFAULT_RULESET)
    placed = [a.details for a in plan.actions if isinstance(a, PlaceOrder)]
    assert [(d.market, d.side) for d in placed] == [("KXC", Side.NO)]
    assert placed[0].price == D("0.60")  # NO ask = 1 − YES bid 0.40


def test_thresholds_are_data() -> None:
    strict = RuleSet(version=2, thresholds=Thresholds(min_edge=D("0.2")))
    plan = BRAIN.plan(state(opportunities=[opportunity("KXA", edge="0.15")]), strict)
    assert not plan.actions and "edge > 0.2 leaves 0" in plan.reasoning


def test_deterministic() -> None:
    s = state(opportunities=[opportunity(f"KX{i}", edge=f"0.1{i}") for i in range(1, 9)])
    assert BRAIN.plan(s, DEFAULT_RULESET) == BRAIN.plan(s, DEFAULT_RULESET)
