"""The connections of threads that have ended are closed (the HTTP pool retires idle
threads and starts new ones: one connection kept per thread ever seen would grow
without bound in a long-running server)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from davserver.lockstore.sqlite import SqliteLockStore
from davserver.lockstore.sqlite_db import Database


def _in_a_thread(db: Database) -> sqlite3.Connection:
    """Use the store from a new thread that then ends; its connection."""
    box: list[sqlite3.Connection] = []

    def work() -> None:
        conn = db.connection()
        conn.execute("SELECT 1").fetchone()
        box.append(conn)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return box[0]


def test_connections_of_ended_threads_are_closed(tmp_path: Path) -> None:
    store = SqliteLockStore(tmp_path / "locks.sqlite")
    db = store._db
    try:
        ended = [_in_a_thread(db) for _ in range(20)]
        assert len(db._all) <= 2  # the opening thread's and the last one's
        for conn in ended[:-1]:
            with pytest.raises(sqlite3.ProgrammingError):
                conn.execute("SELECT 1")
        assert store.find("/", True, time.time()) == []  # this thread's still works
    finally:
        store.close()


def test_connections_of_live_threads_stay_open(tmp_path: Path) -> None:
    store = SqliteLockStore(tmp_path / "locks.sqlite")
    db = store._db
    release = threading.Event()
    opened: list[sqlite3.Connection] = []

    def hold() -> None:
        opened.append(db.connection())
        release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        while not opened:
            time.sleep(0.01)
        for _ in range(3):
            _in_a_thread(db)
        assert len(db._all) == 3  # the opening thread's, the holder's, the last one's
        assert opened[0].execute("SELECT 1").fetchone() == (1,)
    finally:
        release.set()
        holder.join()
        store.close()
