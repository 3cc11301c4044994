"""The director's Reporter, in Telegram: cycle reports, approval requests, settlements, alerts.

Every method returns at once: the work goes to the outbox, so a cycle never waits on Telegram.
"""

from __future__ import annotations

import logging
from typing import Literal, Protocol

from bot.approvals import approval_keyboard
from bot.outbox import Outbox
from bot.render import esc, render_approval_request, render_cycle_report, render_decision
from bot.send import Sender
from director.reporting import ApprovalDecision, ApprovalRequest, CycleReport
from director.store import ApprovalRecord

log = logging.getLogger(__name__)


class ApprovalMessages(Protocol):
    """Where an approval's message is remembered, so it can be edited after a restart."""

    async def set_approval_message(
        self, approval_id: int, chat_id: int, message_id: int
    ) -> None: ...

    async def approval(self, approval_id: int) -> ApprovalRecord | None: ...


class TelegramReporter:
    def __init__(
        self,
        sender: Sender,
        chat_id: int,
        outbox: Outbox,
        *,
        report: Literal["every", "actions"] = "every",
        messages: ApprovalMessages | None = None,
    ) -> None:
        self._sender = sender
        self._chat_id = chat_id
        self._outbox = outbox
        self._report = report
        self._messages = messages

    def bind(self, messages: ApprovalMessages) -> None:
        """The store exists only once the director is built, and the director needs us first."""
        self._messages = messages

    @property
    def chat_id(self) -> int:
        return self._chat_id

    # --- the Reporter protocol -----------------------------------------------------------

    async def cycle_report(self, report: CycleReport) -> None:
        if not self._worth_sending(report):
            log.debug("cycle %s not reported (OMEGA_REPORT=%s)", report.cycle_id, self._report)
            return
        text = render_cycle_report(report)
        self._outbox.post(f"cycle {report.cycle_id} report", lambda: self._send(text))

    async def approval_requested(self, request: ApprovalRequest) -> None:
        async def deliver() -> None:
            await self.send_request(request)

        self._outbox.post(f"approval #{request.approval_id} request", deliver)

    async def approval_settled(self, decision: ApprovalDecision) -> None:
        self._outbox.post(
            f"approval #{decision.approval_id} settlement", lambda: self._settle(decision)
        )

    async def alert(self, text: str) -> None:
        message = f"🚨 {esc(text)}"
        self._outbox.post("alert", lambda: self._send(message))

    def notify(self, html_text: str, what: str = "notice") -> None:
        """Queue a message that is already safe HTML (the caller escaped what it inserted)."""
        self._outbox.post(what, lambda: self._send(html_text))

    # --- deliveries ----------------------------------------------------------------------

    def _worth_sending(self, report: CycleReport) -> bool:
        if report.trigger != "schedule":
            return True  # the operator asked for this one (/cycle)
        if report.cycle_id == 0:
            return False  # a paused tick: nothing ran; /state shows PAUSED
        return self._report == "every" or report.noteworthy

    async def _send(self, text: str) -> None:
        await self._sender.send_html(self._chat_id, text)

    async def send_request(self, request: ApprovalRequest, chat_id: int | None = None) -> bool:
        """Send an approval with its buttons (to the report chat unless told otherwise) and
        remember where it is: the newest copy is the one an expiry edits. /pending uses it."""
        chat_id = self._chat_id if chat_id is None else chat_id
        sent = await self._sender.send_html(
            chat_id,
            render_approval_request(request),
            reply_markup=approval_keyboard(request.approval_id),
        )
        if not sent:
            log.warning(
                "approval #%d request not delivered; /pending shows it again",
                request.approval_id,
            )
            return False
        if self._messages is None:
            log.error(
                "approval #%d: no store bound; its message can't be edited later",
                request.approval_id,
            )
            return True
        await self._messages.set_approval_message(request.approval_id, chat_id, sent[-1].message_id)
        return True

    async def _settle(self, decision: ApprovalDecision) -> None:
        text = render_decision(decision)
        record = None
        if self._messages is not None:
            record = await self._messages.approval(decision.approval_id)
        if (
            record is not None
            and record.chat_id is not None
            and record.message_id is not None
            and await self._sender.edit_html(record.chat_id, record.message_id, text)
        ):
            return
        # The request never reached the chat (or can't be edited): say it in a new message.
        await self._sender.send_html(self._chat_id, text)
