"""The console face: each cycle printed like the seed's log. Used when no bot token is set."""

from __future__ import annotations

import sys
from typing import TextIO

from director.models import SystemState
from director.reporting import ActionOutcome, ApprovalDecision, ApprovalRequest, CycleReport


def money(value: object) -> str:
    return f"${value:,.2f}"


def _outcome(o: ActionOutcome) -> str:
    if o.status == "executed":
        return f"{o.description} executed" + (f" ({o.detail})" if o.detail else "")
    if o.status == "failed":
        return f"{o.description} FAILED: {o.detail}"
    if o.status == "blocked":
        return f"{o.description} BLOCKED: {o.reason}"
    if o.status == "awaiting_approval":
        return f"{o.description} awaits approval #{o.approval_id} ({o.reason})"
    if o.status == "observed":
        return f"{o.description} observed only (autonomy observe)"
    return f"{o.description} ({o.reason})" if o.reason else o.description


def format_cycle(report: CycleReport) -> str:
    when = report.started_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    if report.cycle_id == 0:
        return f"=== Omega Director @ {when} === {report.reasoning}"
    lines = [f"=== Omega Director Cycle #{report.cycle_id} @ {when} ==="]
    s = report.state
    if s is not None:
        safe = f" · SAFE MODE ({s.safe_mode_reason})" if s.safe_mode else ""
        lines.append(
            f"[SENSE] Cash: {money(s.cash)} · Equity: {money(s.equity)} · Risk: {s.risk:.2f}"
            f" · Opportunities: {s.opportunities} · Positions: {s.positions}"
            f" · Orders: {s.resting_orders} · Health: {s.health}{safe}"
        )
    brain = report.brain + (f"/{report.model}" if report.model else "")
    cost = f" · ${report.cost_usd:.4f}" if report.cost_usd else ""
    escalated = f" [escalated: {report.escalation_reason}]" if report.escalated else ""
    lines.append(f"[THINK] ({brain}{cost}) [{report.priority.value}]{escalated} {report.reasoning}")
    if report.brain_error:
        lines.append(f"[THINK] brain error: {report.brain_error}")
    acted = [o for o in report.outcomes if o.kind != "do_nothing"]
    lines.append("[ACT] " + (" · ".join(_outcome(o) for o in acted) if acted else "nothing"))
    for alert in report.alerts:
        lines.append(f"[ALERT] {alert}")
    if report.error:
        lines.append(f"[ERROR] cycle failed: {report.error}")
    return "\n".join(lines)


def format_state(state: SystemState) -> str:
    lines = [
        f"State of the Union @ {state.timestamp:%Y-%m-%dT%H:%M:%SZ} ({state.exchange})",
        f"  cash {money(state.portfolio_cash)} · equity {money(state.equity)} · exposure "
        f"{money(state.exposure)} · risk {state.current_risk_score:.2f} · "
        f"24h P&L {money(state.recent_pnl_24h)}",
        f"  autonomy {state.autonomy.value} · safe mode "
        f"{'ON (' + state.safe_mode_reason + ')' if state.safe_mode else 'off'}"
        f" · health {state.system_health.summary()}",
        f"  positions ({len(state.open_positions)}):",
    ]
    for p in state.open_positions:
        mark = "?" if p.mark_price is None else f"{p.mark_price}"
        lines.append(f"    {p.market} {p.side.value} ×{p.quantity} @ {p.avg_price} (mark {mark})")
    lines.append(f"  resting orders ({len(state.pending_orders)}):")
    for o in state.pending_orders:
        lines.append(
            f"    {o.order_id} {o.action.value} {o.market} {o.side.value} "
            f"{o.remaining}/{o.quantity} @ {o.price} since {o.created_at:%H:%M}"
        )
    lines.append(f"  opportunities ({len(state.active_opportunities)}):")
    for opp in state.active_opportunities[:10]:
        lines.append(
            f"    {opp.market} {opp.side.value} edge {opp.edge} conf {opp.confidence} "
            f"[{opp.source}] until {opp.expires_at:%H:%M}"
        )
    return "\n".join(lines)


class ConsoleReporter:
    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        # Set while console_input reads `approve N` from this terminal.
        self.interactive = False

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    async def cycle_report(self, report: CycleReport) -> None:
        self._print(format_cycle(report))

    async def approval_requested(self, request: ApprovalRequest) -> None:
        self._print(
            f"[APPROVAL #{request.approval_id}] {request.description} waits: {request.reason}"
            f" (expires {request.expires_at:%H:%M} UTC; {self._how_to_decide(request)})"
        )

    def _how_to_decide(self, request: ApprovalRequest) -> str:
        n = request.approval_id
        if self.interactive:
            return f"type `approve {n}` or `reject {n}`"
        return f"decide it in `omega-director run` (type `approve {n}`) or in Telegram"

    async def approval_settled(self, decision: ApprovalDecision) -> None:
        self._print(f"[APPROVAL #{decision.approval_id}] {decision.message}")

    async def alert(self, text: str) -> None:
        self._print(f"[ALERT] {text}")
