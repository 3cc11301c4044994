"""Who may command the bot and press its buttons: OMEGA_ALLOWED_USERS, by numeric user id.

Usernames can be changed or recycled; ids cannot. Everyone else is told no, logged, and
changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from telegram import User

log = logging.getLogger(__name__)


class Authorizer:
    def __init__(self, allowed_user_ids: Iterable[int]) -> None:
        self._allowed = frozenset(allowed_user_ids)
        if not self._allowed:
            # Settings refuse a token without OMEGA_ALLOWED_USERS; this is the last line.
            raise ValueError("OMEGA_ALLOWED_USERS is empty: an open trading bot is a hole")

    def allows(self, user: User | None) -> bool:
        return user is not None and not user.is_bot and user.id in self._allowed

    def refuse(self, user: User | None, what: str) -> None:
        """Log an unauthorized attempt (ids and names are not secrets; they are the evidence)."""
        who = "an unknown sender" if user is None else f"{label(user)} is_bot={user.is_bot}"
        log.warning("unauthorized %s from %s", what, who)


def label(user: User) -> str:
    """How a user is named in the record and in messages: readable, and unambiguous by id."""
    name = f"@{user.username}" if user.username else user.full_name
    return f"{name} ({user.id})"
