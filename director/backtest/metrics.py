"""Pure arithmetic over what a backtest recorded: returns, drawdown, a Sharpe-like ratio, the
hit rate of closed trades, fees, and guard reasons grouped into comparable kinds.

Everything is Decimal and computed in a local decimal context, so the same inputs give the same
digits on every machine (a float mean over thousands of returns need not).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, localcontext
from itertools import pairwise

from director.models import Fill, OrderAction, Side

SECONDS_PER_YEAR = 365 * 24 * 3600
_CONTEXT = Context(prec=34)
ZERO = Decimal(0)


def cycle_returns(equity: Sequence[Decimal]) -> list[Decimal]:
    """Simple return from each equity point to the next. A non-positive equity ends the series:
    a return from zero is undefined and the account is finished anyway."""
    returns: list[Decimal] = []
    with localcontext(_CONTEXT):
        for before, after in pairwise(equity):
            if before <= 0:
                break
            returns.append(after / before - 1)
    return returns


@dataclass(frozen=True)
class Drawdown:
    fraction: Decimal  # worst fall from a running peak, as a fraction of that peak (0 = none)
    dollars: Decimal  # the same fall in dollars
    peak_index: int
    trough_index: int


def max_drawdown(equity: Sequence[Decimal]) -> Drawdown:
    if not equity:
        return Drawdown(ZERO, ZERO, 0, 0)
    worst = Drawdown(ZERO, ZERO, 0, 0)
    peak, peak_index = equity[0], 0
    with localcontext(_CONTEXT):
        for index, value in enumerate(equity):
            if value > peak:
                peak, peak_index = value, index
                continue
            if peak <= 0:
                continue
            fraction = (peak - value) / peak
            if fraction > worst.fraction:
                worst = Drawdown(fraction, peak - value, peak_index, index)
    return worst


def sharpe_like(returns: Sequence[Decimal], period_seconds: int) -> Decimal | None:
    """Mean over sample standard deviation of per-cycle returns, scaled to a year
    (× √(cycles per year)), with a zero risk-free rate. None when it is undefined: fewer than
    two returns, or returns that never vary (the `none` brain)."""
    if period_seconds <= 0:
        raise ValueError("period_seconds must be positive")
    n = len(returns)
    if n < 2:
        return None
    with localcontext(_CONTEXT):
        mean = sum(returns, ZERO) / n
        variance = sum(((r - mean) ** 2 for r in returns), ZERO) / (n - 1)
        if variance == 0:
            return None
        periods = Decimal(SECONDS_PER_YEAR) / Decimal(period_seconds)
        return mean / variance.sqrt() * periods.sqrt()


@dataclass(frozen=True)
class TradeResult:
    """Everything done in one market and side, netted: a trade."""

    market: str
    side: Side
    bought: int
    sold: int
    cash_flow: Decimal  # sale proceeds − purchase cost − fees
    fees: Decimal
    settled_as: Side | None  # the market's result once it settled

    @property
    def held(self) -> int:
        return self.bought - self.sold

    @property
    def closed(self) -> bool:
        return self.held == 0 or self.settled_as is not None

    @property
    def pnl(self) -> Decimal | None:
        """Realized profit net of fees; None while the trade is open."""
        if self.held == 0:
            return self.cash_flow
        if self.settled_as is None:
            return None
        payout = self.held if self.settled_as is self.side else 0
        return self.cash_flow + payout


def trade_results(fills: Iterable[Fill], settled: Mapping[str, Side | None]) -> list[TradeResult]:
    """Group fills by (market, side); `settled` maps a market to its result (None or absent
    while open). Sorted by market then side, so the output does not depend on fill order."""
    bought: Counter[tuple[str, Side]] = Counter()
    sold: Counter[tuple[str, Side]] = Counter()
    cash: dict[tuple[str, Side], Decimal] = {}
    fees: dict[tuple[str, Side], Decimal] = {}
    for fill in fills:
        key = (fill.market, fill.side)
        notional = fill.price * fill.quantity
        if fill.action is OrderAction.BUY:
            bought[key] += fill.quantity
            flow = -notional
        else:
            sold[key] += fill.quantity
            flow = notional
        cash[key] = cash.get(key, ZERO) + flow - fill.fee
        fees[key] = fees.get(key, ZERO) + fill.fee
    return [
        TradeResult(
            market=market,
            side=side,
            bought=bought[(market, side)],
            sold=sold[(market, side)],
            cash_flow=cash[(market, side)],
            fees=fees[(market, side)],
            settled_as=settled.get(market),
        )
        for market, side in sorted(cash, key=lambda k: (k[0], k[1].value))
    ]


@dataclass(frozen=True)
class HitRate:
    closed: int
    winners: int
    realized_pnl: Decimal

    @property
    def rate(self) -> Decimal | None:
        if self.closed == 0:
            return None
        with localcontext(_CONTEXT):
            return Decimal(self.winners) / Decimal(self.closed)


def hit_rate(trades: Iterable[TradeResult]) -> HitRate:
    """Share of closed trades that made money after fees (a break-even trade is not a hit)."""
    closed = winners = 0
    realized = ZERO
    for trade in trades:
        pnl = trade.pnl
        if pnl is None:
            continue
        closed += 1
        realized += pnl
        if pnl > 0:
            winners += 1
    return HitRate(closed=closed, winners=winners, realized_pnl=realized)


# Guard reasons carry tickers, ids and amounts; without them, reasons of one kind compare equal.
_ORDER_ID = re.compile(r"\border \S+(?= is )")
_TICKER = re.compile(r"\b[A-Z][A-Z0-9_.]*(?:-[A-Z0-9_.]+)+\b")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def reason_kind(reason: str) -> str:
    """A guard reason with its specifics masked: "cost $51.20 > max $50 per order" and
    "cost $50.02 > max $50 per order" are both "cost $# > max $# per order"."""
    text = _ORDER_ID.sub("order <id>", reason.strip())
    text = _TICKER.sub("<market>", text)
    text = _NUMBER.sub("#", text)
    return " ".join(text.split()) or "(no reason given)"
