from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from director.backtest.metrics import (
    SECONDS_PER_YEAR,
    cycle_returns,
    hit_rate,
    max_drawdown,
    reason_kind,
    sharpe_like,
    trade_results,
)
from director.guard import check_action
from director.models import (
    CancelOrder,
    CancelOrderDetails,
    Fill,
    OrderAction,
    PlaceOrder,
    PlaceOrderDetails,
    Side,
)
from tests.builders import LIMITS, opportunity, state

D = Decimal
AT = datetime(2026, 1, 5, tzinfo=UTC)


def fill(
    market: str,
    side: Side,
    action: OrderAction,
    price: str,
    quantity: int,
    fee: str = "0",
) -> Fill:
    return Fill(
        fill_id=f"f-{market}-{action.value}-{price}",
        order_id="o",
        market=market,
        side=side,
        action=action,
        price=D(price),
        quantity=quantity,
        fee=D(fee),
        created_at=AT,
    )


def test_cycle_returns_are_simple_returns_and_stop_at_ruin() -> None:
    assert cycle_returns([D(100), D(110), D(99)]) == [D("0.1"), D("-0.1")]
    assert cycle_returns([D(100), D(0), D(50)]) == [D(-1)]
    assert cycle_returns([D(100)]) == []


def test_max_drawdown_finds_the_worst_fall_from_a_running_peak() -> None:
    dd = max_drawdown([D(100), D(120), D(90), D(130), D(65), D(200)])
    assert dd.fraction == D("0.5")
    assert dd.dollars == D(65)
    assert (dd.peak_index, dd.trough_index) == (3, 4)


def test_max_drawdown_of_a_rising_or_empty_series_is_zero() -> None:
    assert max_drawdown([D(1), D(2), D(3)]).fraction == 0
    assert max_drawdown([]).fraction == 0


@given(st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=60))
def test_max_drawdown_is_a_fraction_of_a_peak_that_came_first(values: list[int]) -> None:
    equity = [D(v) / 100 for v in values]
    dd = max_drawdown(equity)
    assert 0 <= dd.fraction < 1
    assert dd.peak_index <= dd.trough_index
    if dd.fraction:
        peak = equity[dd.peak_index]
        assert peak == max(equity[: dd.trough_index + 1])
        assert dd.dollars == peak - equity[dd.trough_index]


def test_sharpe_like_is_mean_over_sample_sd_scaled_to_a_year() -> None:
    returns = [D("0.01"), D("-0.01"), D("0.02"), D(0)]
    # One period per year: no scaling. mean 0.005, sample sd √(0.0005 / 3).
    ratio = sharpe_like(returns, SECONDS_PER_YEAR)
    assert ratio is not None
    assert ratio.quantize(D("0.000001")) == D("0.387298")
    # 4 periods per year: × 2.
    quarterly = sharpe_like(returns, SECONDS_PER_YEAR // 4)
    assert quarterly is not None
    assert quarterly.quantize(D("0.000001")) == D("0.774597")


def test_sharpe_like_is_undefined_without_variation() -> None:
    assert sharpe_like([D(0)] * 10, 900) is None
    assert sharpe_like([D("0.01")], 900) is None
    with pytest.raises(ValueError):
        sharpe_like([D("0.01"), D("0.02")], 0)


def test_trades_net_fills_per_market_and_side_and_settle() -> None:
    fills = [
        # Won at settlement: 10 YES at 0.40 with a 0.17 fee, pays $10.
        fill("KX-A", Side.YES, OrderAction.BUY, "0.40", 10, "0.17"),
        # Sold out before settlement at a loss.
        fill("KX-B", Side.NO, OrderAction.BUY, "0.70", 5, "0.08"),
        fill("KX-B", Side.NO, OrderAction.SELL, "0.60", 5, "0.09"),
        # Still open.
        fill("KX-C", Side.YES, OrderAction.BUY, "0.50", 3, "0.06"),
        # Lost at settlement.
        fill("KX-D", Side.YES, OrderAction.BUY, "0.30", 4, "0.06"),
    ]
    settled = {"KX-A": Side.YES, "KX-D": Side.NO}
    trades = {(t.market, t.side): t for t in trade_results(fills, settled)}
    assert trades[("KX-A", Side.YES)].pnl == D("5.83")
    assert trades[("KX-B", Side.NO)].pnl == D("-0.67")
    assert trades[("KX-C", Side.YES)].pnl is None
    assert not trades[("KX-C", Side.YES)].closed
    assert trades[("KX-D", Side.YES)].pnl == D("-1.26")
    assert trades[("KX-B", Side.NO)].fees == D("0.17")

    hits = hit_rate(trades.values())
    assert (hits.closed, hits.winners) == (3, 1)
    assert hits.rate is not None and hits.rate.quantize(D("0.0001")) == D("0.3333")
    assert hits.realized_pnl == D("5.83") - D("0.67") - D("1.26")


def test_trade_results_do_not_depend_on_fill_order() -> None:
    fills = [
        fill("KX-B", Side.YES, OrderAction.BUY, "0.20", 1),
        fill("KX-A", Side.NO, OrderAction.BUY, "0.30", 2),
        fill("KX-A", Side.YES, OrderAction.BUY, "0.60", 1),
    ]
    forward = trade_results(fills, {})
    assert forward == trade_results(list(reversed(fills)), {})
    assert [(t.market, t.side) for t in forward] == [
        ("KX-A", Side.NO),
        ("KX-A", Side.YES),
        ("KX-B", Side.YES),
    ]


def test_hit_rate_without_closed_trades_is_undefined() -> None:
    assert hit_rate([]).rate is None


def _place(market: str, price: str, quantity: int) -> PlaceOrder:
    return PlaceOrder(
        details=PlaceOrderDetails(market=market, side=Side.YES, price=D(price), quantity=quantity)
    )


def test_reason_kind_groups_real_guard_reasons_of_one_kind() -> None:
    s = state(cash="10000", opportunities=[opportunity("KXA-26JAN-T1"), opportunity("KXB-26-X")])
    too_dear = [
        check_action(_place("KXA-26JAN-T1", "0.60", 100), s, LIMITS).reason,
        check_action(_place("KXB-26-X", "0.55", 100), s, LIMITS).reason,
    ]
    assert too_dear[0] != too_dear[1]
    assert reason_kind(too_dear[0]) == reason_kind(too_dear[1]) == "cost $# > max $# per order"
    unknown = [
        check_action(_place("KXZ-26JAN-T9", "0.42", 1), s, LIMITS).reason,
        check_action(_place("KXY-25DEC-B3.5", "0.42", 1), s, LIMITS).reason,
    ]
    assert reason_kind(unknown[0]) == reason_kind(unknown[1])
    assert reason_kind(unknown[0]) == "<market> is neither an opportunity nor a held position"
    cancels = [
        check_action(CancelOrder(details=CancelOrderDetails(order_id=oid)), s, LIMITS).reason
        for oid in ("po-00000001", "po-00000917")
    ]
    assert reason_kind(cancels[0]) == reason_kind(cancels[1]) == "order <id> is not a resting order"


def test_reason_kind_masks_amounts_but_keeps_the_words() -> None:
    assert reason_kind("cost $51.20 > max $50 per order") == "cost $# > max $# per order"
    assert (
        reason_kind("KX-A already has an order in this plan")
        == "<market> already has an order in this plan"
    )
    assert (
        reason_kind("safe mode (operator): only cancels and position-reducing rebalances")
        == "safe mode (operator): only cancels and position-reducing rebalances"
    )
    assert reason_kind("  ") == "(no reason given)"
