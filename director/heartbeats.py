"""The trader's scripts as health sources: each says it is alive, and how often it will.

A script is late when no beat came for `every_seconds` + OMEGA_HEARTBEAT_GRACE_SECONDS. A late
script, or one that reports `failed`, is down: a `critical` one makes health degraded (the
guard's safe mode, as for any critical source), any other only warns. A script that reports
`degraded` is a warning. The operator hears of each change once — on silence or failure and on
return — never once per beat (`Heartbeats.changes`, run by the watchdog every few seconds).

Beats are kept in memory and written to the database (migration 6) by the watchdog, a few
seconds behind, so hundreds of beats a second cost no write each, and a restart still knows
who was expected and what the operator was last told.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from director.models import SourceHealth
from director.store import Store, iso

log = logging.getLogger(__name__)

HEALTH_PREFIX = "script:"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MAX_SCRIPTS = 1000  # a runaway script inventing names must not grow memory without end


class BeatStatus(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    FAILED = "failed"


class Beat(BaseModel):
    """One heartbeat (DESIGN.md, `POST /v1/heartbeats`)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="the script's name, e.g. heat-scanner")
    every_seconds: float = Field(
        gt=0, le=31 * 86400, description="how often the script will beat again"
    )
    status: BeatStatus = BeatStatus.OK
    detail: str = Field("", max_length=500)
    critical: bool = Field(False, description="down → health degraded → safe mode")


class Problem(StrEnum):
    NONE = ""
    SILENT = "silent"
    FAILED = "failed"


@dataclass(frozen=True)
class Script:
    name: str
    every_seconds: float
    status: BeatStatus
    detail: str
    critical: bool
    last_beat_at: datetime
    first_seen_at: datetime
    alerted: Problem = Problem.NONE  # what the operator was last told

    def due_at(self) -> datetime:
        return self.last_beat_at + timedelta(seconds=self.every_seconds)

    def problem(self, now: datetime, grace: float) -> Problem:
        if now > self.due_at() + timedelta(seconds=grace):
            return Problem.SILENT
        return Problem.FAILED if self.status is BeatStatus.FAILED else Problem.NONE


def every_text(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


class Heartbeats:
    def __init__(self, store: Store, grace_seconds: float) -> None:
        self.store = store
        self.grace = grace_seconds
        self._scripts: dict[str, Script] = {}
        self._dirty: set[str] = set()
        self.beats = 0

    async def load(self) -> None:
        rows = await self.store.fetch("SELECT * FROM heartbeats ORDER BY name")
        for row in rows:
            self._scripts[row["name"]] = Script(
                name=row["name"],
                every_seconds=float(row["every_seconds"]),
                status=BeatStatus(row["status"]),
                detail=row["detail"],
                critical=bool(row["critical"]),
                last_beat_at=datetime.fromisoformat(row["last_beat_at"]),
                first_seen_at=datetime.fromisoformat(row["first_seen_at"]),
                alerted=Problem(row["alerted"]),
            )

    def beat(self, beat: Beat, now: datetime) -> Script:
        """Take one beat (in memory; `flush` persists it). Raises ValueError past MAX_SCRIPTS."""
        known = self._scripts.get(beat.name)
        if known is None and len(self._scripts) >= MAX_SCRIPTS:
            raise ValueError(f"too many scripts (at most {MAX_SCRIPTS}); remove one first")
        script = Script(
            name=beat.name,
            every_seconds=beat.every_seconds,
            status=beat.status,
            detail=beat.detail,
            critical=beat.critical,
            last_beat_at=now,
            first_seen_at=known.first_seen_at if known else now,
            alerted=known.alerted if known else Problem.NONE,
        )
        self._scripts[beat.name] = script
        self._dirty.add(beat.name)
        self.beats += 1
        return script

    async def remove(self, name: str) -> bool:
        """Forget a retired script, so its silence stops counting."""
        if self._scripts.pop(name, None) is None:
            return False
        self._dirty.discard(name)
        await self.store.execute("DELETE FROM heartbeats WHERE name = ?", (name,))
        return True

    def scripts(self) -> list[Script]:
        return sorted(self._scripts.values(), key=lambda s: s.name)

    def health(self, now: datetime) -> dict[str, SourceHealth]:
        """One health source per script, for SENSE."""
        sources = {}
        for script in self._scripts.values():
            problem = script.problem(now, self.grace)
            if problem is Problem.NONE and script.status is BeatStatus.DEGRADED:
                detail = f"reports degraded{': ' + script.detail if script.detail else ''}"
                sources[HEALTH_PREFIX + script.name] = SourceHealth(ok=False, detail=detail)
                continue
            sources[HEALTH_PREFIX + script.name] = SourceHealth(
                ok=problem is Problem.NONE,
                detail=self.describe(script, problem) if problem else "",
                critical=script.critical,
            )
        return sources

    def describe(self, script: Script, problem: Problem) -> str:
        if problem is Problem.SILENT:
            return (
                f"silent since {script.last_beat_at:%Y-%m-%d %H:%M} UTC, due every "
                f"{every_text(script.every_seconds)}"
            )
        if problem is Problem.FAILED:
            what = f": {script.detail}" if script.detail else ""
            return f"reported failed at {script.last_beat_at:%H:%M:%S} UTC{what}"
        return f"back: {script.status.value} at {script.last_beat_at:%H:%M:%S} UTC"

    def changes(self, now: datetime) -> list[str]:
        """Alerts for what changed since the operator was last told (each change once)."""
        alerts = []
        for script in list(self._scripts.values()):
            problem = script.problem(now, self.grace)
            if problem is script.alerted:
                continue
            if problem is Problem.NONE:
                text = f"Script {script.name} is {self.describe(script, problem)}."
            else:
                stake = " Critical: new orders stop (safe mode)." if script.critical else ""
                text = f"Script {script.name} {self.describe(script, problem)}.{stake}"
            alerts.append(text)
            self._scripts[script.name] = replace(script, alerted=problem)
            self._dirty.add(script.name)
        return alerts

    async def flush(self) -> int:
        """Write what changed since the last flush; returns how many scripts were written."""
        names, self._dirty = self._dirty, set()
        written = 0
        try:
            async with self.store.transaction() as conn:
                for name in sorted(names):
                    script = self._scripts.get(name)
                    if script is not None:
                        await conn.execute(_UPSERT, _params(script))
                        written += 1
        except BaseException:
            self._dirty |= names  # try again next time
            raise
        return written


_UPSERT = (
    "INSERT INTO heartbeats (name, every_seconds, status, detail, critical, last_beat_at,"
    " first_seen_at, alerted) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
    " every_seconds = excluded.every_seconds, status = excluded.status,"
    " detail = excluded.detail, critical = excluded.critical,"
    " last_beat_at = excluded.last_beat_at, alerted = excluded.alerted"
)


def _params(script: Script) -> tuple[object, ...]:
    return (
        script.name,
        script.every_seconds,
        script.status.value,
        script.detail,
        int(script.critical),
        iso(script.last_beat_at),
        iso(script.first_seen_at),
        script.alerted.value,
    )
