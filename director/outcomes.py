"""Decisions and what came of them, for the review.

A *decision* is an opportunity a cycle saw, and what the director did about it: took it (an
order executed), held it for approval, was blocked, or let it pass. Its *outcome* is the market's
value of that side now — the settlement (0 or 1) once settled, else the current mark — against
the price the opportunity could be bought at then (the ask in that cycle's State of the Union),
net of the taker fee. Executed orders also carry what was really filled, at what price and fee.
So the review sees missed opportunities (blocked, rejected, filtered out) as clearly as taken
ones. Everything links back to the cycle, whose row holds the state and the plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from director.exchanges.base import Exchange
from director.fees import fee_per_contract, taker_fee
from director.models import Market, Side, SystemState
from director.store import ActionRecord, Store

TAKEN = {"executed", "approved"}


@dataclass(frozen=True)
class Decision:
    cycle_id: int
    seen_at: datetime
    market: str
    side: Side
    edge: Decimal
    confidence: Decimal
    hours_to_expiry: float
    source: str
    entry_price: Decimal | None  # the side's ask when the cycle saw it
    status: str  # "taken", "held", "blocked", "rejected", "expired", "observed", "passed"
    action_id: int | None = None
    filled: int = 0
    fill_price: Decimal | None = None

    @property
    def key(self) -> str:
        return f"c{self.cycle_id}:{self.market}:{self.side.value}"

    @property
    def taken(self) -> bool:
        return self.status == "taken"


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    mark: Decimal
    settled: bool

    @property
    def pnl_per_contract(self) -> Decimal | None:
        """What one contract bought at the decision's price made (or would have), net of fee."""
        price = self.decision.entry_price
        if price is None:
            return None
        return self.mark - price - fee_per_contract(price)

    @property
    def realized_pnl(self) -> Decimal:
        """For a taken decision: fills marked to now, less the fee paid."""
        d = self.decision
        if not d.taken or d.filled == 0 or d.fill_price is None:
            return Decimal(0)
        return (self.mark - d.fill_price) * d.filled - taker_fee(d.filled, d.fill_price)

    @property
    def won(self) -> bool:
        pnl = self.pnl_per_contract
        return pnl is not None and pnl > 0


def _status_of(action_status: str | None) -> str:
    if action_status is None:
        return "passed"
    if action_status in TAKEN:
        return "taken"
    if action_status == "awaiting_approval":
        return "held"
    return action_status


async def collect_decisions(store: Store, limit_cycles: int) -> list[Decision]:
    """Every opportunity seen by the last `limit_cycles` cycles, first sighting per market and
    side, newest first; an opportunity taken in any cycle counts as taken."""
    cycles = await store.recent_cycles_with_state(limit_cycles)
    first_seen: dict[tuple[str, Side], Decision] = {}
    for cycle in sorted(cycles, key=lambda c: c.id):
        state = cycle.state
        if state is None:
            continue
        acted: dict[str, ActionRecord] = {}
        for record in await store.cycle_actions(cycle.id):
            if record.kind == "place_order" and record.market:
                acted[record.market] = record
        for opp in state.active_opportunities:
            key = (opp.market, opp.side)
            action = acted.get(opp.market)
            status = _status_of(action.status if action else None)
            known = first_seen.get(key)
            if known is not None:
                if status == "taken" and not known.taken and action is not None:
                    first_seen[key] = _decision(
                        cycle.id, state, opp.market, opp.side, status, action.id, action.outcome
                    )
                continue
            first_seen[key] = _decision(
                cycle.id,
                state,
                opp.market,
                opp.side,
                status,
                action.id if action else None,
                action.outcome if action else None,
            )
    return sorted(first_seen.values(), key=lambda d: (d.seen_at, d.cycle_id), reverse=True)


def _decision(
    cycle_id: int,
    state: SystemState,
    market: str,
    side: Side,
    status: str,
    action_id: int | None,
    outcome: dict[str, Any] | None,
) -> Decision:
    opp = state.opportunity(market)
    assert opp is not None
    quote = state.markets.get(market)
    filled, fill_price = 0, None
    if outcome and status == "taken":
        filled = int(outcome.get("filled", 0) or 0)
        fill_price = Decimal(str(outcome["price"])) if outcome.get("price") else None
    return Decision(
        cycle_id=cycle_id,
        seen_at=state.timestamp,
        market=market,
        side=side,
        edge=opp.edge,
        confidence=opp.confidence,
        hours_to_expiry=max(0.0, (opp.expires_at - state.timestamp).total_seconds() / 3600),
        source=opp.source,
        entry_price=quote.ask(side) if quote else None,
        status=status,
        action_id=action_id,
        filled=filled,
        fill_price=fill_price,
    )


async def mark_outcomes(
    decisions: Sequence[Decision], exchange: Exchange, *, limit: int
) -> list[Outcome]:
    """Up to `limit` decisions (newest first) with a known mark."""
    tickers = sorted({d.market for d in decisions})
    markets: dict[str, Market] = {m.ticker: m for m in await exchange.get_markets(tickers)}
    outcomes = []
    for decision in decisions:
        market = markets.get(decision.market)
        mark = market.mark(decision.side) if market else None
        if mark is None or decision.entry_price is None:
            continue
        outcomes.append(
            Outcome(decision, mark, settled=market is not None and market.result is not None)
        )
        if len(outcomes) >= limit:
            break
    return outcomes


def outcome_dict(outcome: Outcome) -> dict[str, Any]:
    d = outcome.decision
    pnl = outcome.pnl_per_contract
    return {
        "decision": d.key,
        "market": d.market,
        "side": d.side.value,
        "edge": str(d.edge),
        "confidence": str(d.confidence),
        "hours_to_expiry": round(d.hours_to_expiry, 1),
        "status": d.status,
        "entry": str(d.entry_price),
        "mark": str(outcome.mark),
        "settled": outcome.settled,
        "pnl_per_contract": None if pnl is None else str(pnl.quantize(Decimal("0.0001"))),
        "realized_pnl": str(outcome.realized_pnl.quantize(Decimal("0.01"))),
    }
