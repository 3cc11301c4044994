"""The trader's metrics, the naive-once baseline, scenarios and the paired statistics."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from director.backtest.acceptance import compare, paired
from director.backtest.claims import Claim, ClaimLog
from director.backtest.report import report_dict
from director.backtest.runner import BacktestConfig, BacktestError, run_backtest
from director.backtest.trader_metrics import TraderMetrics, trader_metrics
from director.models import Fill, OrderAction, Side
from director.settings import Settings

D = Decimal
T0 = datetime(2026, 1, 5, tzinfo=UTC)
SETTINGS = Settings(_env_file=None, cycle_seconds=3600)
METRICS = (
    "pnl_per_contract",
    "pnl_per_dollar",
    "return_per_exposure",
    "calibration",
    "brier",
    "log_loss",
    "closing_line_value",
    "break_even_slippage",
)


def test_paired_gives_the_t_interval_and_the_wilcoxon_p() -> None:
    result = paired([1.0, 2.0, 3.0, 4.0, 5.0])
    assert result.mean == 3.0 and result.wins == 5
    # t(0.975, 4) = 2.7764; sd = 1.5811; half-width = 2.7764 × 1.5811 / √5 = 1.9632
    assert result.low == pytest.approx(3.0 - 1.9632, abs=1e-3)
    assert result.high == pytest.approx(3.0 + 1.9632, abs=1e-3)
    assert result.p_value == pytest.approx(0.0625)  # exact: 2 / 2⁵
    assert result.verdict == "better"
    assert paired([-1.0, 1.5, -0.5, 0.2]).verdict == "no evidence either way"
    assert paired([-2.0, -2.5, -3.0, -1.5, -2.0]).verdict == "worse"
    assert paired([0.0, 0.0]).p_value is None
    with pytest.raises(ValueError, match="at least 2"):
        paired([1.0])
    with pytest.raises(ValueError, match="finite"):
        paired([1.0, float("nan")])


def fill(market: str, side: Side, price: str, qty: int, at: datetime, n: int) -> Fill:
    p = D(price)
    return Fill(
        fill_id=f"f{n}",
        order_id=f"o{n}",
        market=market,
        side=side,
        action=OrderAction.BUY,
        price=p,
        quantity=qty,
        fee=D("0.02") * qty,
        is_taker=True,
        created_at=at,
    )


def test_the_metrics_of_two_settled_buys() -> None:
    log = ClaimLog(
        claims=[
            Claim("A", Side.YES, T0, D("0.12"), D("0.75"), D("0.40"), D("0.39")),
            Claim("B", Side.NO, T0, D("0.06"), D("0.50"), D("0.70"), D("0.69")),
        ],
        exposure=[D(0), D(110), D(110)],
        closing={("A", Side.YES): D("0.55"), ("B", Side.NO): D("0.60")},
        orders=2,
        capped=1,
    )
    fills = [
        fill("A", Side.YES, "0.40", 100, T0, 1),
        fill("B", Side.NO, "0.70", 100, T0 + timedelta(minutes=1), 2),
    ]
    results = {"A": Side.YES, "B": Side.YES}  # A won, B lost
    pnl = D(100) - D(40) - D(2) - D(70) - D(2)  # −14
    m = trader_metrics(fills, results, log, pnl)
    assert m.pnl_per_contract == D("-0.07") and m.break_even_slippage == D("-0.07")
    assert m.pnl_per_dollar == pnl / D(114)
    assert m.average_exposure == D(220) / 3 and m.return_per_exposure == pnl / (D(220) / 3)
    assert m.closing_line_value == (D("0.15") * 100 + D("-0.10") * 100) / 200
    assert len(m.calibration) == 2
    by_edge = {row.edge: row for row in m.calibration}
    assert by_edge["0.10–0.15"].realized_edge == pytest.approx(0.58)  # 1 − 0.40 − 0.02
    assert by_edge["0.10–0.15"].confidence == "0.7–0.8"
    assert by_edge["0.05–0.10"].realized_edge == pytest.approx(-0.72)
    assert m.brier is not None and m.log_loss is not None and m.brier.n == 2
    # The brain believed A at 0.40 + 0.12 + 0.0168 and B (NO) at 0.70 + 0.06 + 0.0147.
    brain_a, brain_b = 0.5368, 0.7747
    assert m.brier.brain == pytest.approx(((1 - brain_a) ** 2 + brain_b**2) / 2, abs=1e-4)
    assert m.brier.market == pytest.approx(((1 - 0.39) ** 2 + 0.69**2) / 2)
    assert (m.orders, m.capped_orders) == (2, 1)


def test_a_fill_before_any_claim_is_not_attributed() -> None:
    log = ClaimLog(claims=[Claim("A", Side.YES, T0, D("0.2"), D("0.9"), D("0.3"), D("0.29"))])
    early = fill("A", Side.YES, "0.30", 5, T0 - timedelta(hours=1), 1)
    m = trader_metrics([early], {"A": Side.NO}, log, D(-2))
    assert m.calibration == () and m.brier is None
    assert m.return_per_exposure is None  # no exposure recorded


async def test_report_json_carries_the_trader_metrics_per_brain(tmp_path: Path) -> None:
    config = BacktestConfig(
        days=2, seed=11, brains=("rules", "naive", "naive-once"), db_dir=tmp_path
    )
    result = await run_backtest(config, SETTINGS)
    report = json.loads(json.dumps(report_dict(result)))
    assert report["backtest"]["scenario"] == "base"
    for brain in ("rules", "naive", "naive-once"):
        entry = report["results"][brain]
        assert all(name in entry for name in METRICS), brain
    naive = report["results"]["naive"]
    assert naive["calibration"] and naive["brier"]["n"] > 0
    assert set(naive["calibration"][0]) >= {"edge", "confidence", "claimed_edge", "realized_edge"}
    # naive-once buys each market at most once: one buying order per market.
    with sqlite3.connect(tmp_path / "naive-once.db") as conn:
        per_market = conn.execute(
            "SELECT market, COUNT(DISTINCT order_id) FROM paper_fills WHERE action = 'buy'"
            " GROUP BY market"
        ).fetchall()
    assert per_market and all(count == 1 for _, count in per_market)
    with sqlite3.connect(tmp_path / "naive.db") as conn:
        repeats = conn.execute(
            "SELECT COUNT(*) FROM (SELECT market FROM paper_fills WHERE action = 'buy'"
            " GROUP BY market HAVING COUNT(DISTINCT order_id) > 1)"
        ).fetchone()[0]
    assert repeats > 0  # ... which naive does not hold back from


async def test_a_scenario_is_run_and_reported_and_a_bad_one_refused() -> None:
    with pytest.raises(BacktestError, match="unknown scenario"):
        BacktestConfig(days=1, seed=1, brains=("rules",), scenario="meltdown")
    base = await run_backtest(BacktestConfig(days=1, seed=3, brains=("naive",)), SETTINGS)
    dry = await run_backtest(
        BacktestConfig(days=1, seed=3, brains=("naive",), scenario="liquidity-drought"), SETTINGS
    )
    assert report_dict(dry)["backtest"]["scenario"] == "liquidity-drought"
    # Thin books: naive's orders walk more price levels (one fill per level).
    b, d = base.results["naive"], dry.results["naive"]
    assert b.orders_sent > 0 and d.orders_sent > 0
    assert d.fills / d.orders_sent > b.fills / b.orders_sent


def test_compare_pairs_brains_at_the_reference_exposure() -> None:
    def metrics(pnl: str, exposure: str, contracts: int) -> TraderMetrics:
        made = trader_metrics([], {}, ClaimLog(exposure=[D(exposure)]), D(pnl))
        return replace(made, contracts_bought=contracts, pnl_per_contract=D(pnl) / contracts)

    runs = [
        {"rules": metrics("10", "100", 50), "naive": metrics("100", "2000", 500)},
        {"rules": metrics("-5", "100", 50), "naive": metrics("-300", "2000", 500)},
        {"rules": metrics("4", "50", 20), "naive": metrics("0", "1000", 100)},
    ]
    result = compare(runs, "rules", "naive", reference="rules")
    matched = result["pnl_at_matched_exposure_usd"]
    # naive at rules' exposure: 100/2000×100 = 5, −300/2000×100 = −15, 0 → diffs 5, 10, 4.
    assert matched.mean == pytest.approx((5 + 10 + 4) / 3)
    assert matched.wins == 3
    per_contract = result["pnl_per_contract_cents"]
    # rules 20, −10, 20 ¢; naive 20, −60, 0 ¢ → diffs 0, 50, 20.
    assert per_contract.mean == pytest.approx(70 / 3)


async def test_a_scenario_with_a_recording_is_refused(tmp_path: Path) -> None:
    from director.backtest.command import BacktestOptions, run_command

    options = BacktestOptions(
        days=1,
        seed=1,
        brain="rules",
        compare=None,
        approvals="approve",
        out=tmp_path / "out",
        allow_api_spend=False,
        replay=tmp_path / "rec",
        scenario="fat-tails",
    )
    with pytest.raises(BacktestError, match="--scenario stresses the simulator"):
        await run_command(options, SETTINGS)
