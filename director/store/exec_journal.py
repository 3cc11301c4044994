"""The execution journal: each order's state, persisted before and after every exchange call.

An order action moves through a small state machine (migration 5's `actions.exec_state`):

    requested → sent → acknowledged | rejected | unknown → reconciled

`requested` is written when the action is recorded and about to be sent; `sent` right before
the exchange call (so a row still `requested` after a crash was provably never sent); the
answer after it. `unknown` (and a `sent` left by a crash) means the order may exist: the
reconciler looks it up by its client order id before that market takes any new order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from director.models import Action
from director.store.actions import parse_action
from director.store.connection import Database, iso, parse_ts
from director.store.records import ActionStatus, ApprovalStatus


class ExecState(StrEnum):
    REQUESTED = "requested"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    RECONCILED = "reconciled"


# States whose outcome the record does not know yet.
OPEN_STATES = (ExecState.REQUESTED, ExecState.SENT, ExecState.UNKNOWN)


@dataclass(frozen=True)
class OpenOrder:
    """An order action whose outcome is not known: it may or may not be on the exchange."""

    action_id: int
    cycle_id: int
    market: str
    client_order_id: str
    state: ExecState  # REQUESTED: never sent; SENT or UNKNOWN: maybe on the exchange
    sent_at: datetime | None
    approval_id: int | None
    action: Action | None  # None when the stored action no longer validates
    action_json: str = ""  # as stored: what a reader can still take from an unreadable one

    @property
    def maybe_sent(self) -> bool:
        return self.state is not ExecState.REQUESTED


async def mark(
    store: Database,
    action_id: int,
    state: ExecState,
    now: datetime,
    *,
    status: ActionStatus | None = None,
    order_id: str | None = None,
    detail: str | None = None,
    outcome: dict[str, Any] | None = None,
) -> None:
    """Move an action to `state` (and its status, order id, outcome when given), durably:
    the store runs in autocommit, so this is on disk when it returns."""
    await store.execute(
        "UPDATE actions SET exec_state = ?, updated_at = ?,"
        " sent_at = CASE WHEN ? THEN ? ELSE sent_at END,"
        " status = COALESCE(?, status), order_id = COALESCE(?, order_id),"
        " exec_detail = COALESCE(?, exec_detail),"
        " outcome_json = COALESCE(?, outcome_json) WHERE id = ?",
        (
            state.value,
            iso(now),
            int(state is ExecState.SENT),
            iso(now),
            None if status is None else status.value,
            order_id,
            detail,
            None if outcome is None else json.dumps(outcome, default=str),
            action_id,
        ),
    )


_OPEN_LIST = ", ".join(f"'{state.value}'" for state in OPEN_STATES)
_OPEN_SQL = (
    "SELECT a.id, a.cycle_id, a.market, a.client_order_id, a.exec_state, a.sent_at,"
    " a.action_json, p.id AS approval_id FROM actions a"
    " LEFT JOIN approvals p ON p.action_id = a.id"
    " WHERE a.client_order_id IS NOT NULL AND a.market IS NOT NULL"
    f" AND (a.exec_state IN ({_OPEN_LIST})"
    f"      OR (a.exec_state IS NULL AND a.status = '{ActionStatus.SENDING.value}'))"
    " ORDER BY a.id"
)


async def open_orders(store: Database) -> list[OpenOrder]:
    """Every order action whose outcome the record does not know, oldest first."""
    found = []
    for row in await store.fetch(_OPEN_SQL):
        # A row recorded `sending` whose `requested` mark never landed was never sent either.
        state = ExecState(row["exec_state"]) if row["exec_state"] else ExecState.REQUESTED
        found.append(
            OpenOrder(
                action_id=int(row["id"]),
                cycle_id=int(row["cycle_id"]),
                market=str(row["market"]),
                client_order_id=str(row["client_order_id"]),
                state=state,
                sent_at=parse_ts(row["sent_at"]),
                approval_id=None if row["approval_id"] is None else int(row["approval_id"]),
                action=parse_action(row["action_json"]),
                action_json=str(row["action_json"]),
            )
        )
    return found


async def executing_approvals(store: Database) -> list[tuple[int, int, str | None]]:
    """(approval id, action id, the action's exec state) of approvals left `executing` or
    `unknown`: pressed, and their execution's end never recorded."""
    rows = await store.fetch(
        "SELECT p.id, p.action_id, a.exec_state FROM approvals p"
        " JOIN actions a ON a.id = p.action_id"
        " WHERE p.status IN (?, ?) ORDER BY p.id",
        (ApprovalStatus.EXECUTING.value, ApprovalStatus.UNKNOWN.value),
    )
    return [(int(r[0]), int(r[1]), None if r[2] is None else str(r[2])) for r in rows]
