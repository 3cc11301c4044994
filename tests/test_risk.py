from __future__ import annotations

from director import risk
from tests.builders import D, order, position


def score(exposures: dict[str, str], equity: str = "1000", pnl: str = "0") -> float:
    return risk.risk_score(
        {k: D(v) for k, v in exposures.items()},
        D(equity),
        max_exposure=D("0.5"),
        pnl_24h=D(pnl),
        daily_loss_limit=D("0.05"),
    )


def test_formula_landmarks() -> None:
    assert score({}) == 0.0
    spread = {f"m{i}": "50" for i in range(10)}  # at the limit, spread over ten markets
    assert score(spread) == 0.775
    assert score({"one": "500"}) == 1.0  # at the limit in one market
    assert score({}, pnl="-40") == 0.8  # 80 % of the daily loss limit
    assert score({"a": "1"}, equity="0") == 1.0


def test_exposure_counts_cost_and_reserved_cash() -> None:
    positions = [position("A", 10, "0.40")]
    orders = [order("o", "B", price="0.30")]
    assert sum(risk.market_exposures(positions, orders).values()) == D("7.00")
    assert risk.market_exposures(positions, orders) == {"A": D("4.00"), "B": D("3.00")}
