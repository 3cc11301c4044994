"""Rendering: every dynamic string escaped, every figure where the operator looks for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.render import (
    esc,
    pct,
    render_approval_request,
    render_cycle_report,
    render_decision,
    render_history,
    render_pending,
    render_plan,
    until,
    usd,
)
from bot.render_cockpit import pnl_figures, render_panic_result, render_pnl
from bot.render_review import render_rules
from bot.render_state import StateView, render_state
from director.director import PanicResult
from director.models import (
    Market,
    Opportunity,
    Order,
    Plan,
    Position,
    Priority,
    Side,
    SourceHealth,
    SystemHealth,
    SystemState,
)
from director.reporting import (
    ActionOutcome,
    ApprovalDecision,
    ApprovalRequest,
    CycleReport,
    StateSummary,
)
from director.rulebook import DEFAULT_RULESET
from director.store import CycleRecord
from director.store.cycles import outcomes_from_report
from tests.telegram_standin import ApiError, parse_telegram_html

NOW = datetime(2026, 11, 24, 14, 15, tzinfo=UTC)
NASTY = '<b>x</b> & y "quoted" <script>'
D = Decimal


def shown(html_text: str) -> str:
    """What Telegram would display; raises if Telegram would refuse the HTML."""
    return parse_telegram_html(html_text)


def summary(**overrides: object) -> StateSummary:
    values: dict[str, object] = {
        "cash": D("958.00"),
        "equity": D("1000"),
        "exposure": D("42"),
        "risk": 0.1234,
        "pnl_24h": D("-3.5"),
        "positions": 1,
        "resting_orders": 2,
        "opportunities": 3,
        "health": "ok",
        "degraded": False,
        "safe_mode": False,
        "safe_mode_reason": "",
        "autonomy": "auto",
    }
    values.update(overrides)
    return StateSummary(**values)  # type: ignore[arg-type]


def outcome(status: str, **overrides: object) -> ActionOutcome:
    values: dict[str, object] = {
        "idx": 0,
        "description": "place_order(KX yes 0.42×10)",
        "kind": "place_order",
        "verdict": "allowed",
        "status": status,
        "reason": "a reason",
        "detail": "ord-1 resting 10",
        "action_id": 1,
        "approval_id": 7,
        "market_title": "",
    }
    values.update(overrides)
    return ActionOutcome(**values)  # type: ignore[arg-type]


def report(**overrides: object) -> CycleReport:
    values: dict[str, object] = {
        "cycle_id": 12,
        "trigger": "schedule",
        "started_at": NOW,
        "finished_at": NOW + timedelta(seconds=2.5),
        "state": summary(),
        "reasoning": "Rule 2 applies.",
        "priority": Priority.HIGH,
        "brain": "claude",
        "model": "claude-sonnet-5-5",
        "cost_usd": D("0.01234"),
        "rules_version": 3,
    }
    values.update(overrides)
    return CycleReport(**values)  # type: ignore[arg-type]


# --- escaping ------------------------------------------------------------------------------


@given(st.text())
def test_esc_always_shows_the_text_literally(text: str) -> None:
    assert shown(esc(text)) == text


@pytest.mark.parametrize(
    "html_text",
    [
        render_cycle_report(
            report(
                reasoning=NASTY,
                brain=NASTY,
                model=NASTY,
                alerts=[NASTY],
                error=NASTY,
                brain_error=NASTY,
                escalated=True,
                escalation_reason=NASTY,
                state=summary(health=NASTY, safe_mode=True, safe_mode_reason=NASTY),
                outcomes=[
                    outcome(s, description=NASTY, reason=NASTY, detail=NASTY, market_title=NASTY)
                    for s in (
                        "executed",
                        "failed",
                        "blocked",
                        "awaiting_approval",
                        "observed",
                        NASTY,
                    )
                ],
            )
        ),
        render_approval_request(
            ApprovalRequest(7, 1, 12, NASTY, NASTY, D("1.5"), NOW, market_title=NASTY)
        ),
        render_decision(ApprovalDecision(7, True, "approved", NASTY, NASTY, NASTY)),
        render_decision(ApprovalDecision(7, False, NASTY, NASTY, None, NASTY)),
        render_pending([ApprovalRequest(7, 1, 12, NASTY, NASTY, None, NOW)], NOW),
        render_panic_result(PanicResult(canceled=[NASTY], failed=[NASTY]), NASTY),
    ],
)
def test_dynamic_strings_show_literally(html_text: str) -> None:
    text = shown(html_text)
    assert NASTY in text


# --- cycle reports -------------------------------------------------------------------------


def test_cycle_report_has_the_figures_reasoning_and_every_outcome() -> None:
    text = shown(
        render_cycle_report(
            report(
                outcomes=[
                    outcome("executed"),
                    outcome("blocked", reason="safe mode: only cancels"),
                    outcome("awaiting_approval", reason="autonomy is confirm", market_title="Hot?"),
                    outcome("observed", reason="autonomy is observe: not sent"),
                    outcome("failed", detail="exchange refused: closed"),
                    outcome("skipped", kind="do_nothing", description="do_nothing"),
                ],
                alerts=["Health DEGRADED: balance down"],
            )
        )
    )
    assert text.startswith("🔁 Cycle #12 · schedule · 2026-11-24 14:15 UTC (2.5 s)")
    assert "Cash $958.00 · Equity $1,000.00 · Exposure $42.00 · Risk 0.12 · 24h P&L -$3.50" in text
    assert "Health ok · 1 positions · 2 orders · 3 opportunities · autonomy auto" in text
    assert "🧠 claude (claude-sonnet-5-5) · cost $0.0123 · priority HIGH · rules v3" in text
    assert "Reasoning\nRule 2 applies." in text
    assert "✅ place_order(KX yes 0.42×10) executed: ord-1 resting 10" in text
    assert "⛔ place_order(KX yes 0.42×10) blocked: safe mode: only cancels" in text
    assert "⏳ place_order(KX yes 0.42×10) waiting for approval #7: autonomy is confirm" in text
    assert "    Hot?" in text
    assert "👁 place_order(KX yes 0.42×10) observed only: autonomy is observe: not sent" in text
    assert "❌ place_order(KX yes 0.42×10) failed: exchange refused: closed" in text
    assert "do_nothing" not in text
    assert "🚨 Health DEGRADED: balance down" in text


def test_cycle_report_of_a_failed_cycle_without_state() -> None:
    text = shown(render_cycle_report(report(state=None, error="StoreError: disk", outcomes=[])))
    assert "Actions: none" in text
    assert "💥 Cycle failed: StoreError: disk" in text
    assert "Cash" not in text


def test_safe_mode_and_escalation_are_called_out() -> None:
    text = shown(
        render_cycle_report(
            report(
                state=summary(safe_mode=True, safe_mode_reason="operator"),
                escalated=True,
                escalation_reason="large position",
                brain_error="timeout",
            )
        )
    )
    assert "🛡 SAFE MODE (operator)" in text
    assert "🆙 Escalated: large position" in text
    assert "⚠️ Brain error: timeout" in text


# --- approvals -----------------------------------------------------------------------------


def test_approval_request_and_its_decisions() -> None:
    request = ApprovalRequest(
        7, 1, 12, "place_order(KX yes 0.42×10)", "HIGH-priority plan", D("4.21"), NOW, "Hot?", True
    )
    text = shown(render_approval_request(request))
    assert text.splitlines() == [
        "✋ Approval needed #7 · cycle #12",
        "place_order(KX yes 0.42×10)",
        "Hot?",
        "Why: HIGH-priority plan",
        "Cost: $4.21",
        "From an escalated plan.",
        "Expires: 2026-11-24 14:15 UTC",
    ]
    heads = {
        "approved": "✅ Approved",
        "rejected": "🚫 Rejected",
        "expired": "⌛ Expired",
        "blocked": "⛔ Blocked on re-check",
        "failed": "❌ Approved, but failed",
        "taken": "ℹ️ Taken",
    }
    for status, head in heads.items():
        decision = ApprovalDecision(7, True, status, "msg", "ann (5)", "place_order(KX)")
        lines = shown(render_decision(decision)).splitlines()
        assert lines[0] == f"{head} · approval #7"
        assert lines[1:] == ["place_order(KX)", "msg", "Decided by ann (5)"]
    named = ApprovalDecision(7, True, "approved", "Approved by ann (5): ok", "ann (5)")
    assert "Decided by" not in shown(render_decision(named))


def test_pending_list_shows_expiry_relative_to_now() -> None:
    requests = [ApprovalRequest(3, 1, 2, "cancel_order(o1)", "autonomy is confirm", None, NOW)]
    text = shown(render_pending(requests, NOW - timedelta(minutes=14, seconds=30)))
    assert "#3 cancel_order(o1) — autonomy is confirm · expires 14:15 UTC (in 15 min)" in text
    assert shown(render_pending([], NOW)) == "✋ No approvals are waiting."


# --- /state --------------------------------------------------------------------------------


def sample_state(**overrides: object) -> SystemState:
    values: dict[str, object] = {
        "timestamp": NOW,
        "portfolio_cash": D("958"),
        "equity": D("1004"),
        "exposure": D("46"),
        "current_risk_score": 0.25,
        "recent_pnl_24h": D("4"),
        "open_positions": [
            Position(
                market="KXA", side=Side.YES, quantity=10, avg_price=D("0.40"), mark_price=D("0.45")
            )
        ],
        "pending_orders": [
            Order(
                order_id="ord-1",
                market="KXB",
                side=Side.NO,
                price=D("0.30"),
                quantity=10,
                remaining=4,
                created_at=NOW - timedelta(hours=1),
            )
        ],
        "active_opportunities": [
            Opportunity(
                market=f"KX{i}",
                edge=D("0.1") + D(i) / 100,
                confidence=D("0.8"),
                expires_at=NOW + timedelta(days=2),
                source="scan",
                title=NASTY if i == 9 else "",
            )
            for i in range(10)
        ],
        "markets": {"KXA": Market(ticker="KXA", title="Will A?")},
        "system_health": SystemHealth(
            sources={"balance": SourceHealth(ok=False, critical=True, detail="timeout after 10s")}
        ),
        "safe_mode": True,
        "safe_mode_reason": "health degraded: balance",
    }
    values.update(overrides)
    return SystemState(**values)


def view(**overrides: object) -> StateView:
    values: dict[str, object] = {
        "state": sample_state(),
        "now": NOW,
        "paused": True,
        "next_cycle_at": NOW + timedelta(minutes=15),
        "cycle_running": False,
        "ai_spend_today": D("0.1234"),
        "daily_budget": D("10"),
        "pending_approvals": 2,
    }
    values.update(overrides)
    return StateView(**values)  # type: ignore[arg-type]


def test_state_has_every_figure_the_operator_asks_for() -> None:
    text = shown(render_state(view()))
    assert "Cash $958.00 · Equity $1,004.00" in text
    assert "Exposure $46.00 (4.58% of equity) · Risk 0.25 · 24h P&L +$4.00" in text
    assert "Autonomy observe · Safe mode ON (health degraded: balance) · Loop PAUSED" in text
    # Paused: no next-cycle time beside PAUSED (it would not run).
    assert "no scheduled cycle until /resume" in text and "next cycle" not in text
    assert "next cycle 14:30 UTC (in 15 min)" in shown(render_state(view(paused=False)))
    assert "AI spend today $0.1234 of $10.00 budget" in text
    assert "Health DEGRADED: balance down (timeout after 10s)" in text
    assert "2 approval(s) waiting: /pending" in text
    assert "• KXA yes ×10 @ 0.40 → 0.45 (value $4.50) — Will A?" in text
    assert "• ord-1 buy KXB no 4/10 @ 0.30 since 2026-11-24 13:15 UTC" in text
    # Top five by edge × confidence, the hostile title shown literally, the date since not today.
    assert "Top opportunities (5 of 10)" in text
    assert f"• KX9 yes edge 0.19 conf 0.8 [scan] until 2026-11-26 14:15 UTC — {NASTY}" in text
    assert "KX4 " not in text


def test_state_while_a_cycle_runs_and_with_an_empty_book() -> None:
    empty = sample_state(
        open_positions=[], pending_orders=[], active_opportunities=[], safe_mode=False
    )
    text = shown(render_state(view(state=empty, cycle_running=True, paused=False)))
    assert "a cycle is running now" in text
    assert "Positions (0): none" in text
    assert "Resting orders (0): none" in text
    assert "Top opportunities (0): none" in text
    assert "Safe mode off · Loop running" in text


def test_long_lists_are_capped_and_counted() -> None:
    positions = [
        Position(market=f"KX{i:02}", side=Side.YES, quantity=i + 1, avg_price=D("0.5"))
        for i in range(20)
    ]
    text = shown(render_state(view(state=sample_state(open_positions=positions))))
    assert "Positions (20)" in text
    assert "… and 5 more" in text
    assert "KX19 yes ×20" in text  # the biggest first
    assert "KX00 " not in text


# --- /plan, /history, /rules, /pnl -----------------------------------------------------------


def cycle_record(**overrides: object) -> CycleRecord:
    values: dict[str, object] = {
        "id": 4,
        "started_at": NOW,
        "finished_at": NOW,
        "trigger": "schedule",
        "status": "done",
        "brain": "rules",
        "model": None,
        "rules_version": 1,
        "escalated": False,
        "brain_error": None,
        "cash": D("958"),
        "equity": D("1000"),
        "exposure": D("42"),
        "risk": 0.1,
        "cost_usd": D("0"),
        "state_json": None,
        "plan": Plan(reasoning=NASTY, priority=Priority.MEDIUM),
        "timings": None,
        # The store skips unreadable outcome rows (director.store.cycles.outcomes_from_report).
        "report": report(outcomes=[outcome("executed")]),
        "error": None,
    }
    values.update(overrides)
    return CycleRecord(**values)  # type: ignore[arg-type]


def test_plan_shows_reasoning_and_recorded_outcomes() -> None:
    text = shown(render_plan(cycle_record()))
    assert "Last plan · cycle #4 · 2026-11-24 14:15 UTC · rules · priority MEDIUM" in text
    assert NASTY in text
    assert "✅ place_order(KX yes 0.42×10) executed" in text
    assert shown(render_plan(None)).startswith("🧭 No cycle has finished yet")
    # The store reads an unreadable plan as None.
    unreadable = shown(render_plan(cycle_record(plan=None, error="boom")))
    assert "Cycle failed: boom" in unreadable
    assert "No readable plan was recorded" in unreadable


def test_outcomes_from_a_stored_report_skip_bad_rows() -> None:
    assert outcomes_from_report(None) == []
    assert outcomes_from_report({"outcomes": "nope"}) == []
    rows = outcomes_from_report({"outcomes": [outcome("blocked").__dict__, 3, {"idx": 1}]})
    assert [o.status for o in rows] == ["blocked"]


def test_history_has_a_line_per_cycle() -> None:
    text = shown(
        render_history(
            [
                cycle_record(id=5, status="failed", error="x" * 200, cost_usd=D("0.02")),
                cycle_record(id=4, brain_error=NASTY),
            ]
        )
    )
    lines = text.splitlines()
    assert lines[0] == "🗂 Last 2 cycle(s)"
    assert lines[1].startswith("#5 11-24 14:15 · schedule · failed · eq $1,000.00 · risk 0.10")
    assert "$0.0200 · 1 action(s) · 💥 " + "x" * 80 in lines[1]
    assert lines[2].endswith(f"⚠️ {NASTY}")
    assert shown(render_history([])) == "🗂 No cycles yet."


def test_rules_are_numbered_with_thresholds() -> None:
    text = shown(render_rules(DEFAULT_RULESET))
    assert text.startswith("📜 Rules v1")
    assert "2. Act on high-confidence opportunities (confidence > 0.7, edge > 0.1)" in text
    assert "stale_order_hours 2.0" in text


def test_pnl_figures_track_the_worst_fall_from_a_peak() -> None:
    points = [
        (NOW, D("1000")),
        (NOW + timedelta(hours=1), D("1100")),
        (NOW + timedelta(hours=2), D("990")),
        (NOW + timedelta(hours=3), D("1050")),
    ]
    figures = pnl_figures(points)
    assert figures is not None
    assert (figures.start, figures.end, figures.high, figures.low) == (
        D("1000"),
        D("1050"),
        D("1100"),
        D("990"),
    )
    assert figures.max_drawdown == D("-110")
    assert figures.max_drawdown_pct == D("-10")
    text = shown(render_pnl(figures))
    assert "Now $1,050.00 · Start $1,000.00 · Change +$50.00 (+5.00%)" in text
    assert "High $1,100.00 · Low $990.00 · Max drawdown -$110.00 (-10.00%)" in text
    assert pnl_figures([]) is None
    flat = pnl_figures([(NOW, D("0"))])
    assert flat is not None and flat.change_pct is None


# --- formatting helpers --------------------------------------------------------------------


def test_money_and_time_formatting() -> None:
    assert usd(D("1234.565")) == "$1,234.57"
    assert usd(D("-0.004")) == "$0.00"
    assert usd(D("-3.1")) == "-$3.10"
    assert usd(D("3.1"), sign=True) == "+$3.10"
    assert usd(D("0.01234"), 4) == "$0.0123"
    assert usd(None) == "—"
    assert usd(D("NaN")) == "NaN"
    assert pct(D("4.5")) == "4.50%"
    assert until(NOW, NOW) == "now"
    assert until(NOW + timedelta(seconds=61), NOW) == "in 2 min"
    assert until(NOW + timedelta(hours=2, minutes=5), NOW) == "in 2 h 5 min"


def test_the_stand_in_refuses_what_telegram_refuses() -> None:
    for bad in ("<b>x", "a & b", "<script>x</script>", "</b>", "<b><i>x</b></i>", "&nbsp;"):
        with pytest.raises(ApiError):
            shown(bad)
    assert shown('<a href="https://x.y">l</a> &lt;&#62;&amp;&quot;') == 'l <>&"'
