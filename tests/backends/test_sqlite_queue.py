"""Writers of one SQLite file from several processes queue in the kernel (flock),
never in SQLite's sleeping busy handler; the queue is only ever a courtesy."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

from davserver.lockstore.sqlite_db import Database
from davserver.lockstore.sqlite_queue import WriterQueue

FORK = multiprocessing.get_context("fork")


def _write_many(path: str, rounds: int, ready: object, start: object, failures: object) -> None:
    db = Database(Path(path))  # opening writes too (outside the queue): all open first
    # No busy timeout at all: a writer that found another one inside a transaction
    # would fail at once ("database is locked").
    db.connection().execute("PRAGMA busy_timeout = 0")
    ready.put(True)  # type: ignore[attr-defined]
    start.wait()  # type: ignore[attr-defined]
    failed = 0
    for _ in range(rounds):
        try:
            db.ensure_writable()  # BEGIN IMMEDIATE, one INSERT, COMMIT
        except Exception:
            failed += 1
    failures.put(failed)  # type: ignore[attr-defined]
    db.close()


def test_writers_in_several_processes_never_meet_a_busy_database(tmp_path: Path) -> None:
    # The queue must keep writers from ever meeting inside SQLite (without it
    # this fails at once).
    path = tmp_path / "locks.sqlite"
    Database(path).close()
    ready, start, failures = FORK.Queue(), FORK.Event(), FORK.Queue()
    workers = [
        FORK.Process(target=_write_many, args=(str(path), 200, ready, start, failures))
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.get(timeout=60)
    start.set()
    results = [failures.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    assert results == [0, 0, 0]
    assert (tmp_path / "locks.sqlite-writers").exists()


def _hold(path: str, seconds: float, held: object) -> None:
    queue = WriterQueue(path)
    with queue:
        held.set()  # type: ignore[attr-defined]
        time.sleep(seconds)


def test_a_writer_waits_for_the_one_in_another_process_and_no_longer(tmp_path: Path) -> None:
    database = str(tmp_path / "locks.sqlite")
    queue = WriterQueue(database)
    with queue:  # opened here first: a forked child must not share this lock
        pass
    held = FORK.Event()
    child = FORK.Process(target=_hold, args=(database, 0.5, held))
    child.start()
    try:
        assert held.wait(10)
        began = time.monotonic()
        with queue:
            waited = time.monotonic() - began
        assert 0.3 < waited < 5, waited
    finally:
        child.join(10)
    assert child.exitcode == 0


def test_threads_of_one_process_queue_too(tmp_path: Path) -> None:
    import threading

    queue = WriterQueue(str(tmp_path / "locks.sqlite"))
    inside: list[int] = []
    overlap: list[int] = []

    def write() -> None:
        for _ in range(50):
            with queue:
                inside.append(1)
                if len(inside) > 1:
                    overlap.append(1)
                time.sleep(0.001)  # lets the other threads run: they must wait outside
                inside.pop()

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlap == []


def test_a_queue_file_that_cannot_be_opened_only_costs_the_queue(tmp_path: Path) -> None:
    # A symlink planted in its place is not followed; writes still go through
    # SQLite's own locking.
    database = tmp_path / "locks.sqlite"
    target = tmp_path / "elsewhere"
    os.symlink(target, f"{database}-writers")
    db = Database(database)
    try:
        db.ensure_writable()
        db.ensure_writable()
    finally:
        db.close()
    assert not target.exists()
