"""The record of actions from outside a brain's plan (scripts' intents, operator commands).

Each submission is one row of `submissions` (migration 6), written before anything is sent: its
key makes a repeated intent a duplicate even across a restart. Its action is an ordinary row of
`actions` (so approvals, outcomes and the review treat it like any other) under cycle 0, the
"outside" cycle, with the submission's id as its index — hence a client order id that is unique
to this database and never reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from director.store.connection import Database, iso
from director.store.records import CycleStatus

# The cycle that holds actions taken between cycles. Cycle ids from AUTOINCREMENT start at 1
# and its start is the epoch, so it sorts before every real cycle by id and by time.
OUTSIDE_CYCLE = 0
_EPOCH = "1970-01-01T00:00:00.000000+00:00"


@dataclass(frozen=True)
class SubmissionRow:
    id: int
    key: str | None
    origin: str
    status: str  # "pending" until settled; then a SubmissionStatus value
    reason: str
    action_id: int | None
    approval_id: int | None
    order_id: str | None
    description: str
    action_status: str | None = None  # the action's own status now, if it was recorded


class SubmissionLog:
    def __init__(self, store: Database) -> None:
        self.store = store
        self._outside_ready = False

    async def _ensure_outside_cycle(self) -> None:
        if self._outside_ready:
            return
        await self.store.execute(
            "INSERT OR IGNORE INTO cycles (id, started_at, finished_at, trigger, status)"
            " VALUES (?, ?, ?, 'outside', ?)",
            (OUTSIDE_CYCLE, _EPOCH, _EPOCH, CycleStatus.OUTSIDE.value),
        )
        self._outside_ready = True

    async def by_key(self, key: str) -> SubmissionRow | None:
        # The action row too: for a submission interrupted before it was settled, it says what
        # became of it (the reconciler settles an order whose sending was interrupted).
        row = await self.store.fetch_one(
            "SELECT s.*, a.status AS action_status, a.order_id AS action_order_id"
            " FROM submissions s LEFT JOIN actions a ON a.cycle_id = ? AND a.idx = s.id"
            " WHERE s.key = ?",
            (OUTSIDE_CYCLE, key),
        )
        return None if row is None else _row(row)

    async def begin(
        self,
        *,
        key: str | None,
        origin: str,
        action_json: str,
        description: str,
        note: str,
        now: datetime,
    ) -> int:
        """Persist the submission (and its key) before anything is sent; its id is the index
        of its action under the outside cycle."""
        await self._ensure_outside_cycle()
        cur = await self.store.execute(
            "INSERT INTO submissions (key, origin, action_json, description, note, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key, origin, action_json, description, note, iso(now), iso(now)),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def settle(
        self,
        submission_id: int,
        *,
        status: str,
        reason: str,
        action_id: int | None,
        approval_id: int | None,
        order_id: str | None,
        now: datetime,
    ) -> None:
        await self.store.execute(
            "UPDATE submissions SET status = ?, reason = ?, action_id = ?, approval_id = ?,"
            " order_id = ?, updated_at = ? WHERE id = ?",
            (
                status,
                reason,
                action_id,
                approval_id,
                order_id,
                iso(now),
                submission_id,
            ),
        )

    async def take_unreported(self, cycle_id: int, limit: int = 50) -> tuple[list[str], int]:
        """Lines for the next cycle report: each settled submission once, newest `limit` in
        full, the rest counted. Marks them reported in `cycle_id`."""
        rows = await self.store.fetch(
            "UPDATE submissions SET reported_cycle = ? WHERE reported_cycle IS NULL"
            " AND status != 'pending' RETURNING id, description, status, reason",
            (cycle_id,),
        )
        ordered = sorted(rows, key=lambda r: int(r["id"]))
        lines = []
        for row in ordered[-limit:]:
            lines.append(f"{row['description']}: {row['status']} — {row['reason']}")
        return lines, max(0, len(ordered) - limit)


def _row(row: aiosqlite.Row) -> SubmissionRow:
    """A row of `by_key` (the submission joined with its action)."""
    return SubmissionRow(
        id=int(row["id"]),
        key=row["key"],
        origin=str(row["origin"]),
        status=str(row["status"]),
        reason=str(row["reason"]),
        action_id=row["action_id"],
        approval_id=row["approval_id"],
        order_id=row["order_id"] or row["action_order_id"],
        description=str(row["description"]),
        action_status=row["action_status"],
    )
