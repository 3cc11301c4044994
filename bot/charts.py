"""The /pnl equity chart: a PNG drawn with matplotlib's Agg canvas (no display, no pyplot).

pyplot keeps global state and picks a GUI backend; a Figure on an Agg canvas does neither,
so a chart can be drawn in a worker thread while the bot keeps serving.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator


def equity_png(points: Sequence[tuple[datetime, Decimal]], *, title: str = "Equity") -> bytes:
    """A line chart of equity over time; raises ValueError on an empty series."""
    figure = _draw(points, title)
    out = io.BytesIO()
    # No Software/date metadata: the same series draws the same bytes.
    figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def x_labels(points: Sequence[tuple[datetime, Decimal]]) -> list[str]:
    """The time axis' labels as drawn (what /pnl's reader sees under the curve)."""
    figure = _draw(points, "Equity")
    figure.canvas.draw()
    (axes,) = figure.axes
    return [label.get_text() for label in axes.get_xticklabels() if label.get_text()]


def _draw(points: Sequence[tuple[datetime, Decimal]], title: str) -> Figure:
    if not points:
        raise ValueError("no equity points to draw")
    # x is days since midnight (UTC) of the first point's day (matplotlib.dates is untyped;
    # this keeps mypy honest): whole numbers of x are midnights.
    first = points[0][0].astimezone(UTC)
    origin = first.replace(hour=0, minute=0, second=0, microsecond=0)
    days = [(t - origin).total_seconds() / 86400 for t, _ in points]
    # Floats only for drawing: no arithmetic on money happens past this line.
    values = [float(v) for _, v in points]
    span = days[-1] - days[0]
    fmt = "%m-%d" if span > 3 else "%m-%d %H:%M"
    figure = Figure(figsize=(8, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot(days, values, color="#1f6feb", linewidth=1.6, marker="o" if len(values) < 30 else "")
    axes.axhline(values[0], color="#999999", linewidth=0.8, linestyle="--")
    axes.fill_between(days, values, values[0], alpha=0.12, color="#1f6feb")
    # Over more than three days the ticks fall on midnights only, so each day is labelled
    # once (fractional ticks printed the same date twice); shorter spans show hours.
    axes.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=span > 3))
    axes.xaxis.set_major_formatter(
        FuncFormatter(lambda x, _pos: (origin + timedelta(days=x)).strftime(fmt))
    )
    axes.set_xlabel("UTC")
    axes.yaxis.set_major_formatter(FuncFormatter(lambda y, _pos: f"${y:,.0f}"))
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    if len(values) == 1 or max(values) == min(values):
        pad = max(abs(values[0]) * 0.01, 1.0)
        axes.set_ylim(values[0] - pad, values[0] + pad)
    figure.tight_layout()
    return figure
