from __future__ import annotations

import os
from pathlib import Path

import pytest

from director.instance_lock import DatabaseInUse, InstanceLock


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
