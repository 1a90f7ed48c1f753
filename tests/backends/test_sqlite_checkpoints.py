"""A server's lock database is checkpointed by a background thread, not inside
request commits; what was committed reaches the database file within a second."""

from __future__ import annotations

import multiprocessing
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from davserver.lockstore.sqlite import SqliteLockStore
from davserver.lockstore.sqlite_checkpoints import INTERVAL, Checkpointer
from tests.backends.helpers import grant, make_lock

FORK = multiprocessing.get_context("fork")


def _rows_in_main_file(database: Path, scratch: Path) -> int:
    """Locks in the database file alone: a copy without its -wal file."""
    copy = scratch / "copy.sqlite"
    shutil.copyfile(database, copy)
    conn = sqlite3.connect(copy)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM locks").fetchone()[0])
    except sqlite3.OperationalError:  # not even the table is in it yet
        return 0
    finally:
        conn.close()


def test_committed_locks_reach_the_database_file_within_a_second(tmp_path: Path) -> None:
    database = tmp_path / "locks.sqlite"
    store = SqliteLockStore(database)
    try:
        now = time.time()
        for index in range(300):  # ~1,200 WAL pages: below the in-commit backstop
            lock = make_lock(f"/f{index}", now=now)
            store.insert_if(lock.root, False, now, grant(lock))
        deadline = time.monotonic() + 4 * INTERVAL + 5
        while _rows_in_main_file(database, tmp_path) < 300:
            assert time.monotonic() < deadline, "the WAL was never checkpointed"
            time.sleep(0.1)
        assert len(store.all_locks(now)) == 300
    finally:
        store.close()


def test_checkpoints_run_only_after_writes() -> None:
    calls: list[float] = []
    checkpointer = Checkpointer(lambda: calls.append(time.monotonic()), interval=0.05)
    try:
        checkpointer.written()
        time.sleep(0.3)
        assert len(calls) == 1  # one write, one checkpoint, however long it stays idle
        checkpointer.written()
        checkpointer.written()
        time.sleep(0.3)
        assert len(calls) == 2
    finally:
        checkpointer.stop()


def test_a_failing_checkpoint_does_not_stop_the_thread() -> None:
    calls: list[int] = []

    def checkpoint() -> None:
        calls.append(1)
        raise sqlite3.OperationalError("database is locked")

    checkpointer = Checkpointer(checkpoint, interval=0.05)
    try:
        checkpointer.written()
        time.sleep(0.2)
        checkpointer.written()
        time.sleep(0.2)
        assert len(calls) == 2
    finally:
        checkpointer.stop()


def _child(checkpointer: Checkpointer, done: object) -> None:
    happened = threading.Event()
    checkpointer._checkpoint = happened.set  # type: ignore[method-assign]
    checkpointer.written()
    if happened.wait(5):
        done.set()  # type: ignore[attr-defined]


@pytest.mark.e2e
def test_a_forked_worker_gets_a_thread_of_its_own() -> None:
    checkpointer = Checkpointer(lambda: None, interval=0.05)
    checkpointer.written()  # the parent's thread, which a fork does not copy
    done = FORK.Event()
    child = FORK.Process(target=_child, args=(checkpointer, done))
    child.start()
    child.join(10)
    checkpointer.stop()
    assert done.is_set()
