"""The rules' versions: the newest is active; a change or a rollback is a new version."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

import aiosqlite

from director.clock import wall_clock
from director.rulebook import RuleSet, Thresholds
from director.store.connection import Database, iso, parse_ts


class RulesMixin(Database):
    async def active_rules(self) -> RuleSet:
        """The newest version is the active one (a rollback is a new version)."""
        row = await self.fetch_one("SELECT * FROM rules_versions ORDER BY version DESC LIMIT 1")
        assert row is not None, "migration 1 seeds version 1"
        return _ruleset(row)

    async def rules_history(self) -> list[RuleSet]:
        rows = await self.fetch("SELECT * FROM rules_versions ORDER BY version")
        return [_ruleset(row) for row in rows]

    async def add_rules_version(
        self,
        rules: Iterable[str],
        thresholds: Thresholds,
        note: str,
        source: str,
        now: datetime | None = None,
    ) -> RuleSet:
        async with self.transaction() as conn:
            cur = await conn.execute("SELECT COALESCE(MAX(version), 0) FROM rules_versions")
            row = await cur.fetchone()
            version = int(row[0]) + 1 if row else 1
            await conn.execute(
                "INSERT INTO rules_versions (version, created_at, rules_json, thresholds_json,"
                " note, source) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    version,
                    iso(now or wall_clock()),
                    json.dumps(list(rules)),
                    thresholds.model_dump_json(),
                    note,
                    source,
                ),
            )
        row = await self.fetch_one("SELECT * FROM rules_versions WHERE version = ?", (version,))
        assert row is not None
        return _ruleset(row)


def _ruleset(row: aiosqlite.Row) -> RuleSet:
    return RuleSet(
        version=row["version"],
        rules=tuple(json.loads(row["rules_json"])),
        thresholds=Thresholds.model_validate_json(row["thresholds_json"]),
        created_at=parse_ts(row["created_at"]),
        note=row["note"],
        source=row["source"],
    )
