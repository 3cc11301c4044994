"""Inline buttons: Approve / Reject on parked actions, and the /panic confirmation.

The callback data carries only the approval id ("ap:<id>:y" / "ap:<id>:n"); everything else
lives in the database, so a button still works after a restart. The director does the atomic
claim, the expiry check and the guard's re-check on fresh state; this module checks who
pressed, passes the press on, and shows the outcome.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot.auth import Authorizer, label
from bot.port import DirectorPort
from bot.render import esc, render_decision, render_panic_result
from bot.send import Sender

log = logging.getLogger(__name__)

PANIC_TTL_SECONDS = 300
_APPROVAL = re.compile(r"ap:(\d{1,12}):([yn])")
_PANIC = re.compile(r"pn:(\d{1,12}):([yn])")
# A press that settles the approval (a second press or a lost race settles nothing).
_SETTLED_BY_PRESS = frozenset({"blocked", "failed"})


@dataclass(frozen=True)
class ApprovalPress:
    approval_id: int
    approve: bool


@dataclass(frozen=True)
class PanicPress:
    issued_at: int  # unix seconds when /panic offered the button
    confirm: bool


def parse_press(data: str | None) -> ApprovalPress | PanicPress | None:
    """The press a button's callback data stands for; None for anything we never sent."""
    if data is None:
        return None
    if match := _APPROVAL.fullmatch(data):
        return ApprovalPress(int(match[1]), match[2] == "y")
    if match := _PANIC.fullmatch(data):
        return PanicPress(int(match[1]), match[2] == "y")
    return None


def approval_keyboard(approval_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("✅ Approve", callback_data=f"ap:{approval_id}:y"),
                InlineKeyboardButton("❌ Reject", callback_data=f"ap:{approval_id}:n"),
            ]
        ]
    )


def panic_keyboard(issued_at: datetime) -> InlineKeyboardMarkup:
    stamp = int(issued_at.timestamp())
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("🛑 Confirm panic", callback_data=f"pn:{stamp}:y"),
                InlineKeyboardButton("Cancel", callback_data=f"pn:{stamp}:n"),
            ]
        ]
    )


class ButtonHandler:
    def __init__(
        self,
        director: DirectorPort,
        sender: Sender,
        authorizer: Authorizer,
        *,
        clock: Callable[[], datetime],
        panic_ttl_seconds: int = PANIC_TTL_SECONDS,
    ) -> None:
        self._director = director
        self._sender = sender
        self._auth = authorizer
        self._clock = clock
        self._panic_ttl = panic_ttl_seconds

    async def on_press(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        user = query.from_user
        if not self._auth.allows(user):
            self._auth.refuse(user, f"button press {query.data!r}")
            await self._sender.answer(query.id, "⛔ Not authorized.", alert=True)
            return
        press = parse_press(query.data)
        if press is None:
            log.warning("unrecognized button data %r from %s", query.data, label(user))
            await self._sender.answer(query.id, "This button is not recognized.", alert=True)
            return
        if isinstance(press, ApprovalPress):
            await self._approval(query, label(user), press)
        else:
            await self._panic(query, label(user), press)

    async def _approval(self, query: CallbackQuery, who: str, press: ApprovalPress) -> None:
        verb = "approve" if press.approve else "reject"
        log.info("%s pressed %s on approval #%d", who, verb, press.approval_id)
        try:
            decision = await self._director.decide_approval(press.approval_id, who, press.approve)
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
        if (decision.ok or decision.status in _SETTLED_BY_PRESS) and query.message is not None:
            await self._sender.edit_html(
                query.message.chat.id, query.message.message_id, render_decision(decision)
            )

    async def _panic(self, query: CallbackQuery, who: str, press: PanicPress) -> None:
        message = query.message
        if not press.confirm:
            await self._sender.answer(query.id, "Panic canceled.")
            if message is not None:
                await self._sender.edit_html(
                    message.chat.id, message.message_id, f"Panic canceled by {esc(who)}."
                )
            return
        age = self._clock().timestamp() - press.issued_at
        if not 0 <= age <= self._panic_ttl:
            await self._sender.answer(
                query.id, "This panic button is stale: send /panic again.", alert=True
            )
            return
        log.warning("PANIC by %s", who)
        try:
            result = await self._director.panic(who)
        except Exception as exc:
            log.exception("panic failed")
            await self._sender.answer(
                query.id, f"Panic FAILED ({type(exc).__name__}); check /state now.", alert=True
            )
            return
        summary = f"Safe mode ON; canceled {len(result.canceled)} order(s)"
        if result.failed:
            summary += f"; {len(result.failed)} cancel(s) FAILED"
        await self._sender.answer(query.id, summary + ".", alert=bool(result.failed))
        if message is not None:
            await self._sender.edit_html(
                message.chat.id, message.message_id, render_panic_result(result, who)
            )
