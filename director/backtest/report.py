"""A backtest's results for people and for machines: a rich table, a JSON file, an equity-curve
PNG, and the progress bar shown while it runs.

The JSON holds the setup and the results, rounded the same way every time, so the same seed
gives a byte-identical file apart from the separate "runtime" section (wall time and replay
cache traffic, which vary run to run).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from director.backtest.runner import BacktestResult, BrainRuntime, RunSetup
from director.backtest.tally import BrainResult
from director.backtest.trader_report import trader_dict, trader_rows

JSON_FORMAT = 1
_CENT = Decimal("0.01")
_FRACTION = Decimal("0.000001")
_RATIO = Decimal("0.0001")


def _q(value: Decimal, step: Decimal) -> str:
    return str(value.quantize(step, rounding=ROUND_HALF_EVEN))


def _money(value: Decimal) -> str:
    return _q(value, _CENT)


def _opt(value: Decimal | None, step: Decimal) -> str | None:
    return None if value is None else _q(value, step)


# --- JSON --------------------------------------------------------------------------------


def setup_dict(setup: RunSetup) -> dict[str, Any]:
    return {
        "days": setup.days,
        "seed": setup.seed,
        "start": setup.start.isoformat(),
        "cycle_seconds": setup.cycle_seconds,
        "cycles": setup.cycles,
        "approvals": setup.approvals,
        "autonomy": setup.autonomy,
        "paper_markets": setup.markets,
        "starting_cash": _money(setup.starting_cash),
        "limits": {
            "max_order_contracts": setup.max_order_contracts,
            "max_order_cost": _money(setup.max_order_cost),
            "max_exposure": str(setup.max_exposure),
            "daily_loss_limit": str(setup.daily_loss_limit),
            "approval_cost_threshold": _money(setup.approval_cost_threshold),
        },
        "models": dict(setup.models),
        "scenario": setup.scenario,
    }


def brain_dict(result: BrainResult, setup: RunSetup) -> dict[str, Any]:
    hits, approvals, ai = result.hits, result.approvals, result.ai
    return {
        "cycles": result.cycles,
        "start_equity": _money(result.start_equity),
        "final_equity": _money(result.final_equity),
        "return": _q(result.total_return, _FRACTION),
        "max_drawdown": _q(result.drawdown.fraction, _FRACTION),
        "max_drawdown_usd": _money(result.drawdown.dollars),
        "sharpe_like": _opt(result.sharpe, _RATIO),
        "hit_rate": _opt(hits.rate, _FRACTION),
        "closed_trades": hits.closed,
        "winning_trades": hits.winners,
        "realized_pnl": _money(hits.realized_pnl),
        "fees": _money(result.fees),
        "orders_sent": result.orders_sent,
        "orders_failed": result.orders_failed,
        "cancels": result.cancels,
        "fills": result.fills,
        "open_positions_at_end": result.open_positions,
        "guard_blocks": {"total": result.guard_blocks, "by_reason": dict(result.blocks)},
        "approvals": {
            "requested": approvals.requested,
            "approved": approvals.approved,
            "rejected": approvals.rejected,
            "blocked_on_recheck": approvals.blocked,
            "failed": approvals.failed,
            "expired": approvals.expired,
        },
        "ai": {
            "calls": ai.calls,
            "failed_calls": ai.failed_calls,
            "input_tokens": ai.input_tokens,
            "output_tokens": ai.output_tokens,
            "cache_read_tokens": ai.cache_read_tokens,
            "cache_write_tokens": ai.cache_write_tokens,
            "cost_usd": _q(ai.cost_usd, Decimal("0.000001")),
        },
        "brain_errors": result.brain_errors,
        "fallback_cycles": result.fallback_cycles,
        "escalations": result.escalations,
        "failed_cycles": result.failed_cycles,
        "alerts": result.alerts,
        "equity_curve": {
            "start": setup.start.isoformat(),
            "step_seconds": result.period_seconds,
            "values": [_money(v) for v in result.equity],
        },
        **trader_dict(result.trader),
    }


def runtime_dict(runtime: BrainRuntime) -> dict[str, Any]:
    out: dict[str, Any] = {"wall_seconds": runtime.wall_seconds}
    if runtime.replay is not None:
        stats = runtime.replay
        out["replay"] = {
            "hits": stats.hits,
            "recorded": stats.recorded,
            "live_requests": stats.live_requests,
            "refused": len(stats.refused),
            "unusable_entries": stats.unusable_entries,
            "unsaved": stats.unsaved,
        }
    return out


def report_dict(result: BacktestResult) -> dict[str, Any]:
    return {
        "format": JSON_FORMAT,
        "backtest": setup_dict(result.setup),
        "results": {
            name: brain_dict(brain, result.setup) for name, brain in result.results.items()
        },
        "runtime": {name: runtime_dict(r) for name, r in result.runtime.items()},
    }


def write_json(result: BacktestResult, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report_dict(result), indent=1) + "\n", encoding="utf-8")
    return path


# --- the table ---------------------------------------------------------------------------


def _pct(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f}%"


def _ratio(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _usd(value: Decimal) -> str:
    return f"${value:,.2f}"


def _rows(r: BrainResult) -> list[tuple[str, str]]:
    hits, approvals, ai = r.hits, r.approvals, r.ai
    hit = _pct(hits.rate)
    if hits.rate is not None:
        hit += f" ({hits.winners}/{hits.closed})"
    return [
        ("Final equity", _usd(r.final_equity)),
        ("Return", _pct(r.total_return)),
        ("Max drawdown", f"{_pct(r.drawdown.fraction)} ({_usd(r.drawdown.dollars)})"),
        ("Sharpe-like (annualized)", _ratio(r.sharpe)),
        ("Hit rate (closed trades)", hit),
        ("Realized P&L after fees", _usd(hits.realized_pnl)),
        ("Fees paid", _usd(r.fees)),
        ("Orders sent / fills", f"{r.orders_sent} / {r.fills}"),
        ("Guard blocks", str(r.guard_blocks)),
        (
            "Approvals requested",
            f"{approvals.requested} (✓{approvals.approved} ✗{approvals.rejected}"
            f" blocked {approvals.blocked})",
        ),
        ("AI calls", str(ai.calls)),
        ("AI tokens", f"{ai.tokens:,}"),
        ("AI cost", f"${ai.cost_usd:,.4f}"),
        ("Brain errors / fallback cycles", f"{r.brain_errors} / {r.fallback_cycles}"),
        *trader_rows(r.trader),
    ]


def results_table(result: BacktestResult) -> Table:
    setup = result.setup
    table = Table(
        title=(
            f"Backtest · seed {setup.seed} · {setup.days} days · {setup.cycles} cycles of "
            f"{setup.cycle_seconds}s · approvals: {setup.approvals} · scenario {setup.scenario}"
        ),
        title_justify="left",
    )
    table.add_column("metric")
    names = list(result.results)
    for name in names:
        table.add_column(name, justify="right")
    rows = {name: _rows(result.results[name]) for name in names}
    for index, (label, _) in enumerate(rows[names[0]]):
        table.add_row(label, *(rows[name][index][1] for name in names))
    return table


def blocks_table(result: BacktestResult) -> Table | None:
    reasons = sorted({reason for r in result.results.values() for reason in r.blocks})
    if not reasons:
        return None
    table = Table(title="Guard blocks by reason", title_justify="left")
    table.add_column("reason")
    for name in result.results:
        table.add_column(name, justify="right")
    for reason in reasons:
        table.add_row(reason, *(str(r.blocks.get(reason, 0)) for r in result.results.values()))
    return table


def comparisons(result: BacktestResult, baseline: str = "naive") -> list[str]:
    """One line per brain against `baseline` on the two headline measures."""
    base = result.results.get(baseline)
    if base is None:
        return []
    lines = []
    for name, r in result.results.items():
        if name == baseline:
            continue
        dd = "lower" if r.drawdown.fraction < base.drawdown.fraction else "NOT lower"
        if r.sharpe is None or base.sharpe is None:
            sharpe = "not comparable (a ratio is undefined)"
        else:
            sharpe = "higher" if r.sharpe > base.sharpe else "NOT higher"
        lines.append(
            f"{name} vs {baseline}: max drawdown {_pct(r.drawdown.fraction)} vs "
            f"{_pct(base.drawdown.fraction)} ({dd}); Sharpe-like {_ratio(r.sharpe)} vs "
            f"{_ratio(base.sharpe)} ({sharpe})"
        )
    return lines


def print_report(result: BacktestResult, console: Console) -> None:
    console.print(results_table(result))
    blocks = blocks_table(result)
    if blocks is not None:
        console.print(blocks)
    for line in comparisons(result):
        console.print(line)
    wall = ", ".join(f"{name} {r.wall_seconds:.1f}s" for name, r in result.runtime.items())
    console.print(f"[dim]wall time: {wall}[/dim]")


# --- the chart ---------------------------------------------------------------------------


def plot_equity(result: BacktestResult, path: Path) -> Path:
    """Equity and drawdown of every brain run, over simulated days (PNG, Agg backend)."""
    # The object API with the Agg canvas: no pyplot global state, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 6.5), dpi=110)
    FigureCanvasAgg(figure)
    equity_ax, drawdown_ax = figure.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    setup = result.setup
    for name, r in result.results.items():
        days = [i * r.period_seconds / 86_400 for i in range(len(r.equity))]
        values = [float(v) for v in r.equity]
        equity_ax.plot(days, values, label=name, linewidth=1.2)
        drawdown_ax.plot(days, _drawdown_series(r.equity), label=name, linewidth=1.0)
    equity_ax.set_title(
        f"Backtest equity · seed {setup.seed} · {setup.days} days · approvals {setup.approvals}"
    )
    equity_ax.set_ylabel("equity ($)")
    equity_ax.grid(True, alpha=0.3)
    equity_ax.legend(loc="upper left")
    drawdown_ax.set_ylabel("drawdown (%)")
    drawdown_ax.set_xlabel("simulated days")
    drawdown_ax.grid(True, alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", metadata={"Software": None})
    return path


def _drawdown_series(equity: Sequence[Decimal]) -> list[float]:
    peak = equity[0] if equity else Decimal(0)
    out = []
    for value in equity:
        peak = max(peak, value)
        out.append(float((value - peak) / peak * 100) if peak > 0 else 0.0)
    return out


# --- the progress bar --------------------------------------------------------------------


class ProgressBar:
    """A rich progress bar per brain; pass the instance as the runner's `progress`."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description:>8}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("cycles"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}

    def __call__(self, brain: str, done: int, total: int) -> None:
        task = self._tasks.get(brain)
        if task is None:
            task = self._tasks[brain] = self._progress.add_task(brain, total=total)
        self._progress.update(task, completed=done)

    def __enter__(self) -> ProgressBar:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()
