"""Inline buttons: Approve / Reject on parked actions, Apply / Dismiss on a review's suggestion,
and the confirmations of /panic and /rules rollback.

Callback data is the whole contract between a message and a press, parsed strictly here:
  "ap:<approval id>:y|n"            an approval            (the id is all; the rest is in the DB)
  "rv:<review id>:a|d"              a review's suggestion  (likewise)
  "pn:<unix stamp>:y|n"             /panic's confirmation  (stale after PANIC_TTL_SECONDS)
  "rb:<version>:<active>:<stamp>:y|n" /rules rollback's    (stale after ROLLBACK_TTL_SECONDS,
                                    or once the active version is no longer <active>)
so an approval or review button still works after a restart. The engine does the atomic claims,
the expiry check and the guard's re-check on fresh state; this module checks who pressed,
passes the press on, and shows the outcome.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot.auth import Authorizer, label
from bot.port import DirectorPort
from bot.render import (
    esc,
    render_decision,
    render_panic_result,
    render_review_decision,
    render_rollback_done,
)
from bot.send import Sender
from director.rulebook import RuleSet

log = logging.getLogger(__name__)

PANIC_TTL_SECONDS = 300
ROLLBACK_TTL_SECONDS = 300
_APPROVAL = re.compile(r"ap:(\d{1,12}):([yn])")
_REVIEW = re.compile(r"rv:(\d{1,12}):([ad])")
_PANIC = re.compile(r"pn:(\d{1,12}):([yn])")
_ROLLBACK = re.compile(r"rb:(\d{1,6}):(\d{1,6}):(\d{1,12}):([yn])")
# A press that settles the approval (a second press or a lost race settles nothing).
_SETTLED_BY_PRESS = frozenset({"blocked", "failed"})


@dataclass(frozen=True)
class ApprovalPress:
    approval_id: int
    approve: bool


@dataclass(frozen=True)
class ReviewPress:
    review_id: int
    apply: bool


@dataclass(frozen=True)
class PanicPress:
    issued_at: int  # unix seconds when /panic offered the button
    confirm: bool


@dataclass(frozen=True)
class RollbackPress:
    version: int
    # The active version the prompt's diff was drawn against: a press after the rules changed
    # would undo a change the operator never saw.
    from_version: int
    issued_at: int  # unix seconds when /rules rollback offered the button
    confirm: bool


Press = ApprovalPress | ReviewPress | PanicPress | RollbackPress


def parse_press(data: str | None) -> Press | None:
    """The press a button's callback data stands for; None for anything we never sent."""
    if data is None:
        return None
    if match := _APPROVAL.fullmatch(data):
        return ApprovalPress(int(match[1]), match[2] == "y")
    if match := _REVIEW.fullmatch(data):
        return ReviewPress(int(match[1]), match[2] == "a")
    if match := _PANIC.fullmatch(data):
        return PanicPress(int(match[1]), match[2] == "y")
    if match := _ROLLBACK.fullmatch(data):
        return RollbackPress(int(match[1]), int(match[2]), int(match[3]), match[4] == "y")
    return None


def same_rules(a: RuleSet, b: RuleSet) -> bool:
    """Same rule texts and thresholds, whatever the version numbers and notes."""
    return a.rules == b.rules and a.thresholds == b.thresholds


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


def review_keyboard(review_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("✅ Apply", callback_data=f"rv:{review_id}:a"),
                InlineKeyboardButton("🗑 Dismiss", callback_data=f"rv:{review_id}:d"),
            ]
        ]
    )


def rollback_keyboard(version: int, active: int, issued_at: datetime) -> InlineKeyboardMarkup:
    data = f"rb:{version}:{active}:{int(issued_at.timestamp())}"
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(f"↩️ Roll back to v{version}", callback_data=f"{data}:y"),
                InlineKeyboardButton("Cancel", callback_data=f"{data}:n"),
            ]
        ]
    )


def _fresh(issued_at: int, now: datetime, ttl_seconds: int) -> bool:
    return 0 <= now.timestamp() - issued_at <= ttl_seconds


class ButtonHandler:
    def __init__(
        self,
        director: DirectorPort,
        sender: Sender,
        authorizer: Authorizer,
        *,
        clock: Callable[[], datetime],
        panic_ttl_seconds: int = PANIC_TTL_SECONDS,
        rollback_ttl_seconds: int = ROLLBACK_TTL_SECONDS,
    ) -> None:
        self._director = director
        self._sender = sender
        self._auth = authorizer
        self._clock = clock
        self._panic_ttl = panic_ttl_seconds
        self._rollback_ttl = rollback_ttl_seconds
        # One rules change at a time: presses are handled concurrently, and two new versions
        # racing (an Apply and a rollback, or a double-pressed rollback) must not interleave.
        self._rules_lock = asyncio.Lock()

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
        who = label(user)
        if isinstance(press, ApprovalPress):
            await self._approval(query, who, press)
        elif isinstance(press, ReviewPress):
            await self._review(query, who, press)
        elif isinstance(press, PanicPress):
            await self._panic(query, who, press)
        else:
            await self._rollback(query, who, press)

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

    async def _review(self, query: CallbackQuery, who: str, press: ReviewPress) -> None:
        verb = "apply" if press.apply else "dismiss"
        log.info("%s pressed %s on review #%d", who, verb, press.review_id)
        reviewer = self._director.reviewer
        try:
            async with self._rules_lock:
                decision = await reviewer.decide(press.review_id, who, press.apply)
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
            record = await self._director.store.review(press.review_id)
        except Exception:
            # The decision stands and the presser was told; only the message's edit is lost.
            log.exception("could not read review #%d back to edit its message", press.review_id)
            return
        # An Apply that could not apply settles the review (failed, or superseded by newer
        # rules): that press decided it.
        settled_here = decision.ok or (
            record is not None
            and record.status in ("failed", "superseded")
            and record.decided_by == who
        )
        if settled_here and query.message is not None:
            await self._sender.edit_html(
                query.message.chat.id,
                query.message.message_id,
                render_review_decision(decision, record),
            )

    async def _rollback(self, query: CallbackQuery, who: str, press: RollbackPress) -> None:
        message = query.message
        if not press.confirm:
            await self._sender.answer(query.id, "Rollback canceled.")
            if message is not None:
                await self._sender.edit_html(
                    message.chat.id,
                    message.message_id,
                    f"↩️ Rollback to v{press.version} canceled by {esc(who)}; the rules are "
                    "unchanged.",
                )
            return
        if not _fresh(press.issued_at, self._clock(), self._rollback_ttl):
            await self._sender.answer(
                query.id,
                f"This rollback button is stale: send /rules rollback {press.version} again.",
                alert=True,
            )
            return
        try:
            async with self._rules_lock:
                refusal = await self._rollback_refusal(press)
                if refusal is not None:
                    await self._sender.answer(query.id, refusal, alert=True)
                    return
                log.warning("rules rollback to v%d by %s", press.version, who)
                new = await self._director.reviewer.rollback(press.version, who)
        except Exception as exc:
            log.exception("rollback to v%d failed", press.version)
            await self._sender.answer(
                query.id,
                f"Rollback FAILED ({type(exc).__name__}); nothing changed. Check /rules.",
                alert=True,
            )
            return
        await self._sender.answer(
            query.id,
            f"Rules v{new.version} (a copy of v{press.version}) active from the next cycle.",
        )
        if message is not None:
            await self._sender.edit_html(
                message.chat.id, message.message_id, render_rollback_done(new, press.version, who)
            )

    async def _rollback_refusal(self, press: RollbackPress) -> str | None:
        """Why this rollback would be wrong now, checked again at the press: the second press
        of one, or the rules changed since the prompt showed its diff."""
        store = self._director.store
        version = press.version
        history = {r.version: r for r in await store.rules_history()}
        target = history.get(version)
        if target is None:
            return f"There is no rules version {version}."
        active = await store.active_rules()
        if same_rules(target, active):
            return f"Rules v{active.version}, the active version, already equal v{version}."
        if active.version != press.from_version:
            return (
                f"The rules changed since this prompt (v{press.from_version} → "
                f"v{active.version}): send /rules rollback {version} again to see the new diff."
            )
        return None

    async def _panic(self, query: CallbackQuery, who: str, press: PanicPress) -> None:
        message = query.message
        if not press.confirm:
            await self._sender.answer(query.id, "Panic canceled.")
            if message is not None:
                await self._sender.edit_html(
                    message.chat.id, message.message_id, f"Panic canceled by {esc(who)}."
                )
            return
        if not _fresh(press.issued_at, self._clock(), self._panic_ttl):
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
