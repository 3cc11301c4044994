"""The director's Reporter, in Telegram: cycle reports, approval requests, settlements, alerts.

Every method returns at once: the work goes to the outbox, so a cycle never waits on Telegram.

Quiet by default, loud when it matters. A report notifies (sound on the phone) only when it
needs the operator: an approval waiting, a block or a failure, an alert (health, budget, a
brain or cycle error); and the same thing is told aloud once a day, not every cycle. Routine
reports (nothing of that) arrive silently (`disable_notification`) with OMEGA_REPORT=every, are
folded into one silent digest every OMEGA_REPORT_DIGEST_HOURS with `digest`, and are not sent
with `actions`. Approval requests, settlements and alerts take the outbox's urgent lane.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Literal, Protocol

from bot.html_split import truncate_html
from bot.keyboards import approval_keyboard
from bot.outbox import Outbox
from bot.render import esc, render_approval_request, render_cycle_report, render_decision, stamp
from bot.render_cockpit import fate_summary, render_approval_card
from bot.send import Sender
from director.clock import Clock, wall_clock
from director.face import ActionStatus, ApprovalCard, ApprovalRecord
from director.reporting import ApprovalDecision, ApprovalRequest, CycleReport

log = logging.getLogger(__name__)

LOUD_AGAIN_AFTER = timedelta(hours=24)
_LOUD_STATUSES = frozenset(
    {ActionStatus.BLOCKED, ActionStatus.FAILED, ActionStatus.AWAITING_APPROVAL}
)
ReportMode = Literal["every", "actions", "digest"]


class ReporterEngine(Protocol):
    """What the reporter reads back from the engine (director.queries.Queries has it all)."""

    async def set_approval_message(
        self, approval_id: int, chat_id: int, message_id: int
    ) -> None: ...

    async def approval(self, approval_id: int) -> ApprovalRecord | None: ...

    async def approval_card(self, request: ApprovalRequest) -> ApprovalCard | None: ...

    async def why_counts(self, cycle_id: int) -> dict[str, int]: ...


def loud_keys(report: CycleReport) -> list[str]:
    """What in a report needs the operator, as keys (the same key is told aloud once a day)."""
    keys = [f"alert:{a}" for a in report.alerts]
    keys += [
        f"{o.status}:{o.description}:{o.reason}"
        for o in report.outcomes
        if o.status in _LOUD_STATUSES
    ]
    if report.brain_error:
        keys.append(f"brain:{report.brain_error}")
    if report.error:
        keys.append(f"cycle:{report.error}")
    if report.state is not None and report.state.degraded:
        keys.append(f"health:{report.state.health}")
    return keys


class TelegramReporter:
    def __init__(
        self,
        sender: Sender,
        chat_id: int,
        outbox: Outbox,
        *,
        report: ReportMode = "every",
        digest_hours: int = 6,
        engine: ReporterEngine | None = None,
        clock: Clock = wall_clock,
    ) -> None:
        self._clock = clock
        self._sender = sender
        self._chat_id = chat_id
        self._outbox = outbox
        self._report = report
        self._digest_every = timedelta(hours=digest_hours)
        self._engine = engine
        self._told: dict[str, datetime] = {}
        self._digest: list[str] = []
        self._digest_since: datetime | None = None
        # Approval requests posted but not yet attempted: the catch-up leaves them to the outbox.
        self.queued_requests: set[int] = set()

    def bind(self, engine: ReporterEngine, clock: Clock | None = None) -> None:
        """The engine exists only once the director is built, and the director needs us first."""
        self._engine = engine
        if clock is not None:
            self._clock = clock

    @property
    def chat_id(self) -> int:
        return self._chat_id

    # --- the Reporter protocol -----------------------------------------------------------

    async def cycle_report(self, report: CycleReport) -> None:
        if report.trigger == "schedule" and report.cycle_id == 0:
            return  # a paused tick: nothing ran; /state shows PAUSED
        # Always in the log too: with Telegram down, the log is where the operator reads it.
        log.info("%s", log_line(report))
        loud = self._loud(report)
        asked = report.trigger != "schedule"  # the operator asked for this one (/cycle)
        if not loud and not asked and self._report != "every":
            if self._report == "digest":
                self._fold(report)
            else:
                log.debug("cycle %s not reported (OMEGA_REPORT=actions)", report.cycle_id)
            return

        async def deliver() -> None:
            why = await self._why(report.cycle_id)
            text = truncate_html(render_cycle_report(report, why))
            await self._sender.send_html(self._chat_id, text, quiet=not (loud or asked))

        self._outbox.post(f"cycle {report.cycle_id} report", deliver)

    async def approval_requested(self, request: ApprovalRequest) -> None:
        self.queued_requests.add(request.approval_id)

        async def deliver() -> None:
            try:
                await self.send_request(request)
            finally:
                self.queued_requests.discard(request.approval_id)

        self._outbox.post(
            f"approval #{request.approval_id} request",
            deliver,
            urgent=True,
            # Dropped unsent: the catch-up must be free to send it again.
            on_drop=lambda: self.queued_requests.discard(request.approval_id),
        )

    async def approval_settled(self, decision: ApprovalDecision) -> None:
        self._outbox.post(
            f"approval #{decision.approval_id} settlement",
            lambda: self._settle(decision),
            urgent=True,
        )

    async def alert(self, text: str) -> None:
        message = f"🚨 {esc(text)}"
        self._outbox.post("alert", lambda: self._send(message), urgent=True)

    def notify(
        self,
        html_text: str,
        what: str = "notice",
        *,
        quiet: bool = False,
        urgent: bool = False,
        first: bool = False,
    ) -> None:
        """Queue a message that is already safe HTML (the caller escaped what it inserted)."""
        self._outbox.post(
            what, lambda: self._send(html_text, quiet=quiet), urgent=urgent, first=first
        )

    # --- loudness and the digest -----------------------------------------------------------

    def _loud(self, report: CycleReport) -> bool:
        now = report.finished_at
        fresh = [
            k
            for k in loud_keys(report)
            if k not in self._told or now - self._told[k] >= LOUD_AGAIN_AFTER
        ]
        for key in fresh:
            self._told[key] = now
        self._told = {k: t for k, t in self._told.items() if now - t < LOUD_AGAIN_AFTER}
        return bool(fresh)

    def _fold(self, report: CycleReport) -> None:
        """A routine cycle into the digest; the digest goes out once its hours are up."""
        if self._digest_since is None:
            self._digest_since = report.started_at
        s = report.state
        figures = f" · equity {s.equity:,.2f} · risk {s.risk:.2f}" if s is not None else ""
        acted = sum(1 for o in report.outcomes if o.kind != "do_nothing")
        self._digest.append(
            f"#{report.cycle_id} {report.started_at:%H:%M}{figures} · {acted} action(s)"
        )
        if report.finished_at - self._digest_since >= self._digest_every:
            self.flush_digest(report.finished_at)

    def flush_digest(self, now: datetime) -> None:
        if not self._digest:
            return
        lines = self._digest
        since = self._digest_since or now
        self._digest, self._digest_since = [], None
        text = (
            f"🗞 <b>Digest</b> · {len(lines)} routine cycle(s) {stamp(since)} → {stamp(now)}\n"
            + "\n".join(esc(line) for line in lines[-40:])
        )
        self.notify(text, "digest", quiet=True)

    async def _why(self, cycle_id: int) -> str:
        if self._engine is None or cycle_id <= 0:
            return ""
        try:
            return fate_summary(await self._engine.why_counts(cycle_id))
        except Exception:
            log.exception("could not count cycle %s's opportunities", cycle_id)
            return ""

    # --- deliveries ----------------------------------------------------------------------

    async def _send(self, text: str, *, quiet: bool = False) -> None:
        await self._sender.send_html(self._chat_id, text, quiet=quiet)

    async def _card(self, request: ApprovalRequest) -> tuple[str, bool]:
        """The request as a trader's card (and whether it can be halved); the plain render if
        the engine can't build one."""
        card = None
        if self._engine is not None:
            try:
                card = await self._engine.approval_card(request)
            except Exception:
                log.exception("approval #%d: no card; sending the short form", request.approval_id)
        if card is None:
            return render_approval_request(request), False
        return render_approval_card(card, self._clock()), card.halvable

    async def send_request(self, request: ApprovalRequest, chat_id: int | None = None) -> bool:
        """Send an approval with its buttons (to the report chat unless told otherwise) and
        remember where it is: the newest copy is the one an expiry edits. /pending uses it."""
        chat_id = self._chat_id if chat_id is None else chat_id
        text, halvable = await self._card(request)
        sent = await self._sender.send_whole_html(
            chat_id, text, reply_markup=approval_keyboard(request.approval_id, halvable=halvable)
        )
        if sent is None:
            log.warning(
                "approval #%d request not delivered; re-sent when Telegram is back (and /pending)",
                request.approval_id,
            )
            return False
        if self._engine is None:
            log.error("approval #%d: no engine bound; its message can't be edited later",
                      request.approval_id)  # fmt: skip
            return True
        await self._engine.set_approval_message(request.approval_id, chat_id, sent.message_id)
        return True

    async def _settle(self, decision: ApprovalDecision) -> None:
        text = render_decision(decision)
        record = None
        if self._engine is not None:
            record = await self._engine.approval(decision.approval_id)
        if (
            record is not None
            and record.chat_id is not None
            and record.message_id is not None
            and await self._sender.edit_html(record.chat_id, record.message_id, text)
        ):
            return
        # The request never reached the chat (or can't be edited): say it in a new message.
        await self._sender.send_html(self._chat_id, text)


def log_line(report: CycleReport) -> str:
    """One line per cycle for the log: what it did and what needs the operator."""
    acted = [o for o in report.outcomes if o.kind != "do_nothing"]
    outcomes = "; ".join(f"{o.description} {o.status}" for o in acted[:10]) or "no actions"
    alerts = f" · alerts: {'; '.join(report.alerts)[:300]}" if report.alerts else ""
    error = f" · FAILED: {report.error}" if report.error else ""
    return (
        f"cycle #{report.cycle_id} ({report.trigger}, {report.brain}, "
        f"{report.priority.value}): {outcomes}{alerts}{error}"
    )
