"""Small constructors for states and plans in unit tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from director import risk
from director.exchanges.book_math import new_order
from director.guard import Limits
from director.models import (
    Autonomy,
    Market,
    Opportunity,
    Order,
    OrderRequest,
    OrderStatus,
    PlaceOrder,
    PlaceOrderDetails,
    Plan,
    Position,
    Priority,
    Side,
    SourceHealth,
    SystemHealth,
    SystemState,
)
from director.reporting import CycleReport

NOW = datetime(2026, 11, 24, 14, 15, tzinfo=UTC)
D = Decimal

LIMITS = Limits(max_order_contracts=100, max_order_cost=D(50), max_exposure=D("0.5"))


def market(ticker: str, bid: str = "0.40", ask: str = "0.42", title: str = "") -> Market:
    return Market(
        ticker=ticker,
        title=title or f"Will {ticker} happen?",
        yes_bid=D(bid),
        yes_ask=D(ask),
        close_time=NOW + timedelta(days=2),
    )


def opportunity(
    ticker: str, edge: str = "0.15", confidence: str = "0.8", side: Side = Side.YES
) -> Opportunity:
    return Opportunity(
        market=ticker,
        side=side,
        edge=D(edge),
        confidence=D(confidence),
        expires_at=NOW + timedelta(hours=2),
        source="test",
    )


def buy(ticker: str = "KXA", price: str = "0.42", quantity: int = 10) -> PlaceOrder:
    """A plan's action: buy YES on `ticker` at `price`."""
    return PlaceOrder(
        details=PlaceOrderDetails(market=ticker, side=Side.YES, price=D(price), quantity=quantity)
    )


def position(ticker: str, quantity: int = 10, avg: str = "0.40", side: Side = Side.YES) -> Position:
    return Position(market=ticker, side=side, quantity=quantity, avg_price=D(avg))


def order(order_id: str, ticker: str, age_hours: float = 0.5, price: str = "0.30") -> Order:
    return Order(
        order_id=order_id,
        market=ticker,
        side=Side.YES,
        price=D(price),
        quantity=10,
        remaining=10,
        created_at=NOW - timedelta(hours=age_hours),
    )


def order_for(
    request: OrderRequest, order_id: str, *, filled: bool = True, created_at: datetime = NOW
) -> Order:
    """The order a venue makes of `request`: filled at once, or (`filled=False`) resting whole."""
    return new_order(
        request,
        order_id=order_id,
        remaining=0 if filled else request.quantity,
        status=OrderStatus.FILLED if filled else OrderStatus.RESTING,
        created_at=created_at,
    )


def state(
    *,
    cash: str = "1000",
    positions: list[Position] | None = None,
    orders: list[Order] | None = None,
    opportunities: list[Opportunity] | None = None,
    markets: list[Market] | None = None,
    risk_score: float | None = None,
    safe_mode: bool = False,
    degraded: bool = False,
    autonomy: Autonomy = Autonomy.AUTO,
) -> SystemState:
    positions = positions or []
    orders = orders or []
    opportunities = opportunities or []
    known = {m.ticker: m for m in markets or []}
    for ticker in {p.market for p in positions} | {o.market for o in opportunities}:
        known.setdefault(ticker, market(ticker))
    equity = risk.equity(D(cash), positions, orders)
    exposures = risk.market_exposures(positions, orders)
    score = risk_score
    if score is None:
        score = risk.risk_score(
            exposures, equity, max_exposure=D("0.5"), pnl_24h=D(0), daily_loss_limit=D("0.05")
        )
    sources = {"balance": SourceHealth(ok=not degraded, critical=True, detail="boom")}
    return SystemState(
        timestamp=NOW,
        portfolio_cash=D(cash),
        open_positions=positions,
        pending_orders=orders,
        active_opportunities=opportunities,
        current_risk_score=score,
        equity=equity,
        exposure=sum(exposures.values(), D(0)),
        safe_mode=safe_mode or degraded,
        safe_mode_reason="test" if safe_mode else "",
        autonomy=autonomy,
        markets=known,
        system_health=SystemHealth(sources=sources),
    )


def finished_cycle(cycle_id: int, when: datetime, **overrides: object) -> CycleReport:
    """A minimal report of a cycle that ran at `when`, for Store.finish_cycle."""
    values: dict[str, object] = {
        "cycle_id": cycle_id,
        "trigger": "manual",
        "started_at": when,
        "finished_at": when,
        "state": None,
        "reasoning": "",
        "priority": Priority.LOW,
        "brain": "rules",
        "model": None,
        "cost_usd": D(0),
        "rules_version": None,
        "plan": Plan.no_op("hold"),
    }
    values.update(overrides)
    return CycleReport(**values)  # type: ignore[arg-type]
