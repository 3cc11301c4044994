"""/state rendered: the fresh State of the Union and the operator's switches (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from bot.render import MAX_LISTED, TOP_OPPORTUNITIES, _more, clock_time, esc, pct, stamp, until, usd
from director.models import SystemState

# --- /state --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StateView:
    """Everything /state shows: the fresh SystemState and the operator's switches."""

    state: SystemState
    now: datetime
    paused: bool
    next_cycle_at: datetime | None
    cycle_running: bool
    ai_spend_today: Decimal
    daily_budget: Decimal
    pending_approvals: int


def render_state(view: StateView) -> str:
    s = view.state
    share = f" ({pct(s.exposure / s.equity * 100)} of equity)" if s.equity > 0 else ""
    lines = [
        f"📊 <b>State of the Union</b> · {esc(s.exchange)} · {stamp(s.timestamp)}",
        f"💰 Cash {usd(s.portfolio_cash)} · Equity {usd(s.equity)}",
        f"📐 Exposure {usd(s.exposure)}{share} · Risk {s.current_risk_score:.2f}"
        f" · 24h P&amp;L {usd(s.recent_pnl_24h, sign=True)}",
    ]
    safe = "off"
    if s.safe_mode:
        safe = "<b>ON</b>" + (f" ({esc(s.safe_mode_reason)})" if s.safe_mode_reason else "")
    loop = "<b>PAUSED</b>" if view.paused else "running"
    lines.append(f"⚙️ Autonomy <b>{esc(s.autonomy.value)}</b> · Safe mode {safe} · Loop {loop}")
    if view.cycle_running:
        nxt = "a cycle is running now"
    elif view.paused:
        nxt = "no scheduled cycle until /resume (/cycle runs one now)"
    elif view.next_cycle_at is not None:
        nxt = (
            f"next cycle {clock_time(view.next_cycle_at, view.now)}"
            f" ({until(view.next_cycle_at, view.now)})"
        )
    else:
        nxt = "next cycle not scheduled"
    lines.append(f"⏱ {nxt}")
    lines.append(
        f"🤖 AI spend today {usd(view.ai_spend_today, 4)} of {usd(view.daily_budget)} budget"
    )
    lines.append(f"📡 Health {esc(s.system_health.summary())}")
    if view.pending_approvals:
        lines.append(f"✋ {view.pending_approvals} approval(s) waiting: /pending")
    lines.extend(_book_lines(s))
    return "\n".join(lines)


def _book_lines(s: SystemState) -> list[str]:
    """Positions, resting orders and the top opportunities, each list capped."""
    lines: list[str] = []

    def title(ticker: str) -> str:
        market = s.markets.get(ticker)
        return f" — <i>{esc(market.title)}</i>" if market and market.title else ""

    positions = sorted(s.open_positions, key=lambda p: (-p.market_value, p.market))
    lines.append("")
    lines.append(f"<b>Positions ({len(positions)})</b>" + ("" if positions else ": none"))
    for p in positions[:MAX_LISTED]:
        mark = "" if p.mark_price is None else f" → {esc(p.mark_price)}"
        lines.append(
            f"• {esc(p.market)} {esc(p.side.value)} ×{p.quantity} @ {esc(p.avg_price)}{mark}"
            f" (value {usd(p.market_value)}){title(p.market)}"
        )
    lines.extend(_more(len(positions), MAX_LISTED))

    orders = sorted(s.pending_orders, key=lambda o: (o.created_at, o.order_id))
    lines.append(f"<b>Resting orders ({len(orders)})</b>" + ("" if orders else ": none"))
    for o in orders[:MAX_LISTED]:
        lines.append(
            f"• {esc(o.order_id)} {esc(o.action.value)} {esc(o.market)} {esc(o.side.value)}"
            f" {o.remaining}/{o.quantity} @ {esc(o.price)} since {stamp(o.created_at)}"
        )
    lines.extend(_more(len(orders), MAX_LISTED))

    opportunities = sorted(
        s.active_opportunities, key=lambda o: (-(o.edge * o.confidence), o.market)
    )
    shown = opportunities[:TOP_OPPORTUNITIES]
    count = (
        f"{len(shown)} of {len(opportunities)}" if len(opportunities) > len(shown) else len(shown)
    )
    lines.append(f"<b>Top opportunities ({count})</b>" + ("" if shown else ": none"))
    for opp in shown:
        name = f" — <i>{esc(opp.title)}</i>" if opp.title else title(opp.market)
        lines.append(
            f"• {esc(opp.market)} {esc(opp.side.value)} edge {esc(opp.edge)}"
            f" conf {esc(opp.confidence)} [{esc(opp.source)}]"
            f" until {clock_time(opp.expires_at, s.timestamp)}{name}"
        )
    return lines
