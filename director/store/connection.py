"""The database connection: opening, pragmas, migrations, and statements that take turns.

aiosqlite in WAL mode with versioned migrations. One connection per process; aiosqlite runs
every statement on its own thread in order, so callers may share it freely.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import aiosqlite

from director.clock import wall_clock
from director.rulebook import DEFAULT_RULESET
from director.store.migrations import MIGRATIONS

SQLITE_MAGIC = b"SQLite format 3\x00"


class StoreError(Exception):
    """The database can't be used; the message says why."""


def iso(ts: datetime) -> str:
    """Timestamps are stored as UTC ISO 8601 text, which sorts chronologically."""
    if ts.tzinfo is None:
        raise ValueError("naive datetime: the store only takes aware UTC times")
    return ts.astimezone(UTC).isoformat(timespec="microseconds")


def parse_ts(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def check_sqlite_file(path: Path) -> None:
    """Refuse, without touching it, a file that exists but is not an SQLite database."""
    if not path.exists() or path.stat().st_size == 0:
        return
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not an SQLite database")
    with path.open("rb") as handle:
        header = handle.read(len(SQLITE_MAGIC))
    if header != SQLITE_MAGIC:
        raise StoreError(f"{path} is not an SQLite database; refusing to open or overwrite it")


class Database:
    """The shared connection. Every record module's methods run through `execute`, `fetch`
    and `transaction`, which take turns on it."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        # One connection is shared by every coroutine. A statement run while another
        # coroutine's transaction is open would join it (and vanish with its ROLLBACK), so
        # statements and transactions take turns.
        self._lock = asyncio.Lock()

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Cursor:
        """One write, never inside someone else's transaction (its cursor gives rowcount and
        lastrowid). Reads go through `fetch` and `fetch_one`."""
        async with self._lock:
            return await self._conn.execute(sql, params)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[aiosqlite.Row]:
        """Every row of one statement (also for INSERT/UPDATE ... RETURNING)."""
        async with self._lock:
            cur = await self._conn.execute(sql, params)
            return list(await cur.fetchall())

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Row | None:
        rows = await self.fetch(sql, params)
        return rows[0] if rows else None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE … COMMIT, alone on the connection; ROLLBACK on any error."""
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                with contextlib.suppress(Exception):
                    await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    # --- lifecycle -----------------------------------------------------------------------

    @classmethod
    async def open(cls, path: Path | str) -> Self:
        path = Path(path)
        if str(path) != ":memory:":
            check_sqlite_file(path)
            if path.parent and not path.parent.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = await aiosqlite.connect(str(path), isolation_level=None)
        except Exception as exc:  # sqlite3.OperationalError and friends
            raise StoreError(f"cannot open database {path}: {exc}") from exc
        conn.row_factory = aiosqlite.Row
        database = cls(conn, path)
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA foreign_keys=ON")
            await conn.execute("PRAGMA busy_timeout=5000")
            # FULL, not NORMAL: in WAL mode NORMAL can lose the last commits on a power cut,
            # and the execution journal's "sent" mark must survive one.
            await conn.execute("PRAGMA synchronous=FULL")
            await database._migrate()
        except StoreError:
            await conn.close()
            raise
        except Exception as exc:
            await conn.close()
            raise StoreError(f"database {path} is unusable: {exc}") from exc
        return database

    async def close(self) -> None:
        await self._conn.close()

    @property
    def conn(self) -> aiosqlite.Connection:
        """The raw connection, for tests and diagnostics. Code goes through execute, fetch and
        transaction, which take turns on it."""
        return self._conn

    async def _migrate(self) -> None:
        row = await self.fetch_one("PRAGMA user_version")
        current = int(row[0]) if row else 0
        latest = max(v for v, _ in MIGRATIONS)
        if current > latest:
            raise StoreError(
                f"database schema version {current} is newer than this program ({latest}); "
                "upgrade omega-director"
            )
        for version, script in MIGRATIONS:
            if version <= current:
                continue
            async with self.transaction() as conn:
                for statement in _statements(script):
                    await conn.execute(statement)
                if version == 1:
                    await self._seed_v1()
                await conn.execute(f"PRAGMA user_version = {version}")

    async def _seed_v1(self) -> None:
        now = iso(wall_clock())
        await self._conn.execute(
            "INSERT INTO meta (key, value) VALUES ('install_id', ?)", (secrets.token_hex(4),)
        )
        await self._conn.execute(
            "INSERT INTO rules_versions (version, created_at, rules_json, thresholds_json, note,"
            " source) VALUES (1, ?, ?, ?, ?, 'default')",
            (
                now,
                json.dumps(list(DEFAULT_RULESET.rules)),
                DEFAULT_RULESET.thresholds.model_dump_json(),
                DEFAULT_RULESET.note,
            ),
        )

    async def install_id(self) -> str:
        """A short random id of this database, so client order ids never collide across
        installs that share one exchange account."""
        row = await self.fetch_one("SELECT value FROM meta WHERE key = 'install_id'")
        assert row is not None
        return str(row[0])


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
