"""The rules brain: DESIGN.md's four default rules, in code. Deterministic, offline, free.

It is the embedded default, the fallback when the AI is unavailable or over budget, and the
baseline every other brain is compared with. Its reasoning reads like an operator's log.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_FLOOR, Decimal

from director.brains.base import ThinkContext, ThinkResult
from director.brains.rules_baskets import take_baskets
from director.fees import fee_per_contract, trade_fee
from director.guard import MAX_PRICE, MIN_PRICE, Limits
from director.models import (
    Action,
    CancelOrder,
    CancelOrderDetails,
    Opportunity,
    PlaceOrder,
    PlaceOrderDetails,
    Plan,
    Priority,
    Rebalance,
    RebalanceDetails,
    SystemState,
)
from director.rulebook import RuleSet
from director.settings import Settings


def _money(value: Decimal) -> str:
    return f"${value:,.2f}"


# The rules brain's sizing, in words: the Claude planner's prompt states it (brains/prompt.py),
# so both brains size the same way. It describes RulesBrain._size: change both together.
SIZING_RULE = (
    "Kelly = edge / (1 - price); stake = equity x kelly_fraction x Kelly x confidence; then at "
    "most summary.headroom.per_order dollars (the smallest of the cost limit per order, cash and "
    "exposure headroom); quantity = floor(stake / (price + fee per contract)), at most "
    "max_contracts_per_order, stepped down until price x quantity + the rounded fee fits."
)


class RulesBrain:
    name = "rules"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def think(self, state: SystemState, rules: RuleSet, context: ThinkContext) -> ThinkResult:
        return ThinkResult(plan=self.plan(state, rules), brain=self.name)

    async def close(self) -> None:
        return None

    def plan(self, state: SystemState, rules: RuleSet) -> Plan:
        t = rules.thresholds
        limits = Limits.from_settings(self._settings, rules)
        notes, priority = _safety_notes(state)

        if state.unknown_data:
            # Issue 12: a failed read is a placeholder ($0 cash, no positions), and a risk
            # score over it means nothing: propose nothing from it, not even a sell.
            failed = ", ".join(state.unknown_data)
            notes.append(f"{failed} unknown (that read failed): no proposal from unknown data.")
            return Plan(reasoning=" ".join(notes), actions=[], priority=Priority.HIGH)

        if state.trading_halt:
            # Issue 13: the exchange takes nothing now (maintenance, a pause); resting orders
            # stay as they are. Propose nothing rather than a list the guard will refuse.
            notes.append(f"Exchange not trading ({state.trading_halt}): nothing to do until then.")
            return Plan(reasoning=" ".join(notes), actions=[], priority=Priority.LOW)

        actions: list[Action] = []
        # Rule 1: preserve capital.
        if state.current_risk_score > t.risk_limit:
            actions.extend(self._preserve_capital(state, t.risk_limit, notes))
            priority = Priority.HIGH
        # Rule 3: stale orders.
        actions.extend(_cancel_stale(state, t.stale_order_hours, notes))
        # Rule 2: opportunities.
        added = self._new_exposure(state, rules, limits, notes)
        actions.extend(added)
        if added and priority is Priority.LOW:
            priority = Priority.MEDIUM

        if not actions:
            notes.append("Nothing to do this cycle.")
        return Plan(reasoning=" ".join(notes), actions=actions, priority=priority)

    def _preserve_capital(
        self, state: SystemState, risk_limit: float, notes: list[str]
    ) -> list[Action]:
        reduce = self._reduce_positions(state)
        notes.append(
            f"Risk {state.current_risk_score:.2f} > {risk_limit}: rule 1 applies, "
            + (
                f"halving the {len(reduce)} largest position(s) by exposure."
                if reduce
                else "but there is no position to reduce; holding off new exposure."
            )
        )
        return reduce

    def _new_exposure(
        self, state: SystemState, rules: RuleSet, limits: Limits, notes: list[str]
    ) -> list[Action]:
        """Rule 2: the opportunities worth taking, then the baskets, when new exposure is
        allowed at all; what it found and why goes to `notes`."""
        t = rules.thresholds
        may_add = (
            not state.safe_mode
            and not state.system_health.degraded
            and state.current_risk_score <= t.risk_limit
        )
        opportunities = state.active_opportunities
        actions: list[Action] = []
        if not opportunities:
            notes.append("No opportunities detected.")
        elif not may_add:
            notes.append(f"{len(opportunities)} opportunities detected; none taken (see above).")
        else:
            orders, note = self._take_opportunities(state, rules, limits)
            actions.extend(orders)
            notes.append(note)
        if may_add and state.basket_opportunities:
            baskets, note = take_baskets(
                state,
                t,
                max_contracts=limits.max_order_contracts,
                max_cost=limits.max_order_cost,
                max_exposure=limits.max_exposure,
            )
            actions.extend(baskets)
            notes.append(note)
        return actions

    def _reduce_positions(self, state: SystemState) -> list[Action]:
        # The biggest risks first; at most three per cycle so one bad quote can't dump the book.
        largest = sorted(state.open_positions, key=lambda p: (-p.cost, p.market))[:3]
        return [
            Rebalance(details=RebalanceDetails(market=p.market, target_quantity=p.quantity // 2))
            for p in largest
        ]

    def _take_opportunities(
        self, state: SystemState, rules: RuleSet, limits: Limits
    ) -> tuple[list[Action], str]:
        t = rules.thresholds
        total = len(state.active_opportunities)
        qualified = [
            o
            for o in state.active_opportunities
            if o.confidence > t.min_confidence and o.edge > t.min_edge
        ]
        text = (
            f"{total} opportunities detected. Rule 2 applies. Filtering for confidence > "
            f"{t.min_confidence} and edge > {t.min_edge} leaves {len(qualified)}."
        )
        busy = (
            {o.market for o in state.pending_orders}
            | {p.market for p in state.open_positions}
            | set(state.awaiting_approval)
            | set(state.unresolved_orders)
        )
        fresh = [o for o in qualified if o.market not in busy]
        if len(fresh) < len(qualified):
            text += (
                f" {len(qualified) - len(fresh)} already held, working, awaiting approval or "
                "being reconciled: skipped."
            )
        fresh.sort(key=lambda o: (-o.edge, -o.confidence, o.market))
        if not fresh:
            return [], text
        if state.current_risk_score > t.near_risk:
            fresh = fresh[:1]
            text += (
                f" Risk {state.current_risk_score:.2f} is near the threshold: selecting the single "
                f"highest edge ({fresh[0].edge}) to avoid concentration."
            )
        else:
            fresh = fresh[: t.max_new_orders]
        actions: list[Action] = []
        picks: list[str] = []
        for opportunity in fresh:
            order = self._size(opportunity, state, rules, limits)
            if order is None:
                picks.append(f"{opportunity.market}: no quote or too small to size")
                continue
            actions.append(order)
            d = order.details
            picks.append(
                f"{d.market} {d.side.value} {d.quantity}@{d.price} "
                f"(edge {opportunity.edge}, conf {opportunity.confidence})"
            )
        if picks:
            text += " Taking: " + "; ".join(picks) + "."
        return actions, text

    def _size(
        self, opportunity: Opportunity, state: SystemState, rules: RuleSet, limits: Limits
    ) -> PlaceOrder | None:
        # SIZING_RULE states this in words for the Claude planner: change both together.
        """A fraction of the Kelly stake, scaled by confidence, within the per-order limits."""
        market = state.markets.get(opportunity.market)
        price = market.ask(opportunity.side) if market else None
        if price is None or not MIN_PRICE <= price <= MAX_PRICE:
            return None
        # The opportunity's edge is relative to this ask; Kelly for a binary contract bought at
        # p with win probability p + edge is edge / (1 − p).
        kelly = opportunity.edge / (1 - price)
        stake = state.equity * kelly * rules.thresholds.kelly_fraction * opportunity.confidence
        stake = min(stake, limits.max_order_cost, state.portfolio_cash)
        headroom = limits.max_exposure * state.equity - state.exposure
        stake = min(stake, headroom)
        fees = market.fees if market else None  # the market's own (issue 13), else standard
        if fees is not None and not fees.modelled:
            return None  # the guard would refuse it: a fee schedule we cannot price
        per_contract = price + fee_per_contract(price, fees)
        quantity = int((stake / per_contract).to_integral_value(rounding=ROUND_FLOOR))
        quantity = min(quantity, limits.max_order_contracts)
        # The fee rounds up to the cent: step down until the whole cost fits.
        cap = min(limits.max_order_cost, state.portfolio_cash)
        while (
            quantity > 0
            and price * quantity + trade_fee(quantity, price, fees, at=state.timestamp) > cap
        ):
            quantity -= 1
        if quantity < 1:
            return None
        return PlaceOrder(
            details=PlaceOrderDetails(
                market=opportunity.market, side=opportunity.side, price=price, quantity=quantity
            )
        )


def _safety_notes(state: SystemState) -> tuple[list[str], Priority]:
    """Rule 4 first, since it decides whether rule 2 may run at all; then an operator's safe
    mode."""
    if state.system_health.degraded:
        failing = ", ".join(state.system_health.failing)
        note = (
            f"Health degraded ({failing}): rule 4, safe mode "
            "— only closing positions, no new orders."
        )
        return [note], Priority.HIGH
    if state.safe_mode:
        reason = f" ({state.safe_mode_reason})" if state.safe_mode_reason else ""
        return [f"Safe mode is on{reason}: no new orders."], Priority.LOW
    return [], Priority.LOW


def _cancel_stale(state: SystemState, stale_order_hours: float, notes: list[str]) -> list[Action]:
    """Rule 3: cancel every resting order older than the threshold."""
    stale_before = state.timestamp - timedelta(hours=stale_order_hours)
    stale = [o for o in state.pending_orders if o.created_at < stale_before]
    if stale:
        notes.append(
            f"{len(stale)} resting order(s) older than {stale_order_hours:g}h: rule 3, cancel them."
        )
    return [CancelOrder(details=CancelOrderDetails(order_id=o.order_id)) for o in stale]
