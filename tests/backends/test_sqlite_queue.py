"""Writers of one SQLite file from several processes queue in the kernel (flock),
never in SQLite's sleeping busy handler; the queue is only ever a courtesy."""

from __future__ import annotations

import fcntl
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from davserver.errors import StoreUnavailable
from davserver.lockstore.sqlite_db import Database
from davserver.lockstore.sqlite_queue import SUFFIX, WriterQueue

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


@pytest.mark.e2e
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


@pytest.mark.e2e
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


# --- the bounded wait (lock_store_write_wait) ------------------------------------------


class Holder:
    """The writers' queue held by another open file (as by a stuck process: flock
    belongs to the open file, so this conflicts with the store's own)."""

    def __init__(self, database: Path):
        self.fd = os.open(f"{database}{SUFFIX}", os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def release(self) -> None:
        os.close(self.fd)


def finishes(action: Callable[[], object], within: float) -> BaseException | None:
    """Run ``action`` in a thread; what it raised (None: nothing), or a failure of
    the test if it did not finish ``within`` seconds (an unbounded wait)."""
    raised: list[BaseException | None] = []

    def run() -> None:
        try:
            action()
        except BaseException as exc:  # handed to the test
            raised.append(exc)
        else:
            raised.append(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(within)
    assert raised, f"still waiting after {within} s: the wait is not bounded"
    return raised[0]


def _marked(db: Database) -> list[tuple[str]]:
    with db.read() as conn:
        return conn.execute("SELECT value FROM meta WHERE key = 'marker'").fetchall()


def _mark(db: Database) -> None:
    with db.write() as conn:
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('marker', 'x')")


def test_a_stuck_writer_makes_a_write_give_up_after_the_wait_with_nothing_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "locks.sqlite"
    db = Database(database, write_wait=0.3)
    holder = Holder(database)
    try:
        began = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="davserver.lockstore"):
            raised = finishes(lambda: _mark(db), within=10)
            assert isinstance(raised, StoreUnavailable), raised
            waited = time.monotonic() - began
            assert 0.25 < waited < 5, waited
            assert raised.retry_after > 0
            assert "busy" in str(raised)
            # A second write in the same episode: refused the same way, logged once.
            assert isinstance(finishes(lambda: _mark(db), within=10), StoreUnavailable)
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1, warnings
        assert "0.3 s" in warnings[0] and "store.write_wait" in warnings[0]
        assert _marked(db) == []
    finally:
        holder.release()
    # The given-up wait lets go as soon as it gets the queue: others write again.
    assert finishes(lambda: _mark(db), within=10) is None
    assert _marked(db) == [("x",)]
    other = Database(database, write_wait=5)
    try:
        assert finishes(lambda: other.ensure_writable(), within=10) is None
    finally:
        other.close()
        db.close()


def test_a_given_up_wait_does_not_keep_the_queue_from_other_processes(tmp_path: Path) -> None:
    database = tmp_path / "locks.sqlite"
    db = Database(database, write_wait=0.1)
    holder = Holder(database)
    try:
        assert isinstance(finishes(lambda: _mark(db), within=10), StoreUnavailable)
    finally:
        holder.release()
    # The helper thread of this process got the queue after the release and must
    # have let go at once: a blocking flock elsewhere returns.
    assert finishes(lambda: Holder(database).release(), within=10) is None


def test_a_thread_of_the_same_process_inside_a_write_bounds_the_wait_too(tmp_path: Path) -> None:
    queue = WriterQueue(str(tmp_path / "locks.sqlite"), wait=0.2)
    entered, leave = threading.Event(), threading.Event()

    def write() -> None:
        with queue:
            entered.set()
            leave.wait(30)

    inside = threading.Thread(target=write)
    inside.start()
    try:
        assert entered.wait(10)
        raised = finishes(queue.__enter__, within=10)
        assert isinstance(raised, StoreUnavailable), raised
    finally:
        leave.set()
        inside.join(10)
    assert finishes(queue.__enter__, within=10) is None
    queue.__exit__()


def test_contended_waits_share_one_helper_thread_that_close_ends(tmp_path: Path) -> None:
    # Each wait that meets a busy queue is handed to one helper thread kept for
    # the process (a thread started per wait cost more than the write).
    database = tmp_path / "locks.sqlite"
    queue = WriterQueue(str(database), wait=10)
    helpers: set[threading.Thread] = set()
    for _ in range(3):
        holder = Holder(database)
        entered = threading.Event()

        def write(entered: threading.Event = entered) -> None:
            with queue:
                entered.set()

        writer = threading.Thread(target=write)
        writer.start()
        deadline = time.monotonic() + 10
        while queue._helper is None and time.monotonic() < deadline:  # the wait began
            time.sleep(0.01)
        assert not entered.is_set()  # the other open file still holds the queue
        holder.release()
        assert entered.wait(10)
        writer.join(10)
        assert queue._helper is not None
        helpers.add(queue._helper)
    assert len(helpers) == 1
    (helper,) = helpers
    queue.close()
    helper.join(10)
    assert not helper.is_alive()
