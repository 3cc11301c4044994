"""The JSON Lines opportunity feed that external scanner scripts append to.

One object a line (DESIGN.md):
    {"market": "KXHEAT-24JUL", "edge": 0.15, "confidence": 0.8, "expires_in_hours": 2,
     "side": "yes", "source": "heat-scanner"}
`expires_at` (ISO 8601) may stand instead of `expires_in_hours`; `side` defaults to yes.

The feed is a file or a folder of *.jsonl files. Files are read incrementally (only the bytes
appended since the last read; a file that shrank was rotated and is read again from the start),
and a line without its newline yet is left for the next read, so a writer mid-line is never
mistaken for a bad line. A bad line is skipped and counted, never fatal. The freshest line per
market wins; expired opportunities are dropped.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from director.models import Opportunity, Side

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 64 * 1024


class FeedLine(BaseModel):
    model_config = ConfigDict(extra="ignore")

    market: str = Field(min_length=1, max_length=200)
    edge: Decimal = Field(ge=-1, le=1)
    confidence: Decimal = Field(ge=0, le=1)
    side: Side = Side.YES
    source: str | None = Field(None, max_length=100)
    title: str = Field("", max_length=500)
    expires_in_hours: float | None = Field(None, gt=0, le=24 * 365)
    expires_at: datetime | None = None

    @field_validator("side", mode="before")
    @classmethod
    def _side_any_case(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("edge", "confidence", mode="before")
    @classmethod
    def _finite(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError("must be a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("must be finite")
        return value

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("expires_at needs a timezone (e.g. Z)")
        return value

    @model_validator(mode="after")
    def _one_expiry(self) -> FeedLine:
        if (self.expires_at is None) == (self.expires_in_hours is None):
            raise ValueError("give exactly one of expires_at and expires_in_hours")
        return self

    def to_opportunity(self, read_at: datetime, default_source: str) -> Opportunity:
        expires = self.expires_at or read_at + timedelta(hours=self.expires_in_hours or 0)
        return Opportunity(
            market=self.market,
            side=self.side,
            edge=self.edge,
            confidence=self.confidence,
            expires_at=expires.astimezone(UTC),
            source=self.source or default_source,
            title=self.title,
            observed_at=read_at,
        )


@dataclass
class _FileCursor:
    offset: int = 0
    inode: int = 0


@dataclass
class FeedStats:
    bad_lines: int = 0
    lines: int = 0
    last_error: str = ""
    files: int = 0


@dataclass
class JsonlFeed:
    path: Path
    stats: FeedStats = field(default_factory=FeedStats)
    _cursors: dict[Path, _FileCursor] = field(default_factory=dict)
    _latest: dict[str, tuple[datetime, int, Opportunity]] = field(default_factory=dict)
    _seq: int = 0

    name = "feed"

    def _files(self) -> list[Path]:
        if self.path.is_dir():
            return sorted(p for p in self.path.glob("*.jsonl") if p.is_file())
        if self.path.exists():
            return [self.path]
        raise FileNotFoundError(f"opportunity feed {self.path} does not exist")

    def read(self, now: datetime) -> list[Opportunity]:
        """Every live opportunity; raises OSError only when the feed path itself is missing."""
        files = self._files()
        self.stats.files = len(files)
        for path in files:
            try:
                self._read_file(path, now)
            except OSError as exc:
                self.stats.last_error = f"{path.name}: {exc.strerror or exc}"
                log.warning("feed file %s unreadable: %s", path, exc)
        live = {
            market: entry for market, entry in self._latest.items() if entry[2].expires_at > now
        }
        self._latest = live
        return [entry[2] for entry in sorted(live.values(), key=lambda e: e[2].market)]

    def _read_file(self, path: Path, now: datetime) -> None:
        stat = path.stat()
        cursor = self._cursors.setdefault(path, _FileCursor())
        if stat.st_ino != cursor.inode or stat.st_size < cursor.offset:
            cursor.offset, cursor.inode = 0, stat.st_ino
        if stat.st_size == cursor.offset:
            return
        with path.open("rb") as handle:
            handle.seek(cursor.offset)
            chunk = handle.read(stat.st_size - cursor.offset)
        end = chunk.rfind(b"\n")
        if end < 0:
            if len(chunk) > MAX_LINE_BYTES:  # a "line" that never ends: skip it
                cursor.offset += len(chunk)
                self._bad(path, "line too long")
            return
        cursor.offset += end + 1
        for number, raw in enumerate(chunk[:end].split(b"\n"), start=1):
            if raw.strip():
                self._parse(raw, path, number, now)

    def _parse(self, raw: bytes, path: Path, number: int, now: datetime) -> None:
        self.stats.lines += 1
        if len(raw) > MAX_LINE_BYTES:
            self._bad(path, "line too long")
            return
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            line = FeedLine.model_validate(data)
        except (ValueError, ValidationError) as exc:
            self._bad(path, _short(exc))
            return
        opportunity = line.to_opportunity(now, default_source=path.stem)
        self._seq += 1
        previous = self._latest.get(line.market)
        entry = (now, self._seq, opportunity)
        if previous is None or (entry[0], entry[1]) >= (previous[0], previous[1]):
            self._latest[line.market] = entry

    def _bad(self, path: Path, why: str) -> None:
        self.stats.bad_lines += 1
        self.stats.last_error = f"{path.name}: {why}"
        log.warning("skipped bad feed line in %s: %s", path.name, why)


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}" if where else first["msg"]
    return str(exc)[:200]
