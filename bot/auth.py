"""Who may do what: OMEGA_ALLOWED_USERS operate, OMEGA_VIEWERS only read; by numeric user id.

Usernames can be changed or recycled; ids cannot. Everyone else is refused and logged; nothing
changes. Where account data may go: the report chat (OMEGA_CHAT_ID) or a private chat with a
known user; in any other chat, a stranger gets no reply at all (a group must not learn the bot
answers), and a known user is told to ask in private.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from enum import IntEnum

from telegram import Chat, User

log = logging.getLogger(__name__)


class Role(IntEnum):
    VIEWER = 1  # reads: /state, /positions, /pnl, /history, /plan, /why …
    OPERATOR = 2  # commands and buttons


class Authorizer:
    def __init__(
        self,
        allowed_user_ids: Iterable[int],
        viewer_ids: Iterable[int] = (),
        *,
        report_chat_id: int | None = None,
    ) -> None:
        self._operators = frozenset(allowed_user_ids)
        self._viewers = frozenset(viewer_ids) - self._operators
        self.report_chat_id = report_chat_id
        if not self._operators:
            # Settings refuse a token without OMEGA_ALLOWED_USERS; this is the last line.
            raise ValueError("OMEGA_ALLOWED_USERS is empty: an open trading bot is a hole")

    def role(self, user: User | None) -> Role | None:
        if user is None or user.is_bot:
            return None
        if user.id in self._operators:
            return Role.OPERATOR
        if user.id in self._viewers:
            return Role.VIEWER
        return None

    def allows(self, user: User | None) -> bool:
        """May press buttons and change things (an operator)."""
        return self.role(user) is Role.OPERATOR

    def private_or_report(self, chat: Chat) -> bool:
        """A chat account data may be shown in."""
        return chat.type == Chat.PRIVATE or chat.id == self.report_chat_id

    def refuse(self, user: User | None, what: str) -> None:
        """Log an unauthorized attempt (ids and names are not secrets; they are the evidence)."""
        who = "an unknown sender" if user is None else f"{label(user)} is_bot={user.is_bot}"
        log.warning("unauthorized %s from %s", what, who)


def label(user: User) -> str:
    """How a user is named in the record and in messages: readable, and unambiguous by id."""
    name = f"@{user.username}" if user.username else user.full_name
    return f"{name} ({user.id})"
