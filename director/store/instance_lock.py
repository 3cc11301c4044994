"""One director per database, by the database file's identity.

Two directors on one database would both trade: each numbers its own cycles, so their client
order ids differ and the exchange can't tell a duplicate; and a newcomer marks the other's
running cycle as interrupted. So a director holds an exclusive lock for as long as it lives.

The lock is on the database FILE itself (its inode, whatever name reaches it): a symlink, a
relative path or `..` all resolve to the same lock, because flock belongs to the open file,
not to the name. A second hard link is refused outright: SQLite names its -wal and -shm files
after the path, so two names of one database would each get their own write-ahead log and
corrupt it. The kernel drops a flock with the process, so a crash or a kill never leaves a
stale lock. (flock and SQLite's own fcntl byte-range locks are independent on Linux and the
BSDs, so this never blocks SQLite.) `<database>.lock` holds the holder's pid, for the message.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from director.store.connection import StoreError

log = logging.getLogger(__name__)

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]


class DatabaseInUse(StoreError):
    """Another live director holds this database."""


class DatabaseLinked(StoreError):
    """OMEGA_DB_PATH names a file that has another name (a hard link)."""


def resolve_db_path(db_path: Path) -> Path:
    """The database's one real name: symlinks and relative parts resolved."""
    return Path(os.path.realpath(db_path))


class InstanceLock:
    def __init__(self, path: Path, fd: int | None, identity: tuple[int, int] = (0, 0)) -> None:
        self.path = path  # the resolved database file
        self.identity = identity  # (st_dev, st_ino)
        self._fd = fd

    @classmethod
    def acquire(cls, db_path: Path) -> InstanceLock:
        """The lock, or DatabaseInUse naming the holder's pid, or DatabaseLinked. Never
        blocks. Creates an empty database file if there is none (SQLite takes it as new)."""
        real = resolve_db_path(db_path)
        if fcntl is None:  # pragma: no cover - not POSIX
            log.warning("no file locking on this platform: run one director per database")
            return cls(real, None)
        if real.is_dir():
            raise StoreError(f"{db_path} is a directory, not an SQLite database")
        try:
            fd = os.open(real, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(
                f"cannot open database {db_path} for writing: {exc.strerror or exc}"
            ) from None
        try:
            identity = _check_single_name(fd, db_path)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DatabaseInUse(
                f"{db_path} is in use by another omega-director (pid {_holder(real)}); stop it "
                "first, or point OMEGA_DB_PATH at another database"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        _write_holder(real)
        return cls(real, fd, identity)

    def release(self) -> None:
        """Idempotent. The pid file stays: removing it could race a newcomer's write."""
        fd, self._fd = self._fd, None
        if fd is None or fcntl is None:
            return
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _check_single_name(fd: int, db_path: Path) -> tuple[int, int]:
    stat = os.fstat(fd)
    if stat.st_nlink > 1:
        raise DatabaseLinked(
            f"OMEGA_DB_PATH {db_path} is one of {stat.st_nlink} hard links to the same file; "
            "a database must have one name (its -wal file is named after it): use the "
            "original path"
        )
    return stat.st_dev, stat.st_ino


def _pid_file(real: Path) -> Path:
    return real.with_name(real.name + ".lock")


def _holder(real: Path) -> str:
    with contextlib.suppress(OSError):
        return _pid_file(real).read_text("ascii", "replace").strip() or "unknown"
    return "unknown"


def _write_holder(real: Path) -> None:
    """Best effort: the lock is the flock; this only names its holder in the message."""
    try:
        fd = os.open(_pid_file(real), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        log.debug("could not write the lock's pid file: %s", exc)
        return
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
    finally:
        os.close(fd)
