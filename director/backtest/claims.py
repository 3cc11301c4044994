"""What a brain claimed when it ordered, recorded as the backtest runs, for the trader's metrics.

`ClaimRecorder` wraps the brain a backtest measures (inside `MeteredBrain`). At each THINK it
notes the dollars exposed, the last mid-price of every market the state shows (so the last one
before a market closes is its closing line), and, for every order the plan places, the
opportunity it acted on: claimed edge and confidence, the ask and mid it saw. It changes
nothing the brain decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from director.brains.base import Brain, ThinkContext, ThinkResult
from director.fees import taker_fee
from director.models import Market, PlaceOrder, Side, SystemState
from director.rulebook import RuleSet

TWO = Decimal(2)


@dataclass(frozen=True)
class Claim:
    market: str
    side: Side
    at: datetime
    edge: Decimal  # the opportunity's claimed edge, net of the taker fee
    confidence: Decimal
    ask: Decimal  # of the side, when the brain decided
    mid: Decimal  # of the side: the market's own probability then


def side_mid(market: Market, side: Side) -> Decimal | None:
    bid, ask = market.bid(side), market.ask(side)
    if bid is None or ask is None:
        return None
    return (bid + ask) / TWO


@dataclass
class ClaimLog:
    claims: list[Claim] = field(default_factory=list)
    exposure: list[Decimal] = field(default_factory=list)  # dollars, one per THINK
    closing: dict[tuple[str, Side], Decimal] = field(default_factory=dict)  # last mid seen
    orders: int = 0
    capped: int = 0  # orders whose size a per-order cap set, not the brain's sizing


class ClaimRecorder:
    """A brain that records what the brain it wraps claimed (see the module docstring)."""

    def __init__(self, inner: Brain, *, max_contracts: int, max_cost: Decimal) -> None:
        self.inner = inner
        self.name = inner.name
        self.log = ClaimLog()
        self._max_contracts = max_contracts
        self._max_cost = max_cost

    async def think(self, state: SystemState, rules: RuleSet, context: ThinkContext) -> ThinkResult:
        self.log.exposure.append(state.exposure)
        for ticker, market in state.markets.items():
            if market.is_open:
                for side in Side:
                    mid = side_mid(market, side)
                    if mid is not None:
                        self.log.closing[(ticker, side)] = mid
        result = await self.inner.think(state, rules, context)
        for action in result.plan.actions:
            if isinstance(action, PlaceOrder):
                self._note(action, state)
        return result

    async def close(self) -> None:
        await self.inner.close()

    def _note(self, action: PlaceOrder, state: SystemState) -> None:
        d = action.details
        if d.price is not None and d.quantity is not None:
            self.log.orders += 1
            self.log.capped += self._at_a_cap(d.price, d.quantity)
        opportunity = state.opportunity(d.market)
        market = state.markets.get(d.market)
        if opportunity is None or opportunity.side is not d.side or market is None:
            return
        ask, mid = market.ask(d.side), side_mid(market, d.side)
        if ask is None or mid is None:
            return
        self.log.claims.append(
            Claim(
                d.market,
                d.side,
                state.timestamp,
                opportunity.edge,
                opportunity.confidence,
                ask,
                mid,
            )
        )

    def _at_a_cap(self, price: Decimal, quantity: int) -> bool:
        """True when the contract cap or the cost cap, not the sizing, set the quantity."""
        if quantity >= self._max_contracts:
            return True
        one_more = quantity + 1
        return price * one_more + taker_fee(one_more, price) > self._max_cost
