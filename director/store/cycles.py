"""The cycles: one row each, started, then finished with its figures, plan, state and report."""

from __future__ import annotations

import dataclasses
import json
import zlib
from datetime import datetime
from decimal import Decimal
from typing import Any

import aiosqlite
from pydantic import TypeAdapter, ValidationError

from director.models import Plan, SystemState
from director.reporting import ActionOutcome, CycleReport
from director.store.connection import Database, iso, parse_ts
from director.store.records import CycleRecord, CycleStatus

_REPORT: TypeAdapter[CycleReport] = TypeAdapter(CycleReport)
_OUTCOME: TypeAdapter[ActionOutcome] = TypeAdapter(ActionOutcome)

# Everything but the state and the plan: what a list of cycles shows.
_SUMMARY_COLUMNS = (
    "id, started_at, finished_at, trigger, status, brain, model, rules_version, escalated,"
    " brain_error, cash, equity, exposure, risk, cost_usd, NULL AS state_json, NULL AS plan_json,"
    " timings_json, report_json, error"
)


class CyclesMixin(Database):
    async def start_cycle(self, started_at: datetime, trigger: str) -> int:
        cur = await self.execute(
            "INSERT INTO cycles (started_at, trigger) VALUES (?, ?)", (iso(started_at), trigger)
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def finish_cycle(
        self, cycle_id: int, report: CycleReport, state: SystemState | None
    ) -> None:
        """Record how the cycle ended: what the report says, and the state it acted on."""
        status = CycleStatus.FAILED if report.error else CycleStatus.DONE
        await self.execute(
            "UPDATE cycles SET finished_at = ?, status = ?, brain = ?, model = ?,"
            " rules_version = ?, escalated = ?, brain_error = ?, cash = ?, equity = ?,"
            " exposure = ?, risk = ?, cost_usd = ?, state_json = ?, plan_json = ?,"
            " timings_json = ?, report_json = ?, error = ? WHERE id = ?",
            (
                iso(report.finished_at),
                status.value,
                report.brain,
                report.model,
                report.rules_version,
                int(report.escalated),
                report.brain_error,
                *_figures(state),
                str(report.cost_usd),
                None if state is None else _pack_state(state.model_dump_json()),
                None if report.plan is None else report.plan.model_dump_json(),
                json.dumps(report.timings_ms),
                report_json(report),
                report.error,
                cycle_id,
            ),
        )

    async def cycle(self, cycle_id: int) -> CycleRecord | None:
        row = await self.fetch_one("SELECT * FROM cycles WHERE id = ?", (cycle_id,))
        return None if row is None else _cycle(row)

    async def last_cycle(self, *, finished: bool = True) -> CycleRecord | None:
        where = "WHERE status != ?" if finished else ""
        params = (CycleStatus.RUNNING.value,) if finished else ()
        row = await self.fetch_one(f"SELECT * FROM cycles {where} ORDER BY id DESC LIMIT 1", params)
        return None if row is None else _cycle(row)

    async def recent_cycles(self, limit: int) -> list[CycleRecord]:
        """The newest `limit` cycles, without their states and plans."""
        rows = await self.fetch(
            f"SELECT {_SUMMARY_COLUMNS} FROM cycles ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [_cycle(row) for row in rows]

    async def recent_cycles_with_state(self, limit: int) -> list[CycleRecord]:
        rows = await self.fetch(
            "SELECT * FROM cycles WHERE state_json IS NOT NULL ORDER BY id DESC LIMIT ?", (limit,)
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

    async def fail_running_cycles(self, now: datetime, why: str | None = None) -> int:
        """Mark cycles left running (by a crash, a kill or a signal) as interrupted, saying
        `why` when it is known."""
        cur = await self.execute(
            "UPDATE cycles SET status = ?, finished_at = ?, error = COALESCE(?, error)"
            " WHERE status = ?",
            (CycleStatus.INTERRUPTED.value, iso(now), why, CycleStatus.RUNNING.value),
        )
        return cur.rowcount


def _figures(state: SystemState | None) -> tuple[str | None, str | None, str | None, float | None]:
    """cash, equity, exposure (as stored text) and risk."""
    if state is None:
        return None, None, None, None
    return (
        str(state.portfolio_cash),
        str(state.equity),
        str(state.exposure),
        state.current_risk_score,
    )


def report_json(report: CycleReport) -> str:
    """The report as stored: every field but the plan, which has its own column."""
    fields = dataclasses.asdict(dataclasses.replace(report, plan=None))
    del fields["plan"]
    return json.dumps(fields, default=str)


def outcomes_from_report(data: object) -> list[ActionOutcome]:
    """The readable outcomes of a stored report; a row that no longer reads is skipped."""
    rows = data.get("outcomes") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        return []
    outcomes = []
    for row in rows:
        try:
            outcomes.append(_OUTCOME.validate_python(row))
        except ValidationError:
            continue
    return outcomes


def _report(text: str | None, plan: Plan | None) -> CycleReport | None:
    data = None if text is None else json.loads(text)
    if not isinstance(data, dict):
        return None
    try:
        report = _REPORT.validate_python({**data, "outcomes": [], "plan": None})
    except ValidationError:
        return None
    return dataclasses.replace(report, outcomes=outcomes_from_report(data), plan=plan)


def _plan(text: str | None) -> Plan | None:
    if text is None:
        return None
    try:
        return Plan.model_validate_json(text)
    except ValidationError:
        return None


def _pack_state(state_json: str) -> bytes:
    """A cycle's State of the Union compresses about 11× (hundreds of repetitive quotes):
    stored as a zlib BLOB, it is ~30 KB a cycle instead of ~340 KB for a thousand markets."""
    return zlib.compress(state_json.encode())


def _unpack_state(value: bytes | str | None) -> str | None:
    if isinstance(value, bytes):
        return zlib.decompress(value).decode()
    return value  # None, or text written by a version before compression


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _cycle(row: aiosqlite.Row) -> CycleRecord:
    plan = _plan(row["plan_json"])
    return CycleRecord(
        id=row["id"],
        started_at=datetime.fromisoformat(row["started_at"]),
        finished_at=parse_ts(row["finished_at"]),
        trigger=row["trigger"],
        status=CycleStatus(row["status"]),
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
        state_json=_unpack_state(row["state_json"]),
        plan=plan,
        timings=_json(row["timings_json"]),
        report=_report(row["report_json"], plan),
        error=row["error"],
    )
