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

Bounded (issue 12: a million distinct markets once wedged SENSE): at most `max_markets`
opportunities are kept (OMEGA_FEED_MAX_MARKETS; the freshest, then the best edge), files are
read in 1 MiB chunks, a backlog too big to matter is skipped oldest-first, one read stops at its
time budget and goes on next time, and every line dropped is counted.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from director.models import Opportunity, Side
from director.settings import Settings

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
    # Bounded input: lines skipped unread (a backlog past `max_backlog_bytes`, oldest first)
    # and opportunities evicted to keep the `max_markets` freshest, best ones.
    skipped_lines: int = 0
    evicted: int = 0
    kept: int = 0
    # Reads that ran out of their time budget and left the rest for the next read.
    budget_exhausted: int = 0

    @property
    def dropped(self) -> int:
        return self.skipped_lines + self.evicted


# One read's bite of a file: memory stays bounded whatever the file's size.
CHUNK_BYTES = 1 << 20
# Unread bytes past which the oldest are skipped (per kept market; at least 4 MiB).
BACKLOG_BYTES_PER_MARKET = 1024
_Entry = tuple[datetime, int, Opportunity]


@dataclass
class JsonlFeed:
    """The feed. `max_markets` bounds what it keeps; `read_budget_s` bounds how long one
    read parses (the rest of a big append is read next time), so SENSE never waits on it past
    its source timeout; `monotonic` is injectable for tests."""

    path: Path
    max_markets: int = 5000
    read_budget_s: float = 2.0
    stats: FeedStats = field(default_factory=FeedStats)
    monotonic: Callable[[], float] = time.monotonic
    _cursors: dict[Path, _FileCursor] = field(default_factory=dict)
    _latest: dict[str, _Entry] = field(default_factory=dict)
    _snapshot: list[Opportunity] = field(default_factory=list)
    _seq: int = 0
    # A read that outlived its source timeout still runs in its worker thread: the next read
    # must not touch the same dicts meanwhile (it returns the last snapshot instead).
    _reading: threading.Lock = field(default_factory=threading.Lock)

    name = "feed"

    @property
    def max_backlog_bytes(self) -> int:
        return max(4 << 20, self.max_markets * BACKLOG_BYTES_PER_MARKET)

    def _files(self) -> list[Path]:
        if self.path.is_dir():
            return sorted(p for p in self.path.glob("*.jsonl") if p.is_file())
        if self.path.exists():
            return [self.path]
        raise FileNotFoundError(f"opportunity feed {self.path} does not exist")

    def read(self, now: datetime) -> list[Opportunity]:
        """Every live opportunity kept; raises OSError only when the feed path itself is
        missing."""
        if not self._reading.acquire(blocking=False):
            log.warning("feed: the previous read is still running; using its last result")
            return [o for o in self._snapshot if o.expires_at > now]
        try:
            return self._read_all(now)
        finally:
            self._reading.release()

    def _read_all(self, now: datetime) -> list[Opportunity]:
        files = self._files()
        self.stats.files = len(files)
        deadline = self.monotonic() + self.read_budget_s
        for path in files:
            try:
                if not self._read_file(path, now, deadline):
                    self.stats.budget_exhausted += 1
                    break
            except OSError as exc:
                self.stats.last_error = f"{path.name}: {exc.strerror or exc}"
                log.warning("feed file %s unreadable: %s", path, exc)
        self._latest = {m: e for m, e in self._latest.items() if e[2].expires_at > now}
        self._bound(self.max_markets)
        self.stats.kept = len(self._latest)
        self._snapshot = [e[2] for e in sorted(self._latest.values(), key=lambda e: e[2].market)]
        return list(self._snapshot)

    def _bound(self, limit: int) -> None:
        """Keep the `limit` freshest, best opportunities (newest read, then highest edge)."""
        if len(self._latest) <= limit:
            return
        keep = heapq.nlargest(
            limit, self._latest.items(), key=lambda item: (item[1][0], item[1][2].edge, item[1][1])
        )
        self.stats.evicted += len(self._latest) - limit
        self._latest = dict(keep)

    def _read_file(self, path: Path, now: datetime, deadline: float) -> bool:
        """Read what was appended; False when the time budget ran out first."""
        stat = path.stat()
        cursor = self._cursors.setdefault(path, _FileCursor())
        if stat.st_ino != cursor.inode or stat.st_size < cursor.offset:
            cursor.offset, cursor.inode = 0, stat.st_ino
        if stat.st_size == cursor.offset:
            return True
        with path.open("rb") as handle:
            if stat.st_size - cursor.offset > self.max_backlog_bytes:
                self._skip_backlog(handle, cursor, stat.st_size)
            handle.seek(cursor.offset)
            while cursor.offset < stat.st_size:
                if self.monotonic() > deadline:
                    return False
                chunk = handle.read(min(CHUNK_BYTES, stat.st_size - cursor.offset))
                if not chunk or not self._parse_chunk(chunk, cursor, path, now):
                    break
                handle.seek(cursor.offset)
        return True

    def _skip_backlog(self, handle: BinaryIO, cursor: _FileCursor, size: int) -> None:
        """Too much unread: the newest lines supersede the oldest, so skip to the last
        `max_backlog_bytes` (at a line start), counting the lines skipped."""
        target = size - self.max_backlog_bytes
        handle.seek(cursor.offset)
        skipped = 0
        while cursor.offset < target:
            block = handle.read(min(CHUNK_BYTES, target - cursor.offset))
            if not block:
                break
            skipped += block.count(b"\n")
            cursor.offset += len(block)
        rest = handle.readline(MAX_LINE_BYTES + 1)  # the line cut in two: skipped too
        cursor.offset += len(rest)
        skipped += rest.endswith(b"\n")
        self.stats.skipped_lines += skipped
        log.warning("feed %s: %d unread lines skipped for newer ones", handle.name, skipped)

    def _parse_chunk(self, chunk: bytes, cursor: _FileCursor, path: Path, now: datetime) -> bool:
        """Parse the whole lines of a chunk and move the cursor past them; False when the
        chunk holds no complete line (a line still being written waits for its newline)."""
        end = chunk.rfind(b"\n")
        if end < 0:
            if len(chunk) > MAX_LINE_BYTES:  # a "line" that never ends: skip it
                cursor.offset += len(chunk)
                self._bad(path, "line too long")
                return True
            return False
        cursor.offset += end + 1
        for number, raw in enumerate(chunk[:end].split(b"\n"), start=1):
            if raw.strip():
                self._parse(raw, path, number, now)
        if len(self._latest) > 2 * self.max_markets:
            self._bound(self.max_markets)  # memory stays bounded mid-read too
        return True

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


def feed_from_settings(settings: Settings) -> JsonlFeed:
    """The feed OMEGA_OPPORTUNITY_FEED names, bounded by OMEGA_FEED_MAX_MARKETS; one read
    parses for at most half the source timeout, so SENSE is never kept waiting by it."""
    assert settings.opportunity_feed is not None
    return JsonlFeed(
        settings.opportunity_feed,
        max_markets=settings.feed_max_markets,
        read_budget_s=settings.source_timeout_seconds / 2,
    )
