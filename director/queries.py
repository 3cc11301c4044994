"""What an operator's face reads and asks of the engine, in one place: `Director.queries`.

The Telegram bot talks to the engine only through the Director's own methods and this object,
never through the store: records come back as the record types re-exported here. Rules changes
from a face (a review's Apply, a rollback) take one lock here, once, so two of them can never
interleave.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from director.cards import ApprovalCard, approval_card
from director.models import Autonomy, SystemState
from director.pnl import Period, PeriodPnl, PositionView, SettledPnl, pnl_by_period, position_views
from director.reporting import ApprovalRequest
from director.review import ReviewDecision, ReviewReport
from director.rulebook import RuleSet, Thresholds
from director.store import ApprovalRecord, CycleRecord, ReviewRecord
from director.why import ActionFact, Answer, StoryLine, explain, explain_cycle, fate_counts

if TYPE_CHECKING:
    from director.director import Director

__all__ = [
    "ApprovalRecord",
    "CycleRecord",
    "LimitsView",
    "PeriodPnl",
    "PositionView",
    "Queries",
    "ReviewRecord",
    "same_rules",
]

PNL_LOOKBACK_DAYS = 400  # the most /daily and /weekly look back (and fetch fills for)


@dataclass(frozen=True)
class LimitsView:
    max_order_contracts: int
    max_order_cost: Decimal
    max_exposure: Decimal  # fraction of equity
    risk_limit: float
    approval_cost_threshold: Decimal
    autonomy: Autonomy
    exchange: str
    approval_ttl_seconds: int


def same_rules(a: RuleSet, b: RuleSet) -> bool:
    """Same rule texts and thresholds, whatever the version numbers and notes."""
    return a.rules == b.rules and a.thresholds == b.thresholds


class Queries:
    def __init__(self, director: Director) -> None:
        self._d = director
        self._store = director.store
        # One rules change at a time, from whichever face: presses are handled concurrently.
        self._rules_lock = asyncio.Lock()

    # --- switches and records --------------------------------------------------------------

    async def paused(self) -> bool:
        return await self._store.paused()

    async def safe_mode(self) -> bool:
        return await self._store.safe_mode()

    async def last_cycle(self) -> CycleRecord | None:
        return await self._store.last_cycle()

    async def recent_cycles(self, count: int) -> list[CycleRecord]:
        return await self._store.recent_cycles(count)

    async def equity_history(self, since: datetime) -> list[tuple[datetime, Decimal]]:
        return await self._store.equity_history(since)

    async def approval(self, approval_id: int) -> ApprovalRecord | None:
        return await self._store.approval(approval_id)

    async def set_approval_message(self, approval_id: int, chat_id: int, message_id: int) -> None:
        await self._store.set_approval_message(approval_id, chat_id, message_id)

    async def review(self, review_id: int) -> ReviewRecord | None:
        return await self._store.review(review_id)

    async def set_review_message(self, review_id: int, chat_id: int, message_id: int) -> None:
        await self._store.set_review_message(review_id, chat_id, message_id)

    async def limits(self) -> LimitsView:
        s = self._d.settings
        rules = await self._store.active_rules()
        limits = self._d.limits(rules)
        return LimitsView(
            max_order_contracts=limits.max_order_contracts,
            max_order_cost=limits.max_order_cost,
            max_exposure=limits.max_exposure,
            risk_limit=limits.risk_limit,
            approval_cost_threshold=s.approval_cost_threshold,
            autonomy=await self._d.autonomy(),
            exchange=s.exchange,
            approval_ttl_seconds=s.approval_ttl_seconds,
        )

    # --- rules -----------------------------------------------------------------------------

    async def active_rules(self) -> RuleSet:
        return await self._store.active_rules()

    async def rules_history(self) -> list[RuleSet]:
        return await self._store.rules_history()

    async def rollback_refusal(self, version: int, from_version: int | None) -> str | None:
        """Why rolling back to `version` would be wrong now (no such version, already equal,
        or the rules changed since the prompt was drawn against `from_version`)."""
        history = {r.version: r for r in await self._store.rules_history()}
        target = history.get(version)
        active = await self._store.active_rules()
        if target is None:
            return f"There is no rules version {version}: versions run from 1 to {active.version}."
        if target.version == active.version:
            return f"Rules v{version} is the active version already."
        if same_rules(target, active):
            return (
                f"The active rules v{active.version} already equal v{version}: nothing to roll "
                "back."
            )
        if from_version is not None and active.version != from_version:
            return (
                f"The rules changed since this prompt (v{from_version} → v{active.version}): "
                f"send /rules rollback {version} again to see the new diff."
            )
        return None

    async def rollback(self, version: int, from_version: int, by: str) -> RuleSet | str:
        """The new active version, or why not (checked again under the rules lock)."""
        async with self._rules_lock:
            refusal = await self.rollback_refusal(version, from_version)
            if refusal is not None:
                return refusal
            return await self._d.reviewer.rollback(version, by)

    async def decide_review(self, review_id: int, by: str, apply: bool) -> ReviewDecision:
        async with self._rules_lock:
            return await self._d.reviewer.decide(review_id, by, apply)

    # --- positions, P&L, why ---------------------------------------------------------------

    async def positions(self, state: SystemState | None = None) -> list[PositionView]:
        state = state or await self._d.sense()
        return position_views(state.open_positions, state.markets)

    async def pnl(self, period: Period, count: int) -> list[PeriodPnl]:
        """The last `count` days or weeks with anything in them, newest last."""
        now = self._d.clock()
        days = count * (7 if period == "week" else 1) + 1
        since = now - timedelta(days=min(days, PNL_LOOKBACK_DAYS))
        equity = await self._store.equity_history(since)
        fills = await self._d.exchange.get_fills(since)
        settlements = await self._settlements(since)
        spend = await self._store.llm_costs_since(since)
        return pnl_by_period(period, equity, fills, settlements, spend)[-count:]

    async def _settlements(self, since: datetime) -> list[SettledPnl]:
        # Only venues that report settlements as such (the paper exchange) have them; on the
        # others a settlement shows in the equity change (as unrealized).
        read = getattr(self._d.exchange, "settlements", None)
        if read is None:
            return []
        return [SettledPnl(s.settled_at, s.pnl) for s in await read(since)]

    async def why(self) -> tuple[CycleRecord | None, list[Answer]]:
        """The last finished cycle and what became of each of its opportunities."""
        for cycle in await self._store.recent_cycles_with_state(1):
            state, facts = await self._cycle_facts(cycle)
            if state is not None:
                thresholds = await self._thresholds(cycle)
                return cycle, explain_cycle(state, thresholds, facts)
        return None, []

    async def story(self, market: str, cycles: int = 10) -> list[StoryLine]:
        """What became of `market` in each of the last `cycles` cycles, oldest first."""
        lines = []
        for cycle in reversed(await self._store.recent_cycles_with_state(cycles)):
            state, facts = await self._cycle_facts(cycle)
            if state is None:
                continue
            seen = state.opportunity(market)
            mine = [f for f in facts if f.market == market]
            if seen is not None:
                answer = explain(seen, state, await self._thresholds(cycle), facts).reason
            elif mine:
                answer = "; ".join(f"{f.kind} {f.status}: {f.reason}" for f in mine)
            elif state.position(market) is not None:
                answer = "held; not an opportunity this cycle"
            else:
                answer = "not an opportunity"
            lines.append(StoryLine(cycle.id, cycle.started_at, seen, answer))
        return lines

    async def _cycle_facts(self, cycle: CycleRecord) -> tuple[SystemState | None, list[ActionFact]]:
        state = cycle.state
        facts = []
        for record in await self._store.cycle_actions(cycle.id):
            facts.append(ActionFact(record.market, record.kind, record.status, record.reason))
        return state, facts

    async def _thresholds(self, cycle: CycleRecord) -> Thresholds:
        history = {r.version: r for r in await self._store.rules_history()}
        rules = history.get(cycle.rules_version or 0) or await self._store.active_rules()
        return rules.thresholds

    # --- the review ------------------------------------------------------------------------

    @property
    def review_by_model(self) -> bool:
        """True when the review asks the escalation-tier model, False for statistics."""
        return self._d.reviewer.model is not None

    async def run_review(self, trigger: str) -> ReviewReport:
        return await self._d.reviewer.run(trigger)

    async def unsent_approvals(self) -> list[int]:
        """Pending approvals whose request never reached the chat (no message recorded)."""
        return [a.id for a in await self._store.pending_approvals() if a.message_id is None]

    async def approval_card(self, request: ApprovalRequest) -> ApprovalCard | None:
        return await approval_card(self._d, request)

    async def why_counts(self, cycle_id: int) -> dict[str, int]:
        """How many of the cycle's opportunities were taken, blocked, below a threshold …"""
        cycle = await self._store.cycle(cycle_id)
        if cycle is None:
            return {}
        state, facts = await self._cycle_facts(cycle)
        if state is None:
            return {}
        return fate_counts(explain_cycle(state, await self._thresholds(cycle), facts))
