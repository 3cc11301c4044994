"""The actions every cycle (and every outside submission) recorded, and their approvals."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import aiosqlite

from director.models import ACTION_ADAPTER, Action
from director.store.connection import Database, iso, parse_ts
from director.store.records import (
    ActionRecord,
    ActionStatus,
    ActionVerdict,
    ApprovalRecord,
    ApprovalStatus,
)

_APPROVAL_COLUMNS = [
    "id",
    "action_id",
    "cycle_id",
    "kind",
    "created_at",
    "expires_at",
    "status",
    "decided_by",
    "decided_at",
    "result",
    "chat_id",
    "message_id",
]
# An approval's columns as `p_<name>`, beside its action's own (a JOIN shares the names).
_PREFIXED_APPROVAL = ", ".join(f"p.{c} AS p_{c}" for c in _APPROVAL_COLUMNS)


class ActionsMixin(Database):
    async def add_action(
        self,
        *,
        cycle_id: int,
        idx: int,
        kind: str,
        market: str | None,
        action_json: str,
        verdict: ActionVerdict,
        reason: str,
        status: ActionStatus,
        client_order_id: str | None,
        now: datetime,
        outcome: dict[str, Any] | None = None,
    ) -> int:
        cur = await self.execute(
            "INSERT INTO actions (cycle_id, idx, kind, market, action_json, verdict, reason,"
            " status, client_order_id, created_at, updated_at, outcome_json)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                cycle_id,
                idx,
                kind,
                market,
                action_json,
                ActionVerdict(verdict).value,  # tests and old callers may pass the text
                reason,
                status.value,
                client_order_id,
                iso(now),
                iso(now),
                _outcome_json(outcome),
            ),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def update_action(
        self,
        action_id: int,
        *,
        status: ActionStatus,
        now: datetime,
        reason: str | None = None,
        order_id: str | None = None,
        outcome: dict[str, Any] | None = None,
    ) -> None:
        await self.execute(
            "UPDATE actions SET status = ?, updated_at = ?, reason = COALESCE(?, reason),"
            " order_id = COALESCE(?, order_id),"
            " outcome_json = COALESCE(?, outcome_json) WHERE id = ?",
            (status.value, iso(now), reason, order_id, _outcome_json(outcome), action_id),
        )

    async def action(self, action_id: int) -> ActionRecord | None:
        row = await self.fetch_one("SELECT * FROM actions WHERE id = ?", (action_id,))
        return None if row is None else _action(row)

    async def cycle_actions(self, cycle_id: int) -> list[ActionRecord]:
        rows = await self.fetch(
            "SELECT * FROM actions WHERE cycle_id = ? ORDER BY idx", (cycle_id,)
        )
        return [_action(row) for row in rows]

    # --- approvals -----------------------------------------------------------------------

    async def create_approval(
        self, *, action_id: int, cycle_id: int, now: datetime, expires_at: datetime
    ) -> ApprovalRecord:
        rows = await self.fetch(
            "INSERT INTO approvals (action_id, cycle_id, created_at, expires_at)"
            " VALUES (?, ?, ?, ?) RETURNING *",
            (action_id, cycle_id, iso(now), iso(expires_at)),
        )
        return _approval(rows[0])

    async def approval(self, approval_id: int) -> ApprovalRecord | None:
        row = await self.fetch_one("SELECT * FROM approvals WHERE id = ?", (approval_id,))
        return None if row is None else _approval(row)

    async def pending_approvals(self) -> list[ApprovalRecord]:
        rows = await self.fetch(
            "SELECT * FROM approvals WHERE status = ? ORDER BY id", (ApprovalStatus.PENDING.value,)
        )
        return [_approval(row) for row in rows]

    async def pending_approvals_with_actions(self) -> list[tuple[ApprovalRecord, ActionRecord]]:
        """Every pending approval with its action, oldest first, in one query."""
        rows = await self.fetch(
            f"SELECT {_PREFIXED_APPROVAL}, a.* FROM approvals p"
            " JOIN actions a ON a.id = p.action_id WHERE p.status = ? ORDER BY p.id",
            (ApprovalStatus.PENDING.value,),
        )
        return [(_approval(row, prefix="p_"), _action(row)) for row in rows]

    async def claim_approval(
        self, approval_id: int, *, to: ApprovalStatus, by: str, now: datetime
    ) -> bool:
        """Move a pending, unexpired approval to `to` atomically. Exactly one of any number
        of simultaneous presses gets True."""
        cur = await self.execute(
            "UPDATE approvals SET status = ?, decided_by = ?, decided_at = ?"
            " WHERE id = ? AND status = ? AND expires_at > ?",
            (to.value, by, iso(now), approval_id, ApprovalStatus.PENDING.value, iso(now)),
        )
        return cur.rowcount == 1

    async def settle_approval(self, approval_id: int, status: ApprovalStatus, result: str) -> None:
        await self.execute(
            "UPDATE approvals SET status = ?, result = ? WHERE id = ?",
            (status.value, result, approval_id),
        )

    async def expire_approvals(self, now: datetime) -> list[ApprovalRecord]:
        """Expire every pending approval past its time; returns the ones just expired."""
        rows = await self.fetch(
            "UPDATE approvals SET status = ?, decided_at = ?, result = 'expired'"
            " WHERE status = ? AND expires_at <= ? RETURNING *",
            (ApprovalStatus.EXPIRED.value, iso(now), ApprovalStatus.PENDING.value, iso(now)),
        )
        records = sorted((_approval(row) for row in rows), key=lambda r: r.id)
        for record in records:
            await self.update_action(record.action_id, status=ActionStatus.EXPIRED, now=now)
        return records

    async def set_approval_message(self, approval_id: int, chat_id: int, message_id: int) -> None:
        await self.execute(
            "UPDATE approvals SET chat_id = ?, message_id = ? WHERE id = ?",
            (chat_id, message_id, approval_id),
        )


def _outcome_json(outcome: dict[str, Any] | None) -> str | None:
    return None if outcome is None else json.dumps(outcome, default=str)


def parse_action(text: str) -> Action | None:
    """A stored action, or None when it no longer validates (a newer or damaged record)."""
    try:
        return ACTION_ADAPTER.validate_python(json.loads(text))
    except ValueError:  # not JSON, or not an action (pydantic's ValidationError is one too)
        return None


def _action(row: aiosqlite.Row) -> ActionRecord:
    return ActionRecord(
        id=row["id"],
        cycle_id=row["cycle_id"],
        idx=row["idx"],
        kind=row["kind"],
        market=row["market"],
        action=parse_action(row["action_json"]),
        action_json=row["action_json"],
        verdict=ActionVerdict(row["verdict"]),
        reason=row["reason"],
        status=ActionStatus(row["status"]),
        client_order_id=row["client_order_id"],
        order_id=row["order_id"],
        outcome=None if row["outcome_json"] is None else json.loads(row["outcome_json"]),
        created_at=datetime.fromisoformat(row["created_at"]),
    )


def _approval(row: aiosqlite.Row, prefix: str = "") -> ApprovalRecord:
    def col(name: str) -> Any:
        return row[prefix + name]

    return ApprovalRecord(
        id=col("id"),
        action_id=col("action_id"),
        cycle_id=col("cycle_id"),
        kind=col("kind"),
        created_at=datetime.fromisoformat(col("created_at")),
        expires_at=datetime.fromisoformat(col("expires_at")),
        status=ApprovalStatus(col("status")),
        decided_by=col("decided_by"),
        decided_at=parse_ts(col("decided_at")),
        result=col("result"),
        chat_id=col("chat_id"),
        message_id=col("message_id"),
    )
