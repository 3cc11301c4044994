"""The numbers a prediction-market trader judges a brain by, from its fills and its claims.

- `pnl_per_contract`: P&L (final equity − start, open positions marked) per contract bought;
- `pnl_per_dollar`: P&L per dollar risked (what the buys cost, fees included);
- `return_per_exposure`: P&L over the average dollars exposed across cycles: the return on the
  money actually at risk, the figure that compares brains at matched exposure;
- `calibration`: by bucket of claimed edge and confidence, the contract-weighted claimed edge
  beside the realized edge (settlement value − price − fee, per contract bought);
- `brier`, `log_loss`: of the brain's implied probability for the side it bought (ask + claimed
  edge + fee) and, beside it, of the market's (the side's mid when it decided), on settled
  orders; lower is better, and a brain that knows something beats the market;
- `closing_line_value`: per contract, the side's last mid before the market closed minus the
  price paid (positive: the market moved the brain's way);
- `break_even_slippage`: P&L per contract traded (bought or sold): the extra cost per contract
  that would take the P&L to zero (negative: it already loses).

Money stays Decimal; the scores are floats (statistics, never balances).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from director.backtest.claims import Claim, ClaimLog
from director.fees import fee_per_contract
from director.models import Fill, OrderAction, Side

EDGE_BUCKETS = (Decimal("0.05"), Decimal("0.10"), Decimal("0.15"), Decimal("0.20"))
CONFIDENCE_BUCKETS = (Decimal(0), Decimal("0.6"), Decimal("0.7"), Decimal("0.8"))
_P_CLIP = 0.001
ZERO = Decimal(0)


@dataclass(frozen=True)
class CalibrationRow:
    edge: str  # bucket label, e.g. "0.10–0.15"
    confidence: str
    orders: int
    contracts: int
    claimed_edge: float  # contract-weighted
    realized_edge: float | None  # per contract, settled contracts only
    settled_contracts: int


@dataclass(frozen=True)
class Score:
    brain: float
    market: float
    n: int


@dataclass(frozen=True)
class TraderMetrics:
    contracts_bought: int
    contracts_traded: int
    dollars_risked: Decimal
    average_exposure: Decimal
    pnl: Decimal
    pnl_per_contract: Decimal | None
    pnl_per_dollar: Decimal | None
    return_per_exposure: Decimal | None
    calibration: tuple[CalibrationRow, ...]
    brier: Score | None
    log_loss: Score | None
    closing_line_value: Decimal | None
    break_even_slippage: Decimal | None
    orders: int
    capped_orders: int  # orders a per-order cap sized


def _label(value: Decimal, edges: Sequence[Decimal]) -> str:
    index = max(0, bisect.bisect_right(edges, value) - 1)
    low = edges[index]
    return f"{low}–{edges[index + 1]}" if index + 1 < len(edges) else f"≥{low}"


def _ratio(numerator: Decimal, denominator: Decimal | int) -> Decimal | None:
    return None if not denominator else numerator / Decimal(denominator)


def _attribute(fills: Iterable[Fill], claims: Sequence[Claim]) -> list[tuple[Fill, Claim | None]]:
    """Each buy fill with the latest claim on its market and side made at or before it."""
    by_key: dict[tuple[str, Side], list[Claim]] = {}
    for claim in sorted(claims, key=lambda c: c.at):
        by_key.setdefault((claim.market, claim.side), []).append(claim)
    out: list[tuple[Fill, Claim | None]] = []
    for fill in fills:
        if fill.action is not OrderAction.BUY:
            continue
        found = by_key.get((fill.market, fill.side), [])
        index = bisect.bisect_right([c.at for c in found], fill.created_at) - 1
        out.append((fill, found[index] if index >= 0 else None))
    return out


def _calibration(
    attributed: Sequence[tuple[Fill, Claim | None]], results: Mapping[str, Side | None]
) -> tuple[CalibrationRow, ...]:
    cells: dict[tuple[str, str], list[tuple[Fill, Claim]]] = {}
    for fill, claim in attributed:
        if claim is not None:
            key = (_label(claim.edge, EDGE_BUCKETS), _label(claim.confidence, CONFIDENCE_BUCKETS))
            cells.setdefault(key, []).append((fill, claim))
    rows = []
    for (edge, confidence), members in sorted(cells.items()):
        contracts = sum(f.quantity for f, _ in members)
        claimed = sum(float(c.edge) * f.quantity for f, c in members) / contracts
        settled = [(f, results.get(f.market)) for f, _ in members if results.get(f.market)]
        settled_contracts = sum(f.quantity for f, _ in settled)
        realized = None
        if settled_contracts:
            value = sum(
                (Decimal(f.quantity if won is f.side else 0) - f.price * f.quantity - f.fee)
                for f, won in settled
            )
            realized = float(value) / settled_contracts
        orders = len({(c.market, c.at) for _, c in members})
        rows.append(
            CalibrationRow(
                edge, confidence, orders, contracts, claimed, realized, settled_contracts
            )
        )
    return tuple(rows)


def _scores(
    attributed: Sequence[tuple[Fill, Claim | None]], results: Mapping[str, Side | None]
) -> tuple[Score | None, Score | None]:
    """Brier and log loss per settled order (claim), brain beside market."""
    seen: dict[tuple[str, Side, object], tuple[float, float, bool]] = {}
    for fill, claim in attributed:
        won = results.get(fill.market)
        if claim is None or won is None:
            continue
        believed = claim.ask + claim.edge + fee_per_contract(claim.ask)
        brain = min(1 - _P_CLIP, max(_P_CLIP, float(believed)))
        market = min(1 - _P_CLIP, max(_P_CLIP, float(claim.mid)))
        seen[(claim.market, claim.side, claim.at)] = (brain, market, won is claim.side)
    if not seen:
        return None, None
    n = len(seen)

    def brier(i: int) -> float:
        return sum((row[i] - row[2]) ** 2 for row in seen.values()) / n

    def log_loss(i: int) -> float:
        return (
            -sum(math.log(row[i]) if row[2] else math.log(1 - row[i]) for row in seen.values()) / n
        )

    return Score(brier(0), brier(1), n), Score(log_loss(0), log_loss(1), n)


def _closing_line(
    fills: Iterable[Fill], closing: Mapping[tuple[str, Side], Decimal]
) -> Decimal | None:
    value, contracts = ZERO, 0
    for fill in fills:
        last = closing.get((fill.market, fill.side))
        if fill.action is OrderAction.BUY and last is not None:
            value += (last - fill.price) * fill.quantity
            contracts += fill.quantity
    return _ratio(value, contracts)


def trader_metrics(
    fills: Sequence[Fill], results: Mapping[str, Side | None], log: ClaimLog, pnl: Decimal
) -> TraderMetrics:
    bought = sum(f.quantity for f in fills if f.action is OrderAction.BUY)
    traded = sum(f.quantity for f in fills)
    risked = sum((f.price * f.quantity + f.fee for f in fills if f.action is OrderAction.BUY), ZERO)
    exposure = sum(log.exposure, ZERO) / len(log.exposure) if log.exposure else ZERO
    attributed = _attribute(fills, log.claims)
    brier, log_loss = _scores(attributed, results)
    return TraderMetrics(
        contracts_bought=bought,
        contracts_traded=traded,
        dollars_risked=risked,
        average_exposure=exposure,
        pnl=pnl,
        pnl_per_contract=_ratio(pnl, bought),
        pnl_per_dollar=_ratio(pnl, risked),
        return_per_exposure=_ratio(pnl, exposure) if exposure > 0 else None,
        calibration=_calibration(attributed, results),
        brier=brier,
        log_loss=log_loss,
        closing_line_value=_closing_line(fills, log.closing),
        break_even_slippage=_ratio(pnl, traded),
        orders=log.orders,
        capped_orders=log.capped,
    )
