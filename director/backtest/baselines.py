"""The baselines a brain is measured against (Brain protocol, director/brains/base.py).

- `none` never trades: its equity is the starting cash, so any other brain's numbers read as
  "better or worse than doing nothing".
- `naive` takes every opportunity the scanners report, in the order SENSE ranks them, at the
  largest size the guard allows: no confidence or edge filter, no concern for risk beyond the
  hard limits. It is what a trader gets by wiring a scanner straight to an order placer.
- `naive-once` is `naive` that buys each market at most once: never a market it holds, has
  an order working on, or ever held. It separates the judgement of the rules brain from its
  refusal to pile into the same market cycle after cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from director.brains.base import ThinkContext, ThinkResult
from director.fees import fee_per_contract, taker_fee
from director.guard import MAX_PRICE, MIN_PRICE, Limits
from director.models import (
    CENT,
    Action,
    Opportunity,
    PlaceOrder,
    PlaceOrderDetails,
    Plan,
    Priority,
    SystemState,
)
from director.rulebook import RuleSet
from director.settings import Settings


class NoneBrain:
    """Never trades."""

    name = "none"

    async def think(self, state: SystemState, rules: RuleSet, context: ThinkContext) -> ThinkResult:
        return ThinkResult(plan=Plan.no_op("Baseline `none`: never trades."), brain=self.name)

    async def close(self) -> None:
        return None


@dataclass
class _Room:
    """Cash and exposure left for the rest of the plan, as the guard will count them."""

    cash: Decimal
    exposure_left: Decimal


class NaiveBrain:
    """Every opportunity, at the largest size the guard allows."""

    name = "naive"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def think(self, state: SystemState, rules: RuleSet, context: ThinkContext) -> ThinkResult:
        return ThinkResult(plan=self.plan(state, rules), brain=self.name)

    async def close(self) -> None:
        return None

    def plan(self, state: SystemState, rules: RuleSet) -> Plan:
        total = len(state.active_opportunities)
        limits = Limits.from_settings(self._settings, rules)
        risk_limit = limits.risk_limit
        if state.safe_mode:
            return Plan.no_op(f"{total} opportunities; safe mode: the guard allows no new orders.")
        if state.current_risk_score > risk_limit:
            return Plan.no_op(
                f"{total} opportunities; risk {state.current_risk_score:.2f} > {risk_limit:.2f}: "
                "the guard allows no new exposure."
            )
        cap = (limits.max_exposure * state.equity).quantize(CENT)
        room = _Room(cash=state.portfolio_cash, exposure_left=cap - state.exposure)
        actions: list[Action] = []
        taken: set[str] = set()
        for opportunity in state.active_opportunities:
            # The guard allows one order per market per plan.
            if opportunity.market in taken:
                continue
            order = self._largest(opportunity, state, room, limits)
            if order is None:
                continue
            taken.add(opportunity.market)
            actions.append(order)
        return Plan(
            reasoning=(
                f"Baseline `naive`: {total} opportunities, {len(actions)} taken at the largest "
                "size the guard allows."
            ),
            actions=actions,
            priority=Priority.MEDIUM if actions else Priority.LOW,
        )

    def _largest(
        self, opportunity: Opportunity, state: SystemState, room: _Room, limits: Limits
    ) -> PlaceOrder | None:
        market = state.markets.get(opportunity.market)
        if market is None or not market.is_open:
            return None
        price = market.ask(opportunity.side)
        if price is None or not MIN_PRICE <= price <= MAX_PRICE or price != price.quantize(CENT):
            return None
        spend = min(limits.max_order_cost, room.cash)
        if spend <= 0 or room.exposure_left < price:
            return None
        by_cost = (spend / (price + fee_per_contract(price))).to_integral_value(ROUND_FLOOR)
        by_exposure = (room.exposure_left / price).to_integral_value(ROUND_FLOOR)
        quantity = min(int(by_cost), int(by_exposure), limits.max_order_contracts)
        # The fee rounds up to the cent, so the estimate above can be a contract or two high.
        while quantity > 0 and price * quantity + taker_fee(quantity, price) > spend:
            quantity -= 1
        if quantity < 1:
            return None
        room.cash -= price * quantity + taker_fee(quantity, price)
        room.exposure_left -= price * quantity
        return PlaceOrder(
            details=PlaceOrderDetails(
                market=opportunity.market, side=opportunity.side, price=price, quantity=quantity
            )
        )


class NaiveOnceBrain(NaiveBrain):
    """`naive`, but each market bought at most once."""

    name = "naive-once"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._seen: set[str] = set()  # markets held or worked on at some cycle

    def plan(self, state: SystemState, rules: RuleSet) -> Plan:
        self._seen.update(p.market for p in state.open_positions)
        self._seen.update(o.market for o in state.pending_orders)
        self._seen.update(state.awaiting_approval)
        fresh = [o for o in state.active_opportunities if o.market not in self._seen]
        plan = super().plan(state.model_copy(update={"active_opportunities": fresh}), rules)
        return plan.model_copy(
            update={
                "reasoning": plan.reasoning.replace("Baseline `naive`", "Baseline `naive-once`")
            }
        )
