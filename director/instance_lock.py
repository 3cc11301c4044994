"""One director per database.

Two directors on one database would both trade: each numbers its own cycles, so their client
order ids differ and the exchange can't tell a duplicate; and a newcomer marks the other's
running cycle as interrupted. So a director holds an exclusive lock on `<database>.lock` for as
long as it lives. The lock is the kernel's (flock): it goes with the process, so a crash or a
kill never leaves a stale lock behind. The file holds the holder's pid, for the error message.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from director.store import StoreError

log = logging.getLogger(__name__)

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]


class DatabaseInUse(StoreError):
    """Another live director holds this database."""


class InstanceLock:
    def __init__(self, path: Path, fd: int | None) -> None:
        self.path = path
        self._fd = fd

    @classmethod
    def acquire(cls, db_path: Path) -> InstanceLock:
        """The lock, or DatabaseInUse naming the holder's pid. Never blocks."""
        path = db_path.with_name(db_path.name + ".lock")
        if fcntl is None:  # pragma: no cover - not POSIX
            log.warning("no file locking on this platform: run one director per database")
            return cls(path, None)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise DatabaseInUse(
                f"{db_path} is in use by another omega-director (pid {holder}); stop it first, "
                "or point OMEGA_DB_PATH at another database"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return cls(path, fd)

    def release(self) -> None:
        """Idempotent. The file stays: removing it could race a newcomer's lock on it."""
        fd, self._fd = self._fd, None
        if fd is None or fcntl is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
