"""Faults of the SQLite file under a running store, set up for real.

Replaced and moved files, immutable files (``chattr +i``: without the guard a
store into the memory-mapped ``-shm`` file kills the process with SIGBUS — here
that would kill pytest), a read-only file system at start, and a file system
that fails while the store runs (ext4's own error path, errors=remount-ro).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from davserver.errors import StartupError, StoreUnavailable
from davserver.lockstore import Role, Stores, health, open_stores, sqlite_files
from tests.backends.faults import (
    immutable,
    immutable_capable,
    loop_ext4,
    remount_read_only,
    trigger_fs_error,
)
from tests.backends.helpers import grant, make_lock, tokens

CHECK_PAUSE = sqlite_files.CHECK_INTERVAL + 0.01


@pytest.fixture(autouse=True)
def quick_recheck(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "RECHECK_INTERVAL", 0.05)


def open_at(folder: Path, state: Path | None = None) -> Stores:
    return open_stores(f"sqlite://{folder}/locks.sqlite", state_dir=state or folder)


def insert(stores: Stores, root: str) -> str:
    now = time.time()
    lock = make_lock(root, now=now)
    stores.locks.insert_if(root, False, now, grant(lock))
    return lock.token


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "davserver.lockstore" and r.levelno == logging.WARNING
    ]


def test_a_replaced_file_refuses_the_next_write_at_once(tmp_path: Path) -> None:
    stores = open_at(tmp_path)
    token = insert(stores, "/held")
    (tmp_path / "other").mkdir()
    other = open_at(tmp_path / "other")
    insert(other, "/foreign")
    other.close()
    os.replace(tmp_path / "other" / "locks.sqlite", tmp_path / "locks.sqlite")
    with pytest.raises(StoreUnavailable, match="replaced"):
        insert(stores, "/new")  # no pause: a write checks under the write lock
    # The old -wal and -shm files are still beside it: read the replacement alone.
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "copy.sqlite").write_bytes((tmp_path / "locks.sqlite").read_bytes())
    with sqlite3.connect(alone / "copy.sqlite") as conn:
        roots = {row[0] for row in conn.execute("SELECT root FROM locks")}
    assert roots == {"/foreign"}  # nothing was written into the replacement
    time.sleep(CHECK_PAUSE)
    with pytest.raises(StoreUnavailable):
        stores.locks.get(token, time.time())
    stores.close()


def test_a_file_moved_away_and_back_is_the_same_store(tmp_path: Path) -> None:
    stores = open_at(tmp_path)
    token = insert(stores, "/held")
    os.rename(tmp_path / "locks.sqlite", tmp_path / "aside.sqlite")
    with pytest.raises(StoreUnavailable, match="deleted"):
        insert(stores, "/new")
    os.rename(tmp_path / "aside.sqlite", tmp_path / "locks.sqlite")
    time.sleep(0.06)
    assert tokens(stores.locks.all_locks(time.time())) == {token}  # no confirm needed
    stores.close()


@pytest.fixture
def capable(tmp_path: Path) -> Iterator[Path]:
    with immutable_capable(tmp_path / "db") as folder:
        yield folder


def files(folder: Path) -> list[Path]:
    return [folder / name for name in ("locks.sqlite", "locks.sqlite-wal", "locks.sqlite-shm")]


@pytest.mark.e2e
def test_immutable_files_are_refused_without_a_crash(
    capable: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stores = open_at(capable)
    token = insert(stores, "/held")
    with immutable(*files(capable)):
        time.sleep(CHECK_PAUSE)  # a quiet moment: the next request's first call checks
        for _ in range(3):
            with pytest.raises(StoreUnavailable, match="cannot be written"):
                stores.locks.find("/held", False, time.time())
            with pytest.raises(StoreUnavailable):
                insert(stores, "/new")
        assert len(warnings_of(caplog)) == 1
        assert "immutable" in warnings_of(caplog)[0]
    time.sleep(0.06)
    assert tokens(stores.locks.find("/held", False, time.time())) == {token}
    insert(stores, "/after")  # the flag cleared, the store takes writes again
    stores.close()


@pytest.mark.e2e
def test_an_immutable_database_file_alone_is_refused(capable: Path) -> None:
    stores = open_at(capable)
    insert(stores, "/held")
    with immutable(capable / "locks.sqlite"):
        time.sleep(CHECK_PAUSE)
        with pytest.raises(StoreUnavailable):
            insert(stores, "/new")  # WAL would take it: refused all the same
        with pytest.raises(StartupError, match="immutable"):
            open_at(capable, capable / "state2")
    stores.close()


@pytest.mark.e2e
def test_a_read_only_file_system_is_refused_at_start(tmp_path: Path) -> None:
    with loop_ext4(tmp_path / "fs") as mounted:
        stores = open_at(mounted, tmp_path)
        insert(stores, "/held")
        stores.close()
        remount_read_only(mounted)
        with pytest.raises(StartupError, match="read-only file system"):
            open_at(mounted, tmp_path)


@pytest.mark.e2e
def test_a_failing_file_system_refuses_writes_and_then_everything(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with loop_ext4(tmp_path / "fs") as mounted:
        stores = open_at(mounted, tmp_path)
        token = insert(stores, "/held")
        trigger_fs_error(mounted)
        with pytest.raises(StoreUnavailable):
            stores.locks.ensure_writable()  # what DELETE and MOVE ask before files change
        with pytest.raises(StoreUnavailable):
            stores.locks.get(token, time.time())  # reads would work; the store is broken
        assert len(warnings_of(caplog)) == 1
        stores.close()


def test_admin_and_check_never_create_the_database(tmp_path: Path) -> None:
    for role in (Role.ADMIN, Role.CHECK):
        with pytest.raises(StartupError, match="does not exist"):
            open_stores(f"sqlite://{tmp_path}/locks.sqlite", state_dir=tmp_path, role=role)
    assert not (tmp_path / "locks.sqlite").exists()
