"""Every keyboard the bot shows, and the strict parser of what a press sends back.

Callback data is the whole contract between a message and a press:
  "ap:<approval id>:y|n|h"            an approval: Approve, Reject, Approve ½ (the id is all;
                                      the rest is in the database)
  "rv:<review id>:a|d"                a review's suggestion: Apply / Dismiss
  "pn:<unix stamp>:y|n"               /panic's confirmation      (stale after PROMPT_TTL_SECONDS)
  "rb:<version>:<active>:<stamp>:y|n" /rules rollback's          (likewise, and only while the
                                      active version is still <active>)
  "cf:<what>:<stamp>:y|n"             a dangerous switch on a real exchange: what is one of
                                      `auto` (/autonomy auto), `safeoff` (/safemode off),
                                      `resume` (/resume)
so an approval or review button still works after a restart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup

PROMPT_TTL_SECONDS = 300
Dangerous = Literal["auto", "safeoff", "resume"]

APPROVAL_PATTERN = r"^ap:"
REVIEW_PATTERN = r"^rv:"
PANIC_PATTERN = r"^pn:"
ROLLBACK_PATTERN = r"^rb:"
CONFIRM_PATTERN = r"^cf:"

_APPROVAL = re.compile(r"ap:(\d{1,12}):([ynh])")
_REVIEW = re.compile(r"rv:(\d{1,12}):([ad])")
_PANIC = re.compile(r"pn:(\d{1,12}):([yn])")
_ROLLBACK = re.compile(r"rb:(\d{1,6}):(\d{1,6}):(\d{1,12}):([yn])")
_CONFIRM = re.compile(r"cf:(auto|safeoff|resume):(\d{1,12}):([yn])")


@dataclass(frozen=True)
class ApprovalPress:
    approval_id: int
    approve: bool
    half: bool = False  # Approve ½: half the quantity, re-checked by the guard


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


@dataclass(frozen=True)
class ConfirmPress:
    what: Dangerous
    issued_at: int
    confirm: bool


Press = ApprovalPress | ReviewPress | PanicPress | RollbackPress | ConfirmPress


def parse_press(data: str | None) -> Press | None:
    """The press a button's callback data stands for; None for anything we never sent."""
    if data is None:
        return None
    if match := _APPROVAL.fullmatch(data):
        return ApprovalPress(int(match[1]), match[2] in "yh", half=match[2] == "h")
    if match := _REVIEW.fullmatch(data):
        return ReviewPress(int(match[1]), match[2] == "a")
    if match := _PANIC.fullmatch(data):
        return PanicPress(int(match[1]), match[2] == "y")
    if match := _ROLLBACK.fullmatch(data):
        return RollbackPress(int(match[1]), int(match[2]), int(match[3]), match[4] == "y")
    if match := _CONFIRM.fullmatch(data):
        what: Dangerous = match[1]  # type: ignore[assignment]  # the regex allows only these
        return ConfirmPress(what, int(match[2]), match[3] == "y")
    return None


def _row(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in buttons]]
    )


def approval_keyboard(approval_id: int, *, halvable: bool = False) -> InlineKeyboardMarkup:
    buttons = [("✅ Approve", f"ap:{approval_id}:y")]
    if halvable:
        buttons.append(("✅ Approve ½", f"ap:{approval_id}:h"))
    buttons.append(("❌ Reject", f"ap:{approval_id}:n"))
    return _row(*buttons)


def panic_keyboard(issued_at: datetime) -> InlineKeyboardMarkup:
    stamp = int(issued_at.timestamp())
    return _row(("🛑 Confirm panic", f"pn:{stamp}:y"), ("Cancel", f"pn:{stamp}:n"))


def review_keyboard(review_id: int) -> InlineKeyboardMarkup:
    return _row(("✅ Apply", f"rv:{review_id}:a"), ("🗑 Dismiss", f"rv:{review_id}:d"))


def rollback_keyboard(version: int, active: int, issued_at: datetime) -> InlineKeyboardMarkup:
    data = f"rb:{version}:{active}:{int(issued_at.timestamp())}"
    return _row((f"↩️ Roll back to v{version}", f"{data}:y"), ("Cancel", f"{data}:n"))


def confirm_keyboard(what: Dangerous, issued_at: datetime) -> InlineKeyboardMarkup:
    data = f"cf:{what}:{int(issued_at.timestamp())}"
    return _row(("⚠️ Confirm", f"{data}:y"), ("Cancel", f"{data}:n"))


def main_keyboard() -> ReplyKeyboardMarkup:
    """The reply keyboard /start shows: the four commands used most."""
    return ReplyKeyboardMarkup(
        [
            [KeyboardButton("/state"), KeyboardButton("/pending")],
            [KeyboardButton("/pnl"), KeyboardButton("/panic")],
        ],
        resize_keyboard=True,
        is_persistent=True,
    )


def fresh(issued_at: int, now: datetime, ttl_seconds: int = PROMPT_TTL_SECONDS) -> bool:
    return 0 <= now.timestamp() - issued_at <= ttl_seconds
