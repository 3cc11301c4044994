"""Rendering for the cockpit: approval cards, positions, limits, P&L by period, why no trade,
/panic, /pnl and /help (pure, no I/O; every outside string through `esc`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from bot.render import MAX_LISTED, _more, clock_time, esc, pct, stamp, until, usd
from director.face import (
    Answer,
    ApprovalCard,
    LimitsView,
    PanicResult,
    PeriodPnl,
    PositionView,
    StoryLine,
    Submission,
    SubmissionStatus,
)

# --- /panic ---------------------------------------------------------------------------------


def render_panic_prompt(resting_orders: int | None) -> str:
    count = (
        "every resting order" if resting_orders is None else f"{resting_orders} resting order(s)"
    )
    return (
        "🛑 <b>Panic?</b>\n"
        f"This turns safe mode on and cancels {count}. Positions stay as they are.\n"
        "Confirm within 5 minutes."
    )


def render_panic_result(result: PanicResult, by: str) -> str:
    lines = [f"🛑 <b>Panic</b> by {esc(by)}: safe mode is ON."]
    lines.append(f"Canceled {len(result.canceled)} order(s)" + (":" if result.canceled else "."))
    lines.extend(f"• {esc(order_id)}" for order_id in result.canceled[:MAX_LISTED])
    lines.extend(_more(len(result.canceled), MAX_LISTED))
    if result.failed:
        lines.append(f"⚠️ <b>{len(result.failed)} cancel(s) failed</b>:")
        lines.extend(f"• {esc(failure)}" for failure in result.failed[:MAX_LISTED])
        lines.extend(_more(len(result.failed), MAX_LISTED))
    return "\n".join(lines)


# --- /pnl ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PnlFigures:
    since: datetime
    until: datetime
    points: int
    start: Decimal
    end: Decimal
    high: Decimal
    low: Decimal
    max_drawdown: Decimal  # dollars, ≤ 0
    max_drawdown_pct: Decimal  # of the peak it fell from, ≤ 0

    @property
    def change(self) -> Decimal:
        return self.end - self.start

    @property
    def change_pct(self) -> Decimal | None:
        return None if self.start == 0 else self.change / self.start * 100


def pnl_figures(points: Sequence[tuple[datetime, Decimal]]) -> PnlFigures | None:
    """Start, end, range and worst peak-to-trough fall of an equity series (oldest first)."""
    if not points:
        return None
    peak = points[0][1]
    worst = Decimal(0)
    worst_pct = Decimal(0)
    for _, equity in points:
        peak = max(peak, equity)
        fall = equity - peak
        if fall < worst:
            worst = fall
            worst_pct = fall / peak * 100 if peak > 0 else Decimal(0)
    values = [equity for _, equity in points]
    return PnlFigures(
        since=points[0][0],
        until=points[-1][0],
        points=len(points),
        start=values[0],
        end=values[-1],
        high=max(values),
        low=min(values),
        max_drawdown=worst,
        max_drawdown_pct=worst_pct,
    )


def render_pnl(figures: PnlFigures) -> str:
    change_pct = "" if figures.change_pct is None else f" ({pct(figures.change_pct, sign=True)})"
    return "\n".join(
        [
            f"📈 <b>Equity</b> {stamp(figures.since)} → {stamp(figures.until)}"
            f" · {figures.points} cycle(s)",
            f"Now {usd(figures.end)} · Start {usd(figures.start)} · "
            f"Change {usd(figures.change, sign=True)}{change_pct}",
            f"High {usd(figures.high)} · Low {usd(figures.low)} · Max drawdown "
            f"{usd(figures.max_drawdown)} ({pct(figures.max_drawdown_pct)})",
        ]
    )


# --- /help ---------------------------------------------------------------------------------


def render_help(commands: Iterable[tuple[str, str]], *, intro: str = "") -> str:
    lines = [intro] if intro else []
    lines.append("<b>Commands</b>")
    lines.extend(f"/{esc(name)} — {esc(description)}" for name, description in commands)
    return "\n".join(lines)


# --- approval cards ------------------------------------------------------------------------


def cents(price: Decimal) -> str:
    """58¢ for 0.58 (a contract pays $1)."""
    return f"{(price * 100).normalize():f}¢"


def action_in_words(card: ApprovalCard) -> str:
    if card.kind == "place_order" and card.price is not None and card.quantity is not None:
        side = (card.side or "yes").upper()
        return f"Buy {esc(side)} at {cents(card.price)} × {card.quantity}"
    if card.kind == "rebalance" and card.target_quantity is not None:
        side = esc((card.side or "").upper())
        if card.held is not None and card.target_quantity < card.held:
            sold = card.held - card.target_quantity
            what = "Close" if card.target_quantity == 0 else "Reduce"
            return f"{what}: sell {sold} {side} at the bid ({card.held} → {card.target_quantity})"
        return f"Move to {card.target_quantity} {side}".rstrip()
    if card.kind == "cancel_order" and card.order_id:
        return f"Cancel order <code>{esc(card.order_id)}</code>"
    return f"<code>{esc(card.description)}</code>"


def render_approval_card(card: ApprovalCard, now: datetime) -> str:
    lines = [f"✋ <b>Approval needed #{esc(card.approval_id)}</b> · cycle #{esc(card.cycle_id)}"]
    if card.market:
        title = f" — <i>{esc(card.title)}</i>" if card.title else ""
        lines.append(f"<b>{esc(card.market)}</b>{title}")
    lines.append(f"<b>{action_in_words(card)}</b>")
    money = []
    if card.cost is not None:
        money.append(f"Cost: {usd(card.cost)} (fees included)")
    if card.max_loss is not None:
        money.append(f"max loss {usd(card.max_loss)}")
    if card.payout is not None:
        money.append(f"pays {usd(card.payout)} if it wins")
    if money:
        lines.append(" · ".join(money))
    if card.edge is not None and card.confidence is not None:
        lines.append(
            f"Edge {esc(card.edge)} · confidence {esc(card.confidence)} · from {esc(card.source)}"
        )
    if card.brain_reason:
        lines.append(f"🧠 {esc(card.brain_reason)}")
    if " by " in card.description:
        lines.append(f"Asked: <code>{esc(card.description)}</code>")
    lines.append(f"Why: {esc(card.why_approval)}")
    if card.escalated:
        lines.append("From an escalated plan.")
    lines.append(f"Expires {clock_time(card.expires_at, now)} ({until(card.expires_at, now)})")
    return "\n".join(lines)


# --- /positions, /limits, /daily, /weekly ------------------------------------------------


def render_positions(views: Sequence[PositionView], now: datetime) -> str:
    if not views:
        return "📦 No open positions."
    total = sum((v.unrealized for v in views if v.unrealized is not None), Decimal(0))
    lines = [f"📦 <b>Positions ({len(views)})</b> · unrealized {usd(total, sign=True)}"]
    for v in views[:MAX_LISTED]:
        mark = "—" if v.mark is None else esc(v.mark)
        pnl = "—" if v.unrealized is None else usd(v.unrealized, sign=True)
        closes = ""
        if v.closes_at is not None:
            closes = f" · closes {clock_time(v.closes_at, now)} ({until(v.closes_at, now)})"
        title = f"\n    <i>{esc(v.title)}</i>" if v.title else ""
        lines.append(
            f"• <b>{esc(v.market)}</b> {esc(v.side.upper())} ×{v.quantity} · avg {esc(v.avg_price)}"
            f" · mark {mark} · {pnl}{closes}{title}"
        )
    lines.extend(_more(len(views), MAX_LISTED))
    lines.append("/close &lt;market&gt; [qty] reduces one (through the guard).")
    return "\n".join(lines)


def render_limits(view: LimitsView) -> str:
    return "\n".join(
        [
            f"🧱 <b>Hard limits</b> (the guard, in code) · {esc(view.exchange)}",
            f"• at most {view.max_order_contracts} contracts and {usd(view.max_order_cost)}"
            " per order (fees included), and never more than the cash",
            f"• total exposure ≤ {pct(view.max_exposure * 100)} of equity",
            f"• risk score above {view.risk_limit:.2f}: no new exposure",
            "• price 1¢–99¢ on a whole cent; new orders only on open markets in the State of"
            " the Union; in safe mode only cancels and position-reducing orders",
            f"⚙️ Autonomy <b>{esc(view.autonomy.value)}</b> · approval threshold"
            f" {usd(view.approval_cost_threshold)} (in auto, costlier actions wait) · an approval"
            f" stays pressable {view.approval_ttl_seconds // 60} min",
        ]
    )


def render_periods(rows: Sequence[PeriodPnl], period: str) -> str:
    if not rows:
        return f"📅 Nothing recorded per {esc(period)} yet."
    head = "Day" if period == "day" else "Week of"
    lines = [f"📅 <b>P&amp;L by {esc(period)}</b> (UTC) · realized from fills, unrealized the rest"]
    for r in rows:
        total = "—" if r.total is None else usd(r.total, sign=True)
        unrealized = "—" if r.unrealized is None else usd(r.unrealized, sign=True)
        lines.append(
            f"• {head} {r.start:%Y-%m-%d}: {total} · realized {usd(r.realized, sign=True)}"
            f" · unrealized {unrealized} · fees {usd(r.fees)} ({r.fills} fills)"
            f" · AI {usd(r.ai_spend, 4)}"
        )
    return "\n".join(lines)


# --- /why ----------------------------------------------------------------------------------

_FATE_WORDS = {
    "taken": "taken",
    "waiting": "waiting for approval",
    "blocked": "blocked by the guard",
    "skipped": "skipped",
    "failed": "failed",
    "held": "already held",
    "below_threshold": "below a threshold",
    "not_chosen": "not chosen",
}


def fate_summary(counts: dict[str, int]) -> str:
    parts = [f"{n} {_FATE_WORDS.get(fate, fate)}" for fate, n in counts.items() if n]
    return ", ".join(parts)


def render_why(cycle_id: int | None, answers: Sequence[Answer]) -> str:
    if cycle_id is None:
        return "🔎 No cycle with a recorded State of the Union yet."
    if not answers:
        return f"🔎 Cycle #{esc(cycle_id)} saw no opportunities."
    counts: dict[str, int] = {}
    for a in answers:
        counts[a.fate] = counts.get(a.fate, 0) + 1
    lines = [f"🔎 <b>Why (no) trade</b> · cycle #{esc(cycle_id)} · {esc(fate_summary(counts))}"]
    for a in answers[:MAX_LISTED]:
        lines.append(
            f"• <b>{esc(a.market)}</b> edge {esc(a.edge)} conf {esc(a.confidence)}"
            f" [{esc(a.source)}]: {esc(_FATE_WORDS.get(a.fate, a.fate))} — {esc(a.reason)}"
        )
    lines.extend(_more(len(answers), MAX_LISTED))
    lines.append("/why &lt;market&gt; tells one market's story over the last cycles.")
    return "\n".join(lines)


def render_story(market: str, story: Sequence[StoryLine]) -> str:
    if not story:
        return f"🔎 No recorded cycle mentions {esc(market)}."
    lines = [f"🔎 <b>{esc(market)}</b> over the last {len(story)} cycle(s)"]
    for line in story:
        seen = ""
        if line.seen is not None:
            seen = f" edge {esc(line.seen.edge)} conf {esc(line.seen.confidence)} —"
        lines.append(f"• #{esc(line.cycle_id)} {line.at:%m-%d %H:%M}:{seen} {esc(line.answer)}")
    return "\n".join(lines)


# --- /close, /cancel -----------------------------------------------------------------------

_SUBMISSION_HEADS: dict[str, str] = {
    SubmissionStatus.EXECUTED: "✅ Done",
    SubmissionStatus.AWAITING_APPROVAL: "⏳ Waiting for approval",
    SubmissionStatus.BLOCKED: "⛔ Blocked",
    SubmissionStatus.DUPLICATE: "♻️ Already asked",
}


def render_submission(submission: Submission, by: str) -> str:
    head = _SUBMISSION_HEADS.get(submission.status, esc(submission.status.value))
    lines = [f"<b>{head}</b>: <code>{esc(submission.description)}</code>"]
    lines.append(esc(submission.reason))
    if submission.approval_id is not None:
        lines.append(f"Approval #{esc(submission.approval_id)}: its buttons follow.")
    if submission.order_id:
        lines.append(f"Order <code>{esc(submission.order_id)}</code>")
    lines.append(f"Asked by {esc(by)} (the operator), through the guard.")
    return "\n".join(lines)
