"""P&L by UTC day or ISO week, and the open positions' figures, for the operator's /daily,
/weekly and /positions. Pure functions over records; Director.queries gathers the records.

Per period: the equity change (everything that happened: `total`), the realized part (sells at
their price against the average cost of the contracts bought before them, plus settlements the
exchange reports), the unrealized part (the rest: marks moving on what is still held), the fees
of the period's fills and the AI spend. The average cost is computed over the fills the
exchange returns for the look-back window, so a sell of contracts bought before it counts at
the window's own buys (said on screen as "from fills since …").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from director.models import Fill, Market, OrderAction, Position

Period = Literal["day", "week"]
ZERO = Decimal(0)


@dataclass(frozen=True)
class SettledPnl:
    """A settlement as P&L: when, and payout minus cost."""

    settled_at: datetime
    pnl: Decimal


@dataclass(frozen=True)
class PeriodPnl:
    start: date  # the UTC day, or the Monday of the ISO week
    equity_start: Decimal | None
    equity_end: Decimal | None
    realized: Decimal
    fees: Decimal
    ai_spend: Decimal
    fills: int

    @property
    def total(self) -> Decimal | None:
        if self.equity_start is None or self.equity_end is None:
            return None
        return self.equity_end - self.equity_start

    @property
    def unrealized(self) -> Decimal | None:
        """What the equity change holds beyond the realized P&L and after fees."""
        total = self.total
        return None if total is None else total - self.realized + self.fees


@dataclass(frozen=True)
class PositionView:
    market: str
    title: str
    side: str
    quantity: int
    avg_price: Decimal
    mark: Decimal | None
    unrealized: Decimal | None
    closes_at: datetime | None


def period_start(ts: datetime, period: Period) -> date:
    day = ts.date()
    return day - timedelta(days=day.weekday()) if period == "week" else day


def realized_from_fills(fills: Iterable[Fill]) -> list[tuple[datetime, Decimal]]:
    """(time, realized P&L before fees) of each sell, at the running average cost per
    (market, side)."""
    held: dict[tuple[str, str], tuple[int, Decimal]] = {}
    out = []
    for fill in sorted(fills, key=lambda f: (f.created_at, f.fill_id)):
        key = (fill.market, fill.side.value)
        quantity, cost = held.get(key, (0, ZERO))
        if fill.action is OrderAction.BUY:
            held[key] = (quantity + fill.quantity, cost + fill.price * fill.quantity)
            continue
        sold = min(fill.quantity, quantity)
        average = cost / quantity if quantity else fill.price
        out.append((fill.created_at, (fill.price - average) * sold))
        held[key] = (quantity - sold, cost - average * sold)
    return out


def pnl_by_period(
    period: Period,
    equity: Sequence[tuple[datetime, Decimal]],
    fills: Sequence[Fill],
    settlements: Sequence[SettledPnl],
    ai_spend: Sequence[tuple[datetime, Decimal]],
) -> list[PeriodPnl]:
    """One row per period that has anything in it, oldest first. An equity point closes the
    period it falls in; a period opens at the previous period's close."""
    realized: dict[date, Decimal] = defaultdict(Decimal)
    fees: dict[date, Decimal] = defaultdict(Decimal)
    counts: dict[date, int] = defaultdict(int)
    spend: dict[date, Decimal] = defaultdict(Decimal)
    last_equity: dict[date, Decimal] = {}
    first_equity: dict[date, Decimal] = {}
    for at, pnl in realized_from_fills(fills):
        realized[period_start(at, period)] += pnl
    for s in settlements:
        realized[period_start(s.settled_at, period)] += s.pnl
    for fill in fills:
        key = period_start(fill.created_at, period)
        fees[key] += fill.fee
        counts[key] += 1
    for at, cost in ai_spend:
        spend[period_start(at, period)] += cost
    for at, value in sorted(equity):
        key = period_start(at, period)
        first_equity.setdefault(key, value)
        last_equity[key] = value
    keys = sorted(set(realized) | set(fees) | set(spend) | set(last_equity))
    rows = []
    previous_close: Decimal | None = None
    for key in keys:
        opening = previous_close if previous_close is not None else first_equity.get(key)
        closing = last_equity.get(key, previous_close)
        rows.append(
            PeriodPnl(
                start=key,
                equity_start=opening,
                equity_end=closing,
                realized=realized.get(key, ZERO),
                fees=fees.get(key, ZERO),
                ai_spend=spend.get(key, ZERO),
                fills=counts.get(key, 0),
            )
        )
        previous_close = closing
    return rows


def position_views(positions: Sequence[Position], markets: dict[str, Market]) -> list[PositionView]:
    """Each open position with its mark and unrealized P&L, largest value first."""
    views = []
    for p in positions:
        market = markets.get(p.market)
        mark = p.mark_price
        if mark is None and market is not None:
            mark = market.mark(p.side)
        views.append(
            PositionView(
                market=p.market,
                title=market.title if market is not None else "",
                side=p.side.value,
                quantity=p.quantity,
                avg_price=p.avg_price,
                mark=mark,
                unrealized=None if mark is None else (mark - p.avg_price) * p.quantity,
                closes_at=market.close_time if market is not None else None,
            )
        )
    return sorted(views, key=lambda v: (-(v.mark or v.avg_price) * v.quantity, v.market))
