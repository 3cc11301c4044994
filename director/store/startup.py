"""Opening the database at start-up: locked first, then checked, or refused in one line.

Whatever is wrong with the database — another director on it (by any name), a second hard
link, not SQLite, a corrupt page, a read-only file or folder, another program holding a write
lock — start-up stops with one StoreError line naming the file and the problem (the command
line prints it and exits 2), never a traceback, and never after trading started.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from director.store.connection import StoreError
from director.store.facade import Store
from director.store.instance_lock import InstanceLock

log = logging.getLogger(__name__)


async def open_database(db_path: Path) -> tuple[Store, InstanceLock]:
    """The store, opened under this process's instance lock, proven readable and writable."""
    lock = InstanceLock.acquire(db_path)
    try:
        store = await Store.open(lock.path)
    except BaseException:
        lock.release()
        raise
    try:
        await check_usable(store, db_path)
    except BaseException:
        await store.close()
        lock.release()
        raise
    return store, lock


async def check_usable(store: Store, shown: Path) -> None:
    """A quick integrity check (every page's structure, not every index entry) and a write
    probe, so a corrupt or unwritable database is refused now instead of mid-cycle."""
    try:
        rows = await store.fetch("PRAGMA quick_check(1)")
        verdict = " ".join(str(rows[0][0]).split()) if rows else "no answer"
        if verdict != "ok":
            raise StoreError(f"database {shown} is corrupt ({verdict}); restore it from a backup")
        async with store.transaction():
            pass  # BEGIN IMMEDIATE: fails when the file, its folder or its lock is not ours
    except sqlite3.Error as exc:
        raise StoreError(f"database {shown} is unusable: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if "readonly" in text or "read-only" in text:
        return f"{text} (check the file's and its folder's permissions)"
    if "unable to open" in text:
        return f"{text} (SQLite must create its -wal file next to it: check the folder)"
    if "locked" in text:
        return f"{text} (another program holds a write lock on it: close it, then start again)"
    return text
