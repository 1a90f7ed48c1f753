"""Reads after writes: ``find`` and ``find_below`` show every change made before them.

SQLite keeps their results per thread while no connection has committed to the
file (``PRAGMA data_version``) and this process has not written it either; these
tests read first (so a result is kept), write, and read again — through the same
store, another store on the same file (another worker), and another thread.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from davserver.locking.model import Lock
from davserver.lockstore import Stores, open_stores
from davserver.lockstore import sqlite as sqlite_store
from davserver.lockstore.base import LockStore
from davserver.lockstore.codec import lock_from_json
from tests.backends.conftest import Harness
from tests.backends.helpers import grant, make_lock, tokens

Write = Callable[[LockStore, float, Lock], None]


def _insert(store: LockStore, now: float, old: Lock) -> None:
    new = make_lock("/a/b/new", now=now)
    store.insert_if(new.root, False, now, grant(new))


def _renew(store: LockStore, now: float, old: Lock) -> None:
    store.renew(old.token, now, lambda lock: replace(lock, expires_at=now + 1))


def _remove(store: LockStore, now: float, old: Lock) -> None:
    store.remove(old.token)


def _remove_tree(store: LockStore, now: float, old: Lock) -> None:
    store.remove_tree("/a/b")


def _held_remove_tree(store: LockStore, now: float, old: Lock) -> None:
    with store.hold_if([("/a/b", True)], now, lambda found: None) as held:
        held.remove_tree("/a/b")


WRITES: dict[str, Write] = {
    "insert": _insert,
    "renew": _renew,
    "remove": _remove,
    "remove_tree": _remove_tree,
    "held_remove_tree": _held_remove_tree,
}


def _seen(locks: list[Lock]) -> set[tuple[str, float | None]]:
    return {(lock.token, lock.expires_at) for lock in locks}


def _reads(store: LockStore, now: float) -> tuple[set[tuple[str, float | None]], ...]:
    return (
        _seen(store.find("/a/b/c", False, now)),
        _seen(store.find("/a/b", True, now)),
        _seen(store.find_below("/a", now)),
        _seen(store.find_below("/a/b", now)),
    )


def _check_seen(writer: LockStore, reader: LockStore, write: Write) -> None:
    now = time.time()
    old = make_lock("/a/b", now=now)
    writer.insert_if(old.root, False, now, grant(old))
    before = _reads(reader, now)
    assert before == _reads(reader, now)  # a second read: kept by SQLite
    assert all((old.token, old.expires_at) in found for found in before)
    write(writer, now, old)
    assert _reads(reader, now) == _reads(writer, now)
    assert _reads(reader, now) != before
    # expiry: a lock past its expires_at is gone from a later read, kept or not
    assert _reads(reader, now + 10_000) == (set(), set(), set(), set())


@pytest.mark.parametrize("write", WRITES)
def test_a_write_is_seen_by_the_next_read_of_the_same_store(harness: Harness, write: str) -> None:
    store = harness.opened[-1].locks
    _check_seen(store, store, WRITES[write])


@contextmanager
def _two(url: str, state_dir: Path) -> Iterator[tuple[Stores, Stores]]:
    one = open_stores(url, state_dir=state_dir)
    try:
        other = open_stores(url, state_dir=state_dir)
        try:
            yield one, other
        finally:
            other.close()
    finally:
        one.close()


@pytest.mark.parametrize("write", WRITES)
def test_a_write_through_one_store_is_seen_by_the_next_read_of_another(
    shared_url: tuple[str, Path], write: str
) -> None:
    """Two workers (two stores, two connections) on one file."""
    with _two(*shared_url) as (one, other):
        _check_seen(one.locks, other.locks, WRITES[write])
        _check_seen(other.locks, one.locks, WRITES[write])


def test_a_write_of_another_thread_is_seen_by_the_next_read(harness: Harness) -> None:
    store = harness.opened[-1].locks

    def elsewhere(writer: LockStore, now: float, old: Lock) -> None:
        failed: list[BaseException] = []

        def run() -> None:
            try:
                _remove(writer, now, old)
            except BaseException as exc:  # pragma: no cover - shown by the assert
                failed.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        assert not failed

    _check_seen(store, store, elsewhere)


def test_a_kept_read_is_filtered_by_each_callers_now(harness: Harness) -> None:
    now = time.time()
    store = harness.opened[-1].locks
    short = make_lock("/a/b", now=now, timeout=10)
    store.insert_if(short.root, False, now, grant(short))
    assert tokens(store.find("/a/b/c", False, now)) == {short.token}
    assert tokens(store.find_below("/a", now)) == {short.token}
    assert store.find("/a/b/c", False, now + 10) == []
    assert store.find_below("/a", now + 10) == []
    assert tokens(store.find("/a/b/c", False, now + 9)) == {short.token}


def test_sqlite_answers_a_repeated_read_without_querying_the_locks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stores = open_stores(f"sqlite://{tmp_path / 'stores.sqlite'}", state_dir=tmp_path)
    try:
        now = time.time()
        store = stores.locks
        lock = make_lock("/a/b", now=now)
        store.insert_if(lock.root, False, now, grant(lock))
        assert store.find("/a", True, now) == [lock]
        assert store.find_below("/a", now) == [lock]
        assert store.find("/a/b/c", False, now) == [lock]
        decoded: list[str | bytes] = []
        decode = lock_from_json

        def counted(text: str | bytes) -> Lock:
            decoded.append(text)
            return decode(text)

        monkeypatch.setattr(sqlite_store, "lock_from_json", counted)
        assert store.find("/a", True, now) == [lock]
        assert store.find_below("/a", now) == [lock]
        assert decoded == []
        store.remove(lock.token)
        assert store.find("/a", True, now) == []
    finally:
        stores.close()


def test_sqlite_data_version_is_what_the_cache_relies_on(tmp_path: Path) -> None:
    """Another connection's commit changes it, the connection's own does not."""
    path = tmp_path / "plain.sqlite"
    one, other = sqlite3.connect(path, isolation_level=None), sqlite3.connect(path)
    try:
        one.execute("PRAGMA journal_mode = WAL")
        one.execute("CREATE TABLE t (x)")

        def version() -> int:
            return int(one.execute("PRAGMA data_version").fetchone()[0])

        first = version()
        one.execute("INSERT INTO t VALUES (1)")
        assert version() == first
        with other:
            other.execute("INSERT INTO t VALUES (2)")
        assert version() != first
    finally:
        one.close()
        other.close()
