from __future__ import annotations

import os
from pathlib import Path

import pytest

from director.store.instance_lock import DatabaseInUse, DatabaseLinked, InstanceLock


def test_one_holder_at_a_time_and_the_error_names_it(tmp_path: Path) -> None:
    db = tmp_path / "omega.db"
    first = InstanceLock.acquire(db)
    assert (tmp_path / "omega.db.lock").read_text() == f"{os.getpid()}\n"
    with pytest.raises(DatabaseInUse, match=rf"omega.db is in use .*\(pid {os.getpid()}\)"):
        InstanceLock.acquire(db)
    InstanceLock.acquire(tmp_path / "other.db").release()  # another database is another lock
    first.release()
    first.release()  # idempotent
    second = InstanceLock.acquire(db)
    second.release()


def test_the_lock_follows_the_file_not_its_name(tmp_path: Path) -> None:
    db = tmp_path / "omega.db"
    first = InstanceLock.acquire(db)
    try:
        (tmp_path / "alias.db").symlink_to(db)
        (tmp_path / "sub").mkdir()
        for other in (tmp_path / "alias.db", tmp_path / "sub" / ".." / "omega.db"):
            with pytest.raises(DatabaseInUse):
                InstanceLock.acquire(other)
        assert first.path == db.resolve()
        assert first.identity == (db.stat().st_dev, db.stat().st_ino)
    finally:
        first.release()


def test_a_second_hard_link_is_refused_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "omega.db"
    db.touch()
    os.link(db, tmp_path / "second.db")
    for name in (db, tmp_path / "second.db"):
        with pytest.raises(DatabaseLinked, match="one of 2 hard links") as caught:
            InstanceLock.acquire(name)
        assert "\n" not in str(caught.value)


def test_a_missing_database_is_created_empty_and_locked(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    lock = InstanceLock.acquire(db)
    try:
        assert db.exists() and db.stat().st_size == 0
    finally:
        lock.release()
