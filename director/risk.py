"""Exposure and the risk score: pure arithmetic over positions and orders.

Exposure is money at risk: what open positions cost (a binary contract can lose at most its
price) plus the cash resting buy orders hold back.

The risk score, in [0, 1]:

    e = exposure / (max_exposure × equity)              use of the exposure limit
    c = largest single-market exposure / exposure       concentration (0 with no exposure)
    d = max(0, −pnl_24h) / (daily_loss_limit × equity)  24h drawdown against its limit
    risk = clamp(0.75·e + 0.25·c·e + d, 0, 1)

So a book at its exposure limit spread over many markets scores about 0.75, the same book in
one market scores 1.0, and a 24h loss of 80 % of the daily loss limit alone scores 0.8.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from director.models import Order, Position


def market_exposures(positions: Iterable[Position], orders: Iterable[Order]) -> dict[str, Decimal]:
    by_market: dict[str, Decimal] = defaultdict(Decimal)
    for position in positions:
        by_market[position.market] += position.cost
    for order in orders:
        if order.reserved:
            by_market[order.market] += order.reserved
    return dict(by_market)


def equity(cash: Decimal, positions: Iterable[Position], orders: Iterable[Order]) -> Decimal:
    """Cash, plus what resting buys hold back, plus positions at their mark."""
    reserved = sum((o.reserved for o in orders), Decimal(0))
    return cash + reserved + sum((p.market_value for p in positions), Decimal(0))


def risk_score(
    exposures: dict[str, Decimal],
    equity_value: Decimal,
    *,
    max_exposure: Decimal,
    pnl_24h: Decimal,
    daily_loss_limit: Decimal,
) -> float:
    if equity_value <= 0:
        return 1.0
    total = sum(exposures.values(), Decimal(0))
    used = float(total / (max_exposure * equity_value))
    concentration = float(max(exposures.values()) / total) if total > 0 else 0.0
    drawdown = float(max(Decimal(0), -pnl_24h) / (daily_loss_limit * equity_value))
    score = 0.75 * used + 0.25 * concentration * used + drawdown
    return round(min(1.0, max(0.0, score)), 4)
