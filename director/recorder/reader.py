"""Reading a recording back: every line validated against its schema, polls checked for order
and completeness; anything wrong fails with the file and line that is wrong.

The one thing tolerated is an unfinished poll at the very end of the newest file: that is a
recorder that is still writing, or was stopped mid-poll (it cuts that poll off when it starts
again). Anywhere else a poll without its `end` line means a damaged recording.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from director.models import MarketStatus, Side
from director.recorder.format import (
    DAY_SUFFIX,
    FIRST_WITH_GRIDS,
    LINE_ADAPTER,
    MANIFEST,
    READABLE_VERSIONS,
    EndLine,
    GoneLine,
    InfoLine,
    Manifest,
    MarketLine,
    OpportunityLine,
    PollLine,
    QuoteLine,
    SettlementLine,
)

MAX_MEMBER_BYTES = 1 << 30  # one poll, decompressed: far above 15,000 markets with depth
INFLATE_CHUNK = 1 << 16


class RecordingError(Exception):
    """The recording can't be read; the message names the file and line."""


def read_manifest(directory: Path) -> Manifest:
    path = directory / MANIFEST
    try:
        manifest = Manifest.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise RecordingError(f"{directory} is not a recording: no {MANIFEST}") from None
    except ValidationError as exc:
        raise RecordingError(f"{path}: {_first_error(exc)}") from None
    if manifest.schema_version not in READABLE_VERSIONS:
        readable = ", ".join(str(v) for v in READABLE_VERSIONS)
        raise RecordingError(
            f"{path}: schema version {manifest.schema_version}; this version reads {readable}"
        )
    return manifest


def day_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*" + DAY_SUFFIX) if p.is_file())


@dataclass(frozen=True)
class Member:
    start: int  # byte offsets of the gzip member in its file
    end: int
    data: bytes


def members(raw: bytes) -> Iterator[Member]:
    """The gzip members of `raw`, in order; stops before a truncated one (its start is then
    where the committed part of the file ends)."""
    view = memoryview(raw)
    offset = 0
    while offset < len(raw):
        member = _inflate_one(view, offset)
        if member is None:
            return
        yield member
        offset = member.end


def _inflate_one(view: memoryview, start: int) -> Member | None:
    """The member at `start`, fed in chunks (feeding the whole rest of the file each time
    would copy it once per poll), or None when it is torn."""
    inflate = zlib.decompressobj(wbits=31)
    parts: list[bytes] = []
    size = 0
    fed = start
    while not inflate.eof:
        if fed >= len(view):
            return None
        chunk = view[fed : fed + INFLATE_CHUNK]
        fed += len(chunk)
        try:
            part = inflate.decompress(chunk, MAX_MEMBER_BYTES - size)
        except zlib.error:
            return None
        size += len(part)
        parts.append(part)
        if size >= MAX_MEMBER_BYTES and not inflate.eof:
            return None
    return Member(start, fed - len(inflate.unused_data), b"".join(parts))


@dataclass
class Poll:
    """One poll as written: the market lines that changed, and what else it saw."""

    seq: int
    at: datetime
    full: bool
    markets: list[MarketLine] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    settlements: list[SettlementLine] = field(default_factory=list)
    opportunities: list[OpportunityLine] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    end_offset: int = 0  # where this poll's member ends in its file


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error.get("loc", ()))
    return f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg"))


def _parse(path: Path, where: str, number: int, text: bytes) -> object:
    try:
        return LINE_ADAPTER.validate_json(text)
    except ValidationError as exc:
        raise RecordingError(f"{path}: {where}, line {number}: {_first_error(exc)}") from None


@dataclass
class _FileState:
    """Each market's last info and quote line in the file being read."""

    infos: dict[str, InfoLine] = field(default_factory=dict)
    quotes: dict[str, QuoteLine] = field(default_factory=dict)


def _poll(path: Path, member: Member, state: _FileState) -> Poll:
    lines = member.data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if not lines:
        raise RecordingError(f"{path}: an empty poll at byte {member.start}")
    head = _parse(path, f"the poll at byte {member.start}", 1, lines[0])
    if not isinstance(head, PollLine):
        raise RecordingError(f"{path}: the poll at byte {member.start} has no poll line first")
    poll = Poll(seq=head.seq, at=head.at, full=head.full, end_offset=member.end)
    where = f"poll {head.seq}"
    touched: dict[str, int] = {}  # markets with a new line, and the line that first said so
    for number, text in enumerate(lines[1:-1], start=2):
        line = _parse(path, where, number, text)
        if isinstance(line, InfoLine):
            state.infos[line.ticker] = line
            touched.setdefault(line.ticker, number)
        elif isinstance(line, QuoteLine):
            state.quotes[line.ticker] = line
            touched.setdefault(line.ticker, number)
        elif isinstance(line, GoneLine):
            poll.gone.extend(line.tickers)
        elif isinstance(line, SettlementLine):
            poll.settlements.append(line)
        elif isinstance(line, OpportunityLine):
            poll.opportunities.append(line)
        else:
            raise RecordingError(f"{path}: {where}, line {number}: unexpected {line!r:.40}")
    for ticker, number in touched.items():
        info, quote = state.infos.get(ticker), state.quotes.get(ticker)
        if info is None or quote is None:
            missing = "info" if info is None else "market"
            raise RecordingError(
                f"{path}: {where}, line {number}: {ticker} has no {missing} line in this file"
            )
        poll.markets.append(MarketLine.join(info, quote))
    end = _parse(path, where, len(lines), lines[-1])
    if not isinstance(end, EndLine) or end.seq != head.seq or end.lines != len(lines) - 1:
        raise RecordingError(f"{path}: {where} is incomplete (no matching end line)")
    poll.errors = dict(end.errors)
    return poll


def read_day(path: Path, *, tail_ok: bool) -> Iterator[Poll]:
    """The committed polls of one day file. A torn poll at its end is skipped when `tail_ok`
    (the newest file), else an error."""
    raw = path.read_bytes()
    committed = 0
    state = _FileState()
    for member in members(raw):
        # A member that inflates whole was written whole (one write, fsynced): it must be
        # valid. Only a torn member, which does not inflate, is an unfinished poll.
        poll = _poll(path, member, state)
        committed = member.end
        yield poll
    if committed != len(raw) and not tail_ok:
        raise RecordingError(f"{path}: damaged or truncated after byte {committed}")


def committed_length(path: Path) -> tuple[int, Poll | None]:
    """Bytes of `path` holding whole polls, and the last of them (for a restart)."""
    last: Poll | None = None
    for poll in read_day(path, tail_ok=True):
        last = poll
    return (0 if last is None else last.end_offset), last


@dataclass
class MarketState:
    """The markets as of the last poll applied: each recorded market's latest line."""

    markets: dict[str, MarketLine] = field(default_factory=dict)
    results: dict[str, Side] = field(default_factory=dict)

    def apply(self, poll: Poll) -> None:
        for line in poll.markets:
            self.markets[line.ticker] = line
        for ticker in poll.gone:
            self.markets.pop(ticker, None)
        for settlement in poll.settlements:
            self.results[settlement.ticker] = settlement.result
            self.markets.pop(settlement.ticker, None)

    def open_count(self) -> int:
        return sum(1 for m in self.markets.values() if m.status is MarketStatus.OPEN)


class Recording:
    """A recording directory, read poll by poll (nothing is held beyond one poll)."""

    def __init__(self, directory: Path, manifest: Manifest, files: list[Path]) -> None:
        self.directory = directory
        self.manifest = manifest
        self.files = files

    @classmethod
    def open(cls, directory: Path) -> Recording:
        if not directory.is_dir():
            raise RecordingError(f"{directory} is not a directory")
        manifest = read_manifest(directory)
        files = day_files(directory)
        if not files:
            raise RecordingError(f"{directory} holds no recorded day ({'*' + DAY_SUFFIX})")
        return cls(directory, manifest, files)

    @property
    def has_grids(self) -> bool:
        """Whether markets' tick grids were recorded (schema 2 on); without them, every
        market replays on whole cents."""
        return self.manifest.schema_version >= FIRST_WITH_GRIDS

    def polls(self) -> Iterator[Poll]:
        """Every committed poll, oldest first; numbers must run on by one and times rise."""
        previous: Poll | None = None
        for index, path in enumerate(self.files):
            newest = index == len(self.files) - 1
            for poll in read_day(path, tail_ok=newest):
                if previous is not None:
                    if poll.seq != previous.seq + 1:
                        why = "repeated" if poll.seq <= previous.seq else "polls missing"
                        raise RecordingError(
                            f"{path}: poll {poll.seq} follows poll {previous.seq} ({why})"
                        )
                    if poll.at <= previous.at:
                        raise RecordingError(f"{path}: poll {poll.seq} is not later than the last")
                yield poll
                previous = poll
