"""The record: cycles, actions, approvals, rules versions, operator state, LLM usage.

aiosqlite in WAL mode with versioned migrations. One connection per process; aiosqlite runs
every statement on its own thread in order, so callers may share the Store freely.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import zlib
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

import aiosqlite

from director.brains.base import LLMCall
from director.migrations import MIGRATIONS
from director.models import Autonomy
from director.rulebook import DEFAULT_RULESET, RuleSet, Thresholds

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


class ActionStatus(StrEnum):
    EXECUTED = "executed"
    FAILED = "failed"
    BLOCKED = "blocked"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"  # approved and executed
    REJECTED = "rejected"
    EXPIRED = "expired"
    OBSERVED = "observed"  # observe mode: recorded, never sent
    SKIPPED = "skipped"  # do_nothing
    # Issue 12's execution states (director/execution.py has the state machine):
    SENDING = "sending"  # recorded and being sent; a restart reconciles it
    UNKNOWN = "unknown"  # sent, the answer unclear: reconciled before any new order there


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    EXECUTING = "executing"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    BLOCKED = "blocked"  # approved, but the guard's re-check refused it
    FAILED = "failed"  # approved, but the exchange refused it
    UNKNOWN = "unknown"  # approved and sent, the answer unclear: settled by reconciliation


@dataclass(frozen=True)
class ActionRecord:
    id: int
    cycle_id: int
    idx: int
    kind: str
    market: str | None
    action: dict[str, Any]
    verdict: str
    reason: str
    status: str
    client_order_id: str | None
    order_id: str | None
    outcome: dict[str, Any] | None
    created_at: datetime


@dataclass(frozen=True)
class ApprovalRecord:
    id: int
    action_id: int
    cycle_id: int
    kind: str
    created_at: datetime
    expires_at: datetime
    status: ApprovalStatus
    decided_by: str | None
    decided_at: datetime | None
    result: str | None
    chat_id: int | None
    message_id: int | None

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


@dataclass(frozen=True)
class CycleRecord:
    id: int
    started_at: datetime
    finished_at: datetime | None
    trigger: str
    status: str
    brain: str | None
    model: str | None
    rules_version: int | None
    escalated: bool
    brain_error: str | None
    cash: Decimal | None
    equity: Decimal | None
    exposure: Decimal | None
    risk: float | None
    cost_usd: Decimal
    state: dict[str, Any] | None
    plan: dict[str, Any] | None
    timings: dict[str, float] | None
    report: dict[str, Any] | None
    error: str | None


@dataclass(frozen=True)
class ReviewRecord:
    id: int
    created_at: datetime
    trigger: str
    source: str
    rules_version: int
    report: dict[str, Any]
    suggestion: dict[str, Any] | None
    # "pending", "no_change", "failed", "applied", "dismissed", "applying", "superseded"
    status: str
    error: str | None
    decided_by: str | None
    decided_at: datetime | None
    applied_version: int | None
    chat_id: int | None
    message_id: int | None


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _pack_state(state_json: str | None) -> bytes | None:
    """A cycle's State of the Union compresses about 11× (hundreds of repetitive quotes):
    stored as a zlib BLOB, it is ~30 KB a cycle instead of ~340 KB for a thousand markets."""
    return None if state_json is None else zlib.compress(state_json.encode())


def _unpack_state(value: bytes | str | None) -> Any:
    if isinstance(value, bytes):
        return json.loads(zlib.decompress(value))
    return _json(value)  # written as text by a version before compression


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


class Store:
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
    async def open(cls, path: Path | str) -> Store:
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
        store = cls(conn, path)
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA foreign_keys=ON")
            await conn.execute("PRAGMA busy_timeout=5000")
            # FULL, not NORMAL: in WAL mode NORMAL can lose the last commits on a power cut,
            # and the execution journal's "sent" mark must survive one.
            await conn.execute("PRAGMA synchronous=FULL")
            await store._migrate()
        except StoreError:
            await conn.close()
            raise
        except Exception as exc:
            await conn.close()
            raise StoreError(f"database {path} is unusable: {exc}") from exc
        return store

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
        now = iso(datetime.now(UTC))
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

    # --- operator state ------------------------------------------------------------------

    async def get_flag(self, key: str, default: str | None = None) -> str | None:
        row = await self.fetch_one("SELECT value FROM operator_state WHERE key = ?", (key,))
        return default if row is None else str(row[0])

    async def set_flag(
        self, key: str, value: str, by: str = "", now: datetime | None = None
    ) -> None:
        await self.execute(
            "INSERT INTO operator_state (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
            " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            (key, value, iso(now or datetime.now(UTC)), by),
        )

    async def safe_mode(self) -> bool:
        return await self.get_flag("safe_mode", "0") == "1"

    async def set_safe_mode(self, on: bool, by: str = "") -> None:
        await self.set_flag("safe_mode", "1" if on else "0", by)

    async def paused(self) -> bool:
        return await self.get_flag("paused", "0") == "1"

    async def set_paused(self, on: bool, by: str = "") -> None:
        await self.set_flag("paused", "1" if on else "0", by)

    async def autonomy(self) -> Autonomy | None:
        """The operator's override, or None to use the setting."""
        value = await self.get_flag("autonomy")
        return None if value is None else Autonomy(value)

    async def set_autonomy(self, autonomy: Autonomy, by: str = "") -> None:
        await self.set_flag("autonomy", autonomy.value, by)

    # --- rules ---------------------------------------------------------------------------

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
                    iso(now or datetime.now(UTC)),
                    json.dumps(list(rules)),
                    thresholds.model_dump_json(),
                    note,
                    source,
                ),
            )
        row = await self.fetch_one("SELECT * FROM rules_versions WHERE version = ?", (version,))
        assert row is not None
        return _ruleset(row)

    # --- cycles --------------------------------------------------------------------------

    async def start_cycle(self, started_at: datetime, trigger: str) -> int:
        cur = await self.execute(
            "INSERT INTO cycles (started_at, trigger) VALUES (?, ?)", (iso(started_at), trigger)
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def finish_cycle(
        self,
        cycle_id: int,
        *,
        finished_at: datetime,
        status: str,
        brain: str | None = None,
        model: str | None = None,
        rules_version: int | None = None,
        escalated: bool = False,
        brain_error: str | None = None,
        cash: Decimal | None = None,
        equity: Decimal | None = None,
        exposure: Decimal | None = None,
        risk: float | None = None,
        cost_usd: Decimal = Decimal(0),
        state_json: str | None = None,
        plan_json: str | None = None,
        timings: dict[str, float] | None = None,
        report: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        await self.execute(
            "UPDATE cycles SET finished_at = ?, status = ?, brain = ?, model = ?,"
            " rules_version = ?, escalated = ?, brain_error = ?, cash = ?, equity = ?,"
            " exposure = ?, risk = ?, cost_usd = ?, state_json = ?, plan_json = ?,"
            " timings_json = ?, report_json = ?, error = ? WHERE id = ?",
            (
                iso(finished_at),
                status,
                brain,
                model,
                rules_version,
                int(escalated),
                brain_error,
                None if cash is None else str(cash),
                None if equity is None else str(equity),
                None if exposure is None else str(exposure),
                risk,
                str(cost_usd),
                _pack_state(state_json),
                plan_json,
                None if timings is None else json.dumps(timings),
                None if report is None else json.dumps(report, default=str),
                error,
                cycle_id,
            ),
        )

    async def cycle(self, cycle_id: int) -> CycleRecord | None:
        row = await self.fetch_one("SELECT * FROM cycles WHERE id = ?", (cycle_id,))
        return None if row is None else _cycle(row)

    async def last_cycle(self, *, finished: bool = True) -> CycleRecord | None:
        where = "WHERE status != 'running'" if finished else ""
        row = await self.fetch_one(f"SELECT * FROM cycles {where} ORDER BY id DESC LIMIT 1")
        return None if row is None else _cycle(row)

    async def recent_cycles(self, limit: int) -> list[CycleRecord]:
        rows = await self.fetch(
            "SELECT id, started_at, finished_at, trigger, status, brain, model, rules_version,"
            " escalated, brain_error, cash, equity, exposure, risk, cost_usd, NULL AS state_json,"
            " NULL AS plan_json, timings_json, report_json, error"
            " FROM cycles ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [_cycle(row) for row in rows]

    async def equity_history(self, since: datetime | None = None) -> list[tuple[datetime, Decimal]]:
        rows = await self.fetch(
            "SELECT started_at, equity FROM cycles WHERE equity IS NOT NULL AND started_at >= ?"
            " ORDER BY id",
            (iso(since) if since else "",),
        )
        return [(datetime.fromisoformat(r[0]), Decimal(r[1])) for r in rows]

    async def equity_at(self, when: datetime) -> Decimal | None:
        """Equity recorded by the first cycle at or after `when`."""
        row = await self.fetch_one(
            "SELECT equity FROM cycles WHERE equity IS NOT NULL AND started_at >= ?"
            " ORDER BY started_at LIMIT 1",
            (iso(when),),
        )
        return None if row is None else Decimal(row[0])

    async def cycle_count(self) -> int:
        row = await self.fetch_one("SELECT COUNT(*) FROM cycles")
        return int(row[0]) if row else 0

    async def forget_states_before(self, when: datetime) -> int:
        """Drop the full State of the Union of cycles started before `when`; their figures,
        plan, report and actions stay. The state is most of a cycle's bytes (every quote it
        saw), and SQLite reuses the freed pages, so the file stops growing with it."""
        cur = await self.execute(
            "UPDATE cycles SET state_json = NULL WHERE started_at < ? AND state_json IS NOT NULL",
            (iso(when),),
        )
        return cur.rowcount

    async def fail_running_cycles(self, now: datetime) -> int:
        """Mark cycles left 'running' by a crash or a kill as interrupted."""
        cur = await self.execute(
            "UPDATE cycles SET status = 'interrupted', finished_at = ? WHERE status = 'running'",
            (iso(now),),
        )
        return cur.rowcount

    # --- actions -------------------------------------------------------------------------

    async def add_action(
        self,
        *,
        cycle_id: int,
        idx: int,
        kind: str,
        market: str | None,
        action_json: str,
        verdict: str,
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
                verdict,
                reason,
                status.value,
                client_order_id,
                iso(now),
                iso(now),
                None if outcome is None else json.dumps(outcome, default=str),
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
            (
                status.value,
                iso(now),
                reason,
                order_id,
                None if outcome is None else json.dumps(outcome, default=str),
                action_id,
            ),
        )

    async def action(self, action_id: int) -> ActionRecord | None:
        row = await self.fetch_one("SELECT * FROM actions WHERE id = ?", (action_id,))
        return None if row is None else _action(row)

    async def cycle_actions(self, cycle_id: int) -> list[ActionRecord]:
        rows = await self.fetch(
            "SELECT * FROM actions WHERE cycle_id = ? ORDER BY idx", (cycle_id,)
        )
        return [_action(row) for row in rows]

    async def actions_since(self, since: datetime) -> list[ActionRecord]:
        rows = await self.fetch(
            "SELECT * FROM actions WHERE created_at >= ? ORDER BY id", (iso(since),)
        )
        return [_action(row) for row in rows]

    # --- approvals -----------------------------------------------------------------------

    async def create_approval(
        self, *, action_id: int, cycle_id: int, now: datetime, expires_at: datetime
    ) -> ApprovalRecord:
        cur = await self.execute(
            "INSERT INTO approvals (action_id, cycle_id, created_at, expires_at)"
            " VALUES (?, ?, ?, ?)",
            (action_id, cycle_id, iso(now), iso(expires_at)),
        )
        assert cur.lastrowid is not None
        record = await self.approval(cur.lastrowid)
        assert record is not None
        return record

    async def approval(self, approval_id: int) -> ApprovalRecord | None:
        row = await self.fetch_one("SELECT * FROM approvals WHERE id = ?", (approval_id,))
        return None if row is None else _approval(row)

    async def pending_approvals(self) -> list[ApprovalRecord]:
        rows = await self.fetch("SELECT * FROM approvals WHERE status = 'pending' ORDER BY id")
        return [_approval(row) for row in rows]

    async def claim_approval(
        self, approval_id: int, *, to: ApprovalStatus, by: str, now: datetime
    ) -> bool:
        """Move a pending, unexpired approval to `to` atomically. Exactly one of any number
        of simultaneous presses gets True."""
        cur = await self.execute(
            "UPDATE approvals SET status = ?, decided_by = ?, decided_at = ?"
            " WHERE id = ? AND status = 'pending' AND expires_at > ?",
            (to.value, by, iso(now), approval_id, iso(now)),
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
            "UPDATE approvals SET status = 'expired', decided_at = ?, result = 'expired'"
            " WHERE status = 'pending' AND expires_at <= ? RETURNING id",
            (iso(now), iso(now)),
        )
        ids = [int(r[0]) for r in rows]
        records = []
        for approval_id in ids:
            record = await self.approval(approval_id)
            if record is not None:
                await self.update_action(record.action_id, status=ActionStatus.EXPIRED, now=now)
                records.append(record)
        return records

    async def set_approval_message(self, approval_id: int, chat_id: int, message_id: int) -> None:
        await self.execute(
            "UPDATE approvals SET chat_id = ?, message_id = ? WHERE id = ?",
            (chat_id, message_id, approval_id),
        )

    async def recent_cycles_with_state(self, limit: int) -> list[CycleRecord]:
        rows = await self.fetch(
            "SELECT * FROM cycles WHERE state_json IS NOT NULL ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [_cycle(row) for row in rows]

    # --- reviews -------------------------------------------------------------------------

    async def add_review(
        self,
        *,
        now: datetime,
        trigger: str,
        source: str,
        rules_version: int,
        report: dict[str, Any],
        suggestion: dict[str, Any] | None,
        status: str,
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
                status,
                error,
            ),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def review(self, review_id: int) -> ReviewRecord | None:
        row = await self.fetch_one("SELECT * FROM reviews WHERE id = ?", (review_id,))
        return None if row is None else _review(row)

    async def claim_review(self, review_id: int, *, to: str, by: str, now: datetime) -> bool:
        """pending → `to`, atomically: one decision of any number of presses wins."""
        cur = await self.execute(
            "UPDATE reviews SET status = ?, decided_by = ?, decided_at = ?"
            " WHERE id = ? AND status = 'pending'",
            (to, by, iso(now), review_id),
        )
        return cur.rowcount == 1

    async def supersede_reviews(self) -> int:
        """A new review replaces any suggestion still waiting for a decision."""
        cur = await self.execute(
            "UPDATE reviews SET status = 'superseded' WHERE status = 'pending'"
        )
        return cur.rowcount

    async def settle_review(
        self, review_id: int, *, status: str, applied_version: int | None
    ) -> None:
        await self.execute(
            "UPDATE reviews SET status = ?, applied_version = ? WHERE id = ?",
            (status, applied_version, review_id),
        )

    async def set_review_message(self, review_id: int, chat_id: int, message_id: int) -> None:
        await self.execute(
            "UPDATE reviews SET chat_id = ?, message_id = ? WHERE id = ?",
            (chat_id, message_id, review_id),
        )

    # --- order intents (the exchanges.kalshi.IntentJournal port) --------------------------

    async def save_order_intent(self, key: str, side: str, action: str, now: datetime) -> None:
        """What an order (by its client or exchange id) was meant to do, so a restart still
        tells a sell of YES from a buy of NO (one order on Kalshi's book)."""
        await self.execute(
            "INSERT INTO order_intents (key, side, action, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET side = excluded.side,"
            " action = excluded.action, created_at = excluded.created_at",
            (key, side, action, iso(now)),
        )

    async def recent_order_intents(self, limit: int) -> list[tuple[str, str, str]]:
        """(key, side, action), oldest first, the newest `limit` of them."""
        rows = await self.fetch(
            "SELECT key, side, action FROM (SELECT key, side, action, created_at, rowid"
            " FROM order_intents ORDER BY created_at DESC, rowid DESC LIMIT ?)"
            " ORDER BY created_at, rowid",
            (limit,),
        )
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    # --- LLM usage (the brains.base.UsageLedger port) -----------------------------------

    async def record_llm_call(self, call: LLMCall) -> None:
        await self.execute(
            "INSERT INTO llm_usage (created_at, cycle_id, purpose, tier, model, input_tokens,"
            " output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens,"
            " latency_ms, cost_usd, ok, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                iso(call.created_at),
                call.cycle_id,
                call.purpose,
                call.tier,
                call.model,
                call.input_tokens,
                call.output_tokens,
                call.cache_read_tokens,
                call.cache_write_tokens,
                call.cache_write_1h_tokens,
                call.latency_ms,
                str(call.cost_usd),
                int(call.ok),
                call.error,
            ),
        )

    async def llm_spend_since(self, since: datetime) -> Decimal:
        rows = await self.fetch(
            "SELECT cost_usd FROM llm_usage WHERE created_at >= ?", (iso(since),)
        )
        return sum((Decimal(r[0]) for r in rows), Decimal(0))


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _ruleset(row: aiosqlite.Row) -> RuleSet:
    return RuleSet(
        version=row["version"],
        rules=tuple(json.loads(row["rules_json"])),
        thresholds=Thresholds.model_validate_json(row["thresholds_json"]),
        created_at=parse_ts(row["created_at"]),
        note=row["note"],
        source=row["source"],
    )


def _cycle(row: aiosqlite.Row) -> CycleRecord:
    return CycleRecord(
        id=row["id"],
        started_at=datetime.fromisoformat(row["started_at"]),
        finished_at=parse_ts(row["finished_at"]),
        trigger=row["trigger"],
        status=row["status"],
        brain=row["brain"],
        model=row["model"],
        rules_version=row["rules_version"],
        escalated=bool(row["escalated"]),
        brain_error=row["brain_error"],
        cash=_dec(row["cash"]),
        equity=_dec(row["equity"]),
        exposure=_dec(row["exposure"]),
        risk=row["risk"],
        cost_usd=Decimal(row["cost_usd"]),
        state=_unpack_state(row["state_json"]),
        plan=_json(row["plan_json"]),
        timings=_json(row["timings_json"]),
        report=_json(row["report_json"]),
        error=row["error"],
    )


def _action(row: aiosqlite.Row) -> ActionRecord:
    return ActionRecord(
        id=row["id"],
        cycle_id=row["cycle_id"],
        idx=row["idx"],
        kind=row["kind"],
        market=row["market"],
        action=json.loads(row["action_json"]),
        verdict=row["verdict"],
        reason=row["reason"],
        status=row["status"],
        client_order_id=row["client_order_id"],
        order_id=row["order_id"],
        outcome=_json(row["outcome_json"]),
        created_at=datetime.fromisoformat(row["created_at"]),
    )


def _approval(row: aiosqlite.Row) -> ApprovalRecord:
    return ApprovalRecord(
        id=row["id"],
        action_id=row["action_id"],
        cycle_id=row["cycle_id"],
        kind=row["kind"],
        created_at=datetime.fromisoformat(row["created_at"]),
        expires_at=datetime.fromisoformat(row["expires_at"]),
        status=ApprovalStatus(row["status"]),
        decided_by=row["decided_by"],
        decided_at=parse_ts(row["decided_at"]),
        result=row["result"],
        chat_id=row["chat_id"],
        message_id=row["message_id"],
    )


def _review(row: aiosqlite.Row) -> ReviewRecord:
    return ReviewRecord(
        id=row["id"],
        created_at=datetime.fromisoformat(row["created_at"]),
        trigger=row["trigger"],
        source=row["source"],
        rules_version=row["rules_version"],
        report=json.loads(row["report_json"]),
        suggestion=_json(row["suggestion_json"]),
        status=row["status"],
        error=row["error"],
        decided_by=row["decided_by"],
        decided_at=parse_ts(row["decided_at"]),
        applied_version=row["applied_version"],
        chat_id=row["chat_id"],
        message_id=row["message_id"],
    )
