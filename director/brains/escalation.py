"""When a plan goes to the escalation tier, computed in code beside the planner's own flag.

The planner may ask for a consult (`requires_opus_consult`); these conditions escalate even
when it does not, because they are where a mistake costs the most:
- new exposure proposed while risk is above the near-risk threshold (rule 2's caution zone);
- new exposure proposed while a health source is failing (the picture may be incomplete);
- fresh news about a market the portfolio holds (the position may need to change).
Each condition is returned as a sentence the cycle report shows. Pure: no I/O.
"""

from __future__ import annotations

from datetime import timedelta

from director.models import PlaceOrder, Plan, SystemState
from director.rulebook import RuleSet

# News younger than this is "fresh": about one default cycle plus the feeds' own delay.
FRESH_NEWS = timedelta(hours=1)


def adds_exposure(plan: Plan) -> bool:
    return any(
        isinstance(action, PlaceOrder) or action.action_type == "place_basket"
        for action in plan.actions
    )


def escalation_reasons(plan: Plan, state: SystemState, rules: RuleSet) -> list[str]:
    """Why this plan must be reviewed by the escalation tier, beyond the planner's flag."""
    reasons: list[str] = []
    new_exposure = adds_exposure(plan)
    near = rules.thresholds.near_risk
    if new_exposure and state.current_risk_score > near:
        reasons.append(
            f"new orders proposed at risk {state.current_risk_score:.2f}, above the near-risk "
            f"threshold {near:.2f}"
        )
    health = state.system_health
    if new_exposure and not health.ok:
        reasons.append(f"new orders proposed while health is {health.summary()}")
    held = {p.market for p in state.open_positions}
    for item in state.news:
        fresh = item.published is None or state.timestamp - item.published <= FRESH_NEWS
        hits = sorted(held.intersection(item.matched))
        if fresh and hits:
            reasons.append(f"news on held market {', '.join(hits[:3])}: {item.title[:80]}")
            break
    return reasons
