"""Inline buttons: a handler per kind (approval, review; the confirmations are in
bot/prompts.py), each registered with its callback-data pattern (bot/keyboards.py).

`pressed` adapts a handler to PTB and checks first who pressed (operators only: a viewer presses
nothing) and that the data is one we sent. The engine does the atomic claims, the expiry and
the guard's re-check on fresh state; a handler passes the press on and shows the outcome. Every
message of a decided approval ends up showing its one recorded outcome: the pressed copy, the
copy the request was recorded at, and any old /pending copy the moment it is pressed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from telegram import CallbackQuery, Update
from telegram.ext import ContextTypes

from bot.auth import Authorizer, label
from bot.keyboards import ApprovalPress, Press, ReviewPress, parse_press
from bot.port import DirectorPort
from bot.render import render_decision, render_recorded
from bot.render_review import render_review_decision
from bot.send import Sender
from director.face import ApprovalStatus, ReviewStatus
from director.reporting import ApprovalDecision

log = logging.getLogger(__name__)

P = TypeVar("P", bound=Press)
PressHandler = Callable[[CallbackQuery, str, P], Awaitable[None]]
PtbCallback = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]
# Statuses a press can leave an approval in that say what happened to it.
_SETTLED = frozenset(
    {
        ApprovalStatus.APPROVED,
        ApprovalStatus.REJECTED,
        ApprovalStatus.BLOCKED,
        ApprovalStatus.FAILED,
        ApprovalStatus.EXPIRED,
    }
)


def pressed(
    kind: type[P], handler: PressHandler[P], auth: Authorizer, sender: Sender
) -> PtbCallback:
    async def callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        user = query.from_user
        if not auth.allows(user):
            auth.refuse(user, f"button press {query.data!r}")
            await sender.answer(query.id, "⛔ Not authorized.", alert=True)
            return
        press = parse_press(query.data)
        if not isinstance(press, kind):
            log.warning("unrecognized button data %r from %s", query.data, label(user))
            await sender.answer(query.id, "This button is not recognized.", alert=True)
            return
        await handler(query, label(user), press)

    return callback


async def unrecognized(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Registered last: any callback data no pattern took (forged or from an old version)."""
    query = update.callback_query
    if query is not None:
        log.warning("unrecognized button data %r", query.data)
        await query.answer("This button is not recognized.", show_alert=True)


class Buttons:
    def __init__(self, director: DirectorPort, sender: Sender) -> None:
        self._director = director
        self._sender = sender

    async def approval(self, query: CallbackQuery, who: str, press: ApprovalPress) -> None:
        verb = "approve ½" if press.half else ("approve" if press.approve else "reject")
        log.info("%s pressed %s on approval #%d", who, verb, press.approval_id)
        try:
            decision = await self._director.decide_approval(
                press.approval_id, who, press.approve, half=press.half
            )
        except Exception:
            log.exception("deciding approval #%d failed", press.approval_id)
            await self._sender.answer(
                query.id,
                "Something went wrong deciding this; it is logged. Check /pending and /state.",
                alert=True,
            )
            return
        log.info("approval #%d: %s (%s)", decision.approval_id, decision.status, decision.message)
        # A refused press (second press, lost race, expired) pops up so the presser sees why.
        await self._sender.answer(query.id, decision.message, alert=not decision.ok)
        if decision.status in _SETTLED:
            await self._show_outcome(query, decision)

    async def _show_outcome(self, query: CallbackQuery, decision: ApprovalDecision) -> None:
        """The recorded outcome on the pressed message and on the one the request was recorded
        at (an old /pending copy is set right the moment it is pressed)."""
        try:
            record = await self._director.queries.approval(decision.approval_id)
        except Exception:
            log.exception("could not read approval #%d back", decision.approval_id)
            record = None
        if record is None or record.status in (ApprovalStatus.PENDING, ApprovalStatus.EXECUTING):
            text = render_decision(decision)
        else:
            text = render_recorded(record, decision.description)
        shown: set[tuple[int, int]] = set()
        if query.message is not None:
            where = (query.message.chat.id, query.message.message_id)
            await self._sender.edit_html(*where, text)
            shown.add(where)
        if record is None or record.chat_id is None or record.message_id is None:
            return
        if (record.chat_id, record.message_id) not in shown:
            await self._sender.edit_html(record.chat_id, record.message_id, text)

    async def review(self, query: CallbackQuery, who: str, press: ReviewPress) -> None:
        verb = "apply" if press.apply else "dismiss"
        log.info("%s pressed %s on review #%d", who, verb, press.review_id)
        queries = self._director.queries
        try:
            decision = await queries.decide_review(press.review_id, who, press.apply)
        except Exception:
            log.exception("deciding review #%d failed", press.review_id)
            await self._sender.answer(
                query.id,
                "Something went wrong deciding this; it is logged. Check /rules.",
                alert=True,
            )
            return
        log.info("review #%d: ok=%s (%s)", press.review_id, decision.ok, decision.message)
        await self._sender.answer(query.id, decision.message, alert=not decision.ok)
        try:
            record = await queries.review(press.review_id)
        except Exception:
            # The decision stands and the presser was told; only the message's edit is lost.
            log.exception("could not read review #%d back to edit its message", press.review_id)
            return
        # An Apply that could not apply settles the review (failed, or superseded by newer
        # rules): that press decided it. A later press decided nothing and edits nothing.
        settled_here = decision.ok or (
            record is not None
            and record.status in (ReviewStatus.FAILED, ReviewStatus.SUPERSEDED)
            and record.decided_by == who
        )
        if settled_here and query.message is not None:
            await self._sender.edit_html(
                query.message.chat.id,
                query.message.message_id,
                render_review_decision(decision, record),
            )
