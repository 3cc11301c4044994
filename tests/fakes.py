"""In-process fakes for unit tests of the engine (end-to-end tests use the real parts)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from director.brains.base import ThinkContext, ThinkResult
from director.exchanges.base import ExchangeError, OrderNotFound
from director.models import (
    Fill,
    Market,
    Opportunity,
    Order,
    OrderAction,
    OrderRequest,
    OrderStatus,
    Plan,
    Position,
    SystemState,
)
from director.reporting import ApprovalDecision, ApprovalRequest, CycleReport
from director.rulebook import RuleSet
from tests.builders import order_for


class FakeExchange:
    name = "fake"

    def __init__(self, cash: str = "1000", markets: Sequence[Market] = ()) -> None:
        self.cash = Decimal(cash)
        self.markets = {m.ticker: m for m in markets}
        self.positions: dict[str, Position] = {}
        self.orders: dict[str, Order] = {}
        self.by_coid: dict[str, Order] = {}
        self.placed: list[OrderRequest] = []
        self.fail_reads: set[str] = set()
        self.refuse_orders: str | None = None
        # place_order waits here: a test clears it to hold a create in flight.
        self.place_gate = asyncio.Event()
        self.place_gate.set()

    def _check(self, what: str) -> None:
        if what in self.fail_reads:
            raise ConnectionError(f"{what} unavailable")

    async def get_balance(self) -> Decimal:
        self._check("balance")
        return self.cash

    async def get_positions(self) -> list[Position]:
        self._check("positions")
        return list(self.positions.values())

    async def get_resting_orders(self) -> list[Order]:
        self._check("orders")
        return [o for o in self.orders.values() if o.status is OrderStatus.RESTING]

    async def get_fills(self, since: datetime | None = None) -> list[Fill]:
        return []

    async def get_markets(self, tickers: Sequence[str] | None = None) -> list[Market]:
        self._check("markets")
        if tickers is None:
            return list(self.markets.values())
        return [self.markets[t] for t in tickers if t in self.markets]

    async def place_order(self, request: OrderRequest) -> Order:
        await self.place_gate.wait()
        if request.client_order_id in self.by_coid:
            return self.by_coid[request.client_order_id]
        if self.refuse_orders:
            raise ExchangeError(self.refuse_orders)
        self.placed.append(request)
        cost = request.price * request.quantity
        held = self.positions.get(request.market)
        if request.action is OrderAction.BUY:
            self.cash -= cost
            quantity = request.quantity + (held.quantity if held else 0)
            self.positions[request.market] = Position(
                market=request.market, side=request.side, quantity=quantity, avg_price=request.price
            )
        else:
            self.cash += cost
            assert held is not None
            left = held.quantity - request.quantity
            if left:
                self.positions[request.market] = held.model_copy(update={"quantity": left})
            else:
                del self.positions[request.market]
        order = order_for(request, f"f{len(self.placed)}")
        self.by_coid[request.client_order_id] = order
        return order

    async def cancel_order(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None or order.status is not OrderStatus.RESTING:
            raise OrderNotFound(order_id)
        canceled = order.model_copy(update={"status": OrderStatus.CANCELED, "remaining": 0})
        self.orders[order_id] = canceled
        return canceled

    async def close(self) -> None:
        return None


class ListSource:
    """Opportunities a test sets directly (a list given is kept, not copied: the test may
    change it between cycles)."""

    name = "test-scanner"

    def __init__(self, opportunities: Sequence[Opportunity] = ()) -> None:
        self.items = opportunities if isinstance(opportunities, list) else list(opportunities)

    async def opportunities(self, now: datetime) -> list[Opportunity]:
        return list(self.items)

    def counters(self) -> dict[str, int]:
        return {"found": len(self.items)}


class ScriptedBrain:
    """Returns the plans it is given, in order (the last one repeats). After `hold()`, the
    next think() sets `thinking` and waits for `release`: a test knows a cycle is in THINK."""

    name = "scripted"

    def __init__(self, *plans: Plan, escalated: bool = False) -> None:
        self.plans = list(plans)
        self.escalated = escalated
        self.seen: list[SystemState] = []
        self.thinking = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    def hold(self) -> None:
        self.thinking.clear()
        self.release.clear()

    async def think(self, state: SystemState, rules: RuleSet, context: ThinkContext) -> ThinkResult:
        self.seen.append(state)
        self.thinking.set()
        await self.release.wait()
        plan = self.plans.pop(0) if len(self.plans) > 1 else self.plans[0]
        return ThinkResult(
            plan=plan,
            brain=self.name,
            escalated=self.escalated,
            escalation_reason="test" if self.escalated else "",
        )

    async def close(self) -> None:
        return None


class RecordingReporter:
    def __init__(self) -> None:
        self.reports: list[CycleReport] = []
        self.requests: list[ApprovalRequest] = []
        self.settled: list[ApprovalDecision] = []
        self.alerts: list[str] = []
        self.fail = False

    async def cycle_report(self, report: CycleReport) -> None:
        if self.fail:
            raise ConnectionError("telegram is down")
        self.reports.append(report)

    async def approval_requested(self, request: ApprovalRequest) -> None:
        if self.fail:
            raise ConnectionError("telegram is down")
        self.requests.append(request)

    async def approval_settled(self, decision: ApprovalDecision) -> None:
        self.settled.append(decision)

    async def alert(self, text: str) -> None:
        self.alerts.append(text)
