"""Writing a recording: one gzip member per poll, appended and fsynced, so a poll is either
wholly in the file or not at all; and resuming one after a restart.

On open the writer takes `<dir>/.recorder.lock` (the kernel's flock: it goes with the process),
so two recorders never write one recording; it is a lock on the recording, not on the
director's database, so `run` is never blocked by it. It then checks the manifest (a restart
must record the same exchange, environment and interval), cuts an unfinished poll off the end
of the newest file, and carries on from the last committed poll: the next poll number is the
last plus one, so none is lost or repeated, and the first poll after a restart is `full`.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from director.recorder.format import (
    MANIFEST,
    EndLine,
    GoneLine,
    Manifest,
    MarketLine,
    OpportunityLine,
    PollLine,
    SettlementLine,
    day_file,
    encode,
)
from director.recorder.reader import (
    MarketState,
    Poll,
    RecordingError,
    committed_length,
    day_files,
    read_day,
    read_manifest,
)

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

LOCK_FILE = ".recorder.lock"
COMPRESS_LEVEL = 6


class RecorderBusy(RecordingError):
    """Another recorder is writing this directory."""


def _lock(directory: Path) -> int | None:
    if fcntl is None:  # pragma: no cover - not POSIX
        return None
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RecorderBusy(f"{directory} is being recorded by another omega-director") from None
    return fd


def _write_manifest(directory: Path, manifest: Manifest) -> None:
    path = directory / MANIFEST
    temp = path.with_suffix(".tmp")
    temp.write_text(manifest.model_dump_json(indent=1) + "\n", encoding="utf-8")
    os.replace(temp, path)


Written = dict[str, tuple[MarketLine, bytes, bytes]]  # ticker -> (market, info, quote line)


def _changes(
    markets: Sequence[MarketLine], written: Written, lines: list[bytes]
) -> list[MarketLine]:
    """Append to `lines` the info and quote lines that differ from the last ones `written`
    (updated); returns the markets that changed."""
    changed: list[MarketLine] = []
    for market in markets:
        before = written.get(market.ticker)
        if before is not None and before[0] == market:
            continue  # the same market as last written: nothing to encode
        try:
            parts = market.split()
        except ValidationError as exc:  # a venue's bad value: that market is not recorded
            log.warning("recorder: market %.40s not recorded: %s", market.ticker, exc.errors()[0])
            continue
        info, quote = (encode(part) for part in parts)
        new_info = before is None or before[1] != info
        new_quote = before is None or before[2] != quote
        written[market.ticker] = (market, info, quote)
        if new_info or new_quote:
            lines += [info] if new_info else []
            lines += [quote] if new_quote else []
            changed.append(market)
    return changed


def _cut_torn_tail(path: Path) -> None:
    """Cut off a poll a crash left half-written at the end of the newest file."""
    length, _ = committed_length(path)
    if path.stat().st_size == length:
        return
    log.warning("recorder: dropping an unfinished poll at the end of %s", path.name)
    with path.open("r+b") as handle:
        handle.truncate(length)
        handle.flush()
        os.fsync(handle.fileno())


class RecordingWriter:
    """Appends polls to a recording. Use `RecordingWriter.open`; `close` when done."""

    def __init__(self, directory: Path, manifest: Manifest, lock_fd: int | None) -> None:
        self.directory = directory
        self.manifest = manifest
        self._lock_fd = lock_fd
        self.state = MarketState()  # the markets recorded by the last poll
        self.last_seq = 0
        self.last_at: datetime | None = None
        self._file: str | None = None  # the day file the last poll went to
        self._committed = 0  # its committed length
        self._written: Written = {}  # each market's last lines in that file
        self._restarted = True  # the first poll of this process is written in full

    @classmethod
    def open(cls, directory: Path, manifest: Manifest) -> RecordingWriter:
        directory.mkdir(parents=True, exist_ok=True)
        fd = _lock(directory)
        writer = cls(directory, manifest, fd)
        try:
            writer._resume()
        except BaseException:
            writer.close()
            raise
        return writer

    def _resume(self) -> None:
        if not (self.directory / MANIFEST).exists():
            if day_files(self.directory):
                raise RecordingError(f"{self.directory} has day files but no {MANIFEST}")
            _write_manifest(self.directory, self.manifest)
            return
        saved = read_manifest(self.directory)
        why = saved.same_recording(self.manifest)
        if why is not None:
            raise RecordingError(
                f"{self.directory} holds another recording ({why}): choose another --out"
            )
        self.manifest = saved
        files = day_files(self.directory)
        if files:
            _cut_torn_tail(files[-1])
        # The newest file may hold no whole poll (a crash in the first poll of a day): the
        # numbering then carries on from the file before it.
        for path in reversed(files):
            length, last = committed_length(path)
            if last is None:
                continue
            for poll in read_day(path, tail_ok=False):
                self.state.apply(poll)
            self.last_seq, self.last_at = last.seq, last.at
            self._file, self._committed = path.name, length
            log.info("recorder: resuming %s after poll %d (%s)", self.directory, last.seq, last.at)
            return

    def write_poll(
        self,
        at: datetime,
        markets: Sequence[MarketLine],
        *,
        gone: Sequence[str] = (),
        settlements: Sequence[SettlementLine] = (),
        opportunities: Sequence[OpportunityLine] = (),
        errors: dict[str, str] | None = None,
    ) -> Poll:
        """Commit one poll: `markets` is every market recorded now (unchanged ones are left
        out of the file); returns the poll as a reader will see it."""
        if self.last_at is not None and at <= self.last_at:
            raise RecordingError(f"poll at {at} is not later than the last ({self.last_at})")
        name = day_file(at)
        same_file = name == self._file
        full = self._restarted or not same_file  # a new file, or a restart: every market
        written = {} if full else dict(self._written)
        seq = self.last_seq + 1
        lines = [encode(PollLine(seq=seq, at=at, full=full))]
        changed = _changes(markets, written, lines)
        if gone:
            lines.append(encode(GoneLine(tickers=tuple(gone))))
        lines += [encode(s) for s in settlements]
        lines += [encode(o) for o in opportunities]
        lines.append(encode(EndLine(seq=seq, lines=len(lines), errors=errors or {})))
        member = gzip.compress(b"".join(lines), compresslevel=COMPRESS_LEVEL, mtime=0)
        committed = self._append(name, self._committed if same_file else 0, member)
        poll = Poll(
            seq=seq,
            at=at,
            full=full,
            markets=changed,
            gone=list(gone),
            settlements=list(settlements),
            opportunities=list(opportunities),
            errors=dict(errors or {}),
            end_offset=committed,
        )
        for ticker in gone:
            written.pop(ticker, None)
        for settlement in settlements:
            written.pop(settlement.ticker, None)
        self.state.apply(poll)
        self._file, self._committed, self._written = name, committed, written
        self.last_seq, self.last_at = seq, at
        self._restarted = False
        return poll

    def _append(self, name: str, committed: int, member: bytes) -> int:
        """Append `member` after the `committed` bytes of `name` (a failed earlier attempt's
        leftovers are cut first), fsynced; returns the new committed length."""
        path = self.directory / name
        if committed == 0 and path.exists() and path.stat().st_size:
            # A new day file that already has polls: only a clock that went back does that.
            _, last = committed_length(path)
            if last is not None:
                raise RecordingError(f"{path} already holds polls up to {last.seq}")
        with path.open("ab") as handle:
            handle.truncate(committed)
            handle.write(member)
            handle.flush()
            os.fsync(handle.fileno())
        if committed == 0:
            # The new file's directory entry must survive a crash too.
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        return committed + len(member)

    def close(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is None or fcntl is None:
            return
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
