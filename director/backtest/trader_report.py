"""The trader's metrics (trader_metrics.py) for report.json and for the printed table."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from director.backtest.trader_metrics import Score, TraderMetrics

_CENT = Decimal("0.01")
_RATIO = Decimal("0.0001")


def _opt(value: Decimal | None, step: Decimal) -> str | None:
    return None if value is None else str(value.quantize(step, rounding=ROUND_HALF_EVEN))


def _money(value: Decimal) -> str:
    return str(value.quantize(_CENT, rounding=ROUND_HALF_EVEN))


def _pct(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f}%"


def _usd(value: Decimal) -> str:
    return f"${value:,.2f}"


def _float(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def trader_dict(t: TraderMetrics | None) -> dict[str, Any]:
    """The trader's metrics, under the names issue 16 fixed (trader_metrics.py says what each
    one means)."""
    if t is None:
        return {}

    def score(s: Score | None) -> dict[str, Any] | None:
        return (
            None if s is None else {"brain": _float(s.brain), "market": _float(s.market), "n": s.n}
        )

    return {
        "pnl_per_contract": _opt(t.pnl_per_contract, _RATIO),
        "pnl_per_dollar": _opt(t.pnl_per_dollar, _RATIO),
        "return_per_exposure": _opt(t.return_per_exposure, _RATIO),
        "calibration": [
            {
                "edge": row.edge,
                "confidence": row.confidence,
                "orders": row.orders,
                "contracts": row.contracts,
                "claimed_edge": _float(row.claimed_edge),
                "realized_edge": _float(row.realized_edge),
                "settled_contracts": row.settled_contracts,
            }
            for row in t.calibration
        ],
        "brier": score(t.brier),
        "log_loss": score(t.log_loss),
        "closing_line_value": _opt(t.closing_line_value, _RATIO),
        "break_even_slippage": _opt(t.break_even_slippage, _RATIO),
        "exposure": {
            "average_usd": _money(t.average_exposure),
            "contracts_bought": t.contracts_bought,
            "contracts_traded": t.contracts_traded,
            "dollars_risked": _money(t.dollars_risked),
        },
        "sizing": {"orders": t.orders, "sized_by_a_cap": t.capped_orders},
    }


def _cents(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value * 100:+.2f}¢"


def trader_rows(t: TraderMetrics | None) -> list[tuple[str, str]]:
    if t is None:
        return []
    brier = "n/a" if t.brier is None else f"{t.brier.brain:.4f} vs {t.brier.market:.4f}"
    capped = f"{t.capped_orders}/{t.orders}" if t.orders else "n/a"
    return [
        ("P&L per contract", _cents(t.pnl_per_contract)),
        ("Return per average exposure", _pct(t.return_per_exposure)),
        ("Average exposure", _usd(t.average_exposure)),
        ("Closing-line value", _cents(t.closing_line_value)),
        ("Brier (brain vs market)", brier),
        ("Orders sized by a cap", capped),
    ]
