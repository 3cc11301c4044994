"""The State of the Union: news, the health of every source, and the whole state one cycle
knows."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import Field

from director.models.base import Autonomy, Frozen, Side
from director.models.market import Market
from director.models.opportunities import BasketOpportunity, Opportunity
from director.models.orders import Order, Position


class NewsItem(Frozen):
    title: str
    link: str = ""
    source: str = ""
    published: datetime | None = None
    matched: list[str] = Field(default_factory=list)


class SourceHealth(Frozen):
    ok: bool
    detail: str = ""
    latency_ms: float = 0.0
    critical: bool = False


class SystemHealth(Frozen):
    sources: dict[str, SourceHealth] = Field(default_factory=dict)
    counters: dict[str, int] = Field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.sources.values())

    @property
    def degraded(self) -> bool:
        """A critical source failed: the director trades in safe mode this cycle."""
        return any(s.critical and not s.ok for s in self.sources.values())

    @property
    def failing(self) -> list[str]:
        return [name for name, s in self.sources.items() if not s.ok]

    def summary(self) -> str:
        if self.ok:
            return "ok"
        parts = []
        for name in self.failing:
            detail = self.sources[name].detail
            parts.append(f"{name} down ({detail})" if detail else f"{name} down")
        return ("DEGRADED: " if self.degraded else "warn: ") + ", ".join(parts)


class SystemState(Frozen):
    """The State of the Union: everything one cycle knows about the world."""

    timestamp: datetime
    portfolio_cash: Decimal
    open_positions: list[Position] = Field(default_factory=list)
    pending_orders: list[Order] = Field(default_factory=list)
    recent_pnl_24h: Decimal = Decimal(0)
    system_health: SystemHealth = Field(default_factory=SystemHealth)
    active_opportunities: list[Opportunity] = Field(default_factory=list)
    current_risk_score: float = Field(ge=0, le=1, default=0.0)
    equity: Decimal
    exposure: Decimal = Decimal(0)
    safe_mode: bool = False
    safe_mode_reason: str = ""
    autonomy: Autonomy = Autonomy.OBSERVE
    markets: dict[str, Market] = Field(default_factory=dict)
    news: list[NewsItem] = Field(default_factory=list)
    exchange: str = "paper"
    # Markets with an action parked for a human: a brain should not propose them again.
    awaiting_approval: list[str] = Field(default_factory=list)
    # Issue 12. Market → why it takes no new order: an order sent there whose outcome is not
    # reconciled with the exchange yet (director/reconcile.py).
    unresolved_orders: dict[str, str] = Field(default_factory=dict)
    # Issue 12. Exchange reads that failed this cycle ("balance", "positions", "orders"):
    # their values here are placeholders, so nothing may be proposed or sent from them.
    unknown_data: list[str] = Field(default_factory=list)
    # Baskets over one event, each traded as one unit (place_basket); their legs are in
    # `markets` like any opportunity's.
    basket_opportunities: list[BasketOpportunity] = Field(default_factory=list)
    # Issue 13. Why the exchange takes no order now ("" while it trades): its maintenance
    # window or a pause, with when it is expected back. The guard sends nothing meanwhile.
    trading_halt: str = ""

    def position(self, market: str) -> Position | None:
        return next((p for p in self.open_positions if p.market == market), None)

    def opportunity(self, market: str) -> Opportunity | None:
        return next((o for o in self.active_opportunities if o.market == market), None)

    def order(self, order_id: str) -> Order | None:
        return next((o for o in self.pending_orders if o.order_id == order_id), None)

    def basket(self, event: str, side: Side | None = None) -> BasketOpportunity | None:
        return next(
            (
                b
                for b in self.basket_opportunities
                if b.event == event and (side is None or b.side is side)
            ),
            None,
        )
