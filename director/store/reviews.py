"""The reviews: each run's report and suggestion, and the operator's one decision on it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import aiosqlite

from director.store.connection import Database, iso, parse_ts
from director.store.records import ReviewRecord, ReviewStatus


class ReviewsMixin(Database):
    async def add_review(
        self,
        *,
        now: datetime,
        trigger: str,
        source: str,
        rules_version: int,
        report: dict[str, Any],
        suggestion: dict[str, Any] | None,
        status: ReviewStatus,
        error: str | None = None,
    ) -> int:
        cur = await self.execute(
            "INSERT INTO reviews (created_at, trigger, source, rules_version, report_json,"
            " suggestion_json, status, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                iso(now),
                trigger,
                source,
                rules_version,
                json.dumps(report, default=str),
                None if suggestion is None else json.dumps(suggestion, default=str),
                ReviewStatus(status).value,  # tests and old callers may pass the text
                error,
            ),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def review(self, review_id: int) -> ReviewRecord | None:
        row = await self.fetch_one("SELECT * FROM reviews WHERE id = ?", (review_id,))
        return None if row is None else _review(row)

    async def claim_review(
        self, review_id: int, *, to: ReviewStatus, by: str, now: datetime
    ) -> bool:
        """pending → `to`, atomically: one decision of any number of presses wins."""
        cur = await self.execute(
            "UPDATE reviews SET status = ?, decided_by = ?, decided_at = ?"
            " WHERE id = ? AND status = ?",
            (ReviewStatus(to).value, by, iso(now), review_id, ReviewStatus.PENDING.value),
        )
        return cur.rowcount == 1

    async def supersede_reviews(self) -> int:
        """A new review replaces any suggestion still waiting for a decision."""
        cur = await self.execute(
            "UPDATE reviews SET status = ? WHERE status = ?",
            (ReviewStatus.SUPERSEDED.value, ReviewStatus.PENDING.value),
        )
        return cur.rowcount

    async def settle_review(
        self, review_id: int, *, status: ReviewStatus, applied_version: int | None
    ) -> None:
        await self.execute(
            "UPDATE reviews SET status = ?, applied_version = ? WHERE id = ?",
            (ReviewStatus(status).value, applied_version, review_id),
        )

    async def set_review_message(self, review_id: int, chat_id: int, message_id: int) -> None:
        await self.execute(
            "UPDATE reviews SET chat_id = ?, message_id = ? WHERE id = ?",
            (chat_id, message_id, review_id),
        )


def _review(row: aiosqlite.Row) -> ReviewRecord:
    return ReviewRecord(
        id=row["id"],
        created_at=datetime.fromisoformat(row["created_at"]),
        trigger=row["trigger"],
        source=row["source"],
        rules_version=row["rules_version"],
        report=json.loads(row["report_json"]),
        suggestion=None if row["suggestion_json"] is None else json.loads(row["suggestion_json"]),
        status=ReviewStatus(row["status"]),
        error=row["error"],
        decided_by=row["decided_by"],
        decided_at=parse_ts(row["decided_at"]),
        applied_version=row["applied_version"],
        chat_id=row["chat_id"],
        message_id=row["message_id"],
    )
