"""Behaviour particular to one backend: failure translation, Redis index hygiene."""

from __future__ import annotations

import socket
import sqlite3
import time
from pathlib import Path

import pytest

from davserver.errors import StoreUnavailable
from davserver.locking.maintenance import FreezeRequest, make_freeze, tombstone
from davserver.locking.model import Lock
from davserver.lockstore import open_stores, sqlite_db
from davserver.lockstore import redis as redis_store
from davserver.lockstore import sqlite as sqlite_store
from davserver.lockstore.base import LEGACY_ANONYMOUS_HOLDER, holder_of, quota_holder
from davserver.lockstore.codec import lock_to_json
from davserver.lockstore.generation import Generation
from tests.backends.helpers import grant, make_lock, tokens

# The schema davserver wrote before lock quotas (user_version 2): no holder column.
SCHEMA_2 = """
CREATE TABLE locks (token TEXT PRIMARY KEY, root TEXT NOT NULL, expires_at REAL,
                    data TEXT NOT NULL);
CREATE INDEX locks_by_root ON locks (root);
CREATE INDEX locks_by_expiry ON locks (expires_at);
CREATE TABLE props (path TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
                    PRIMARY KEY (path, name)) WITHOUT ROWID;
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""


def _schema_2_database(path: Path, locks: list[Lock], now: float) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.executescript(SCHEMA_2)
        conn.executemany(
            "INSERT INTO locks (token, root, expires_at, data) VALUES (?, ?, ?, ?)",
            [(lock.token, lock.root, lock.expires_at, lock_to_json(lock)) for lock in locks],
        )
        generation = Generation.new(now).to_json()
        conn.execute("INSERT INTO meta (key, value) VALUES ('generation', ?)", (generation,))
        conn.execute("PRAGMA user_version = 2")
    finally:
        conn.close()


def test_sqlite_schema_2_upgrades_in_place_and_counts_its_locks(tmp_path: Path) -> None:
    now = time.time()
    held = [make_lock("/a", now=now), make_lock("/b", now=now, timeout=None)]
    anonymous = make_lock("/c", now=now, principal=None, address="192.0.2.1")
    expired = make_lock("/d", now=now - 1000, timeout=10)
    broken = tombstone(make_lock("/e", now=now), "admin", "stuck", now, 3600)
    frozen = make_freeze(make_lock("/m", now=now).token, FreezeRequest("/m", "fsck", "alice"), now)
    old = [*held, anonymous, expired, broken, frozen]
    path = tmp_path / "old.sqlite"
    _schema_2_database(path, old, now)

    stores = open_stores(f"sqlite://{path}", state_dir=tmp_path)
    try:
        for lock in old:
            if lock is not expired:
                assert stores.locks.get(lock.token, now) == lock  # every lock kept
        assert stores.locks.count_held("alice", now) == 2
        assert stores.locks.count_held(holder_of(None, "192.0.2.1"), now) == 1
        added = make_lock("/x", now=now)
        stores.locks.insert_if("/x", False, now, grant(added))
        assert stores.locks.count_held("alice", now) == 3
    finally:
        stores.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (sqlite_db.SCHEMA_VERSION,)
        assert _locks_table_layout(conn) == LAYOUT_4
    reopened = open_stores(f"sqlite://{path}", state_dir=tmp_path)  # upgraded once only
    try:
        assert reopened.locks.count_held("alice", now) == 3
    finally:
        reopened.close()


LAYOUT_4 = ("WITHOUT ROWID", {"locks_by_root", "locks_by_expiry", "locks_by_holder"})


def _locks_table_layout(conn: sqlite3.Connection) -> tuple[str, set[str]]:
    (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'locks'").fetchone()
    indexes = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'locks'"
        " AND sql IS NOT NULL"
    ).fetchall()
    return ("WITHOUT ROWID" if "WITHOUT ROWID" in sql else "rowid", {name for (name,) in indexes})


def test_sqlite_schema_3_is_rebuilt_without_rowid_keeping_every_lock(tmp_path: Path) -> None:
    now = time.time()
    held = [make_lock(f"/f{i}", now=now) for i in range(50)]
    held.append(make_lock("/anon", now=now, principal=None))
    path = tmp_path / "v3.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    try:  # the schema davserver wrote at version 3: a rowid table
        conn.executescript(SCHEMA_2)
        conn.execute("ALTER TABLE locks ADD COLUMN holder TEXT")
        conn.execute("CREATE INDEX locks_by_holder ON locks (holder)")
        conn.executemany(
            "INSERT INTO locks (token, root, expires_at, data, holder) VALUES (?, ?, ?, ?, ?)",
            [
                (lock.token, lock.root, lock.expires_at, lock_to_json(lock), quota_holder(lock))
                for lock in held
            ],
        )
        generation = Generation.new(now).to_json()
        conn.execute("INSERT INTO meta (key, value) VALUES ('generation', ?)", (generation,))
        conn.execute("PRAGMA user_version = 3")
        assert _locks_table_layout(conn)[0] == "rowid"
    finally:
        conn.close()

    stores = open_stores(f"sqlite://{path}", state_dir=tmp_path)
    try:
        assert {lock.token: lock for lock in stores.locks.all_locks(now)} == {
            lock.token: lock for lock in held
        }
        assert stores.locks.count_held("alice", now) == 50
        assert [lock.token for lock in stores.locks.find("/f7", False, now)] == [held[7].token]
        assert stores.locks.remove(held[0].token) == held[0]
    finally:
        stores.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (sqlite_db.SCHEMA_VERSION,)
        assert _locks_table_layout(conn) == LAYOUT_4
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.parametrize("returning", [True, False], ids=["RETURNING", "before-3.35"])
def test_sqlite_removal_returns_what_it_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, returning: bool
) -> None:
    """UNLOCK and the removal of a tree give back the locks they deleted, in one
    statement where SQLite has RETURNING and in two where it is older."""
    monkeypatch.setattr(sqlite_store, "_HAS_RETURNING", returning)
    store = sqlite_store.SqliteLockStore(tmp_path / "locks.db")
    try:
        now = time.time()
        locks = [make_lock(root, now=now) for root in ("/a", "/a/b", "/a/c", "/ab", "/z")]
        for lock in locks:
            store.insert_if(lock.root, False, now, grant(lock))
        assert store.remove(locks[4].token) == locks[4]
        assert store.remove(locks[4].token) is None
        assert tokens(store.remove_tree("/a")) == tokens(locks[:3])
        assert tokens(store.all_locks(now)) == {locks[3].token}
    finally:
        store.close()


def test_sqlite_busy_is_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_db, "BUSY_TIMEOUT_MS", 50)
    store = sqlite_store.SqliteLockStore(tmp_path / "busy.db")
    other = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        now = time.time()
        with pytest.raises(StoreUnavailable):
            store.insert_if("/a", False, now, grant(make_lock("/a", now=now)))
        assert store.find("/a", True, now) == []  # WAL: readers are not blocked
    finally:
        other.execute("ROLLBACK")
        other.close()
        store.close()


def test_redis_connection_errors_are_unavailable_fast() -> None:
    started = time.monotonic()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client, _ = redis_store.connect(f"redis://127.0.0.1:{port}/0")
    locks = redis_store.RedisLockStore(client)
    props = redis_store.RedisPropertyStore(client)
    now = time.time()
    with pytest.raises(StoreUnavailable):
        locks.find("/a", True, now)
    with pytest.raises(StoreUnavailable):
        locks.insert_if("/a", False, now, grant(make_lock("/a", now=now)))
    with pytest.raises(StoreUnavailable):
        props.get_all("/a")
    with pytest.raises(StoreUnavailable):
        props.copy_tree("/a", "/b")
    assert time.monotonic() - started < 3  # a dead Redis must not hang request threads


@pytest.fixture
def redis_stores(redis_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    client, _ = redis_store.connect(redis_url)
    for key in client.keys("specific:*"):  # left by an earlier test; before opening:
        client.delete(key)  # emptying an open store is a fault (it lost its data)
    stores = open_stores(redis_url + "?prefix=specific:", state_dir=tmp_path)
    yield stores, client
    stores.close()
    for key in client.keys("specific:*"):
        client.delete(key)
    client.close()


# Beside the locks: the generation record and the write counter (redis_guard).
GUARD_KEYS = {"specific:generation", "specific:seq"}


def test_redis_key_layout_and_ttl(redis_stores) -> None:  # type: ignore[no-untyped-def]
    stores, client = redis_stores
    now = time.time()
    timed = make_lock("/a/b", now=now, timeout=100)
    forever = make_lock("/a", now=now, timeout=None)
    stores.locks.insert_if("/a/b", False, now, grant(timed))
    stores.locks.insert_if("/a", False, now, grant(forever))
    expected_ms = (now + 100 + redis_store.TTL_GRACE_S) * 1000
    assert abs(client.pexpiretime(f"specific:lock:{timed.token}") - expected_ms) < 2
    assert client.pttl(f"specific:lock:{forever.token}") == -1
    assert client.smembers("specific:root:/a/b") == {timed.token}
    assert client.smembers("specific:below:/") == {"/a", "/a/b"}
    assert client.smembers("specific:below:/a/b") == {"/a/b"}
    assert client.smembers("specific:held:alice") == {timed.token, forever.token}
    assert "{" in client.get(f"specific:lock:{timed.token}")  # JSON, not a pickle
    stores.locks.remove(timed.token)
    stores.locks.remove(forever.token)
    assert set(client.keys("specific:*")) == GUARD_KEYS  # the index is left empty, not stale


def test_redis_stale_index_entries_are_ignored_and_cleaned(redis_stores) -> None:  # type: ignore[no-untyped-def]
    stores, client = redis_stores
    now = time.time()
    gone = make_lock("/d/f", now=now)
    stores.locks.insert_if("/d/f", False, now, grant(gone))
    client.delete(f"specific:lock:{gone.token}")  # as if its TTL fired
    assert stores.locks.find("/d", True, now) == []
    # The holder's set cannot be cleaned by a path lookup: counting prunes it.
    assert stores.locks.count_held("alice", now) == 0
    assert set(client.keys("specific:*")) == GUARD_KEYS
    stores.locks.insert_if("/d/f", False, now, grant(gone))
    client.delete(f"specific:lock:{gone.token}")
    fresh = make_lock("/d", now=now)
    seen: list[object] = []
    stores.locks.insert_if("/d", True, now, grant(fresh, seen))  # type: ignore[arg-type]
    assert seen == []
    assert tokens(stores.locks.all_locks(now)) == {fresh.token}
    assert client.smembers("specific:below:/") == {"/d"}


# --- anonymous quotas per address: locks stored while all anonymous clients shared one ---


def test_sqlite_anonymous_locks_of_the_shared_quota_count_for_their_address(
    tmp_path: Path,
) -> None:
    now = time.time()
    url = f"sqlite://{tmp_path / 'locks.sqlite'}"
    old = [make_lock(f"/a{i}", now=now, principal=None, address="192.0.2.1") for i in range(2)]
    short = make_lock("/b", now=now, principal=None, address="192.0.2.2", timeout=10)
    stores = open_stores(url, state_dir=tmp_path)
    for lock in [*old, short]:
        stores.locks.insert_if(lock.root, False, now, grant(lock))
    stores.close()
    with sqlite3.connect(tmp_path / "locks.sqlite") as conn:  # as the server before wrote them
        conn.execute("UPDATE locks SET holder = ?", (LEGACY_ANONYMOUS_HOLDER,))

    stores = open_stores(url, state_dir=tmp_path)
    try:
        assert stores.locks.count_held(holder_of(None, "192.0.2.1"), now) == 2
        assert stores.locks.count_held(holder_of(None, "192.0.2.2"), now) == 1
        assert stores.locks.count_held(holder_of(None, "192.0.2.2"), now + 10) == 0  # expires
        assert stores.locks.count_held(LEGACY_ANONYMOUS_HOLDER, now) == 0
        assert stores.locks.purge_expired(now + 10) == 1
        assert stores.locks.remove(old[0].token) == old[0]
        assert stores.locks.count_held(holder_of(None, "192.0.2.1"), now) == 1
    finally:
        stores.close()


def test_redis_anonymous_locks_of_the_shared_quota_count_for_their_address(
    redis_stores,  # type: ignore[no-untyped-def]
) -> None:
    stores, client = redis_stores
    now = time.time()
    old = [make_lock(f"/a{i}", now=now, principal=None, address="192.0.2.1") for i in range(2)]
    short = make_lock("/b", now=now, principal=None, address="192.0.2.2", timeout=10)
    for lock in [*old, short]:
        stores.locks.insert_if(lock.root, False, now, grant(lock))
    for lock in [*old, short]:  # as the server before wrote them: one set for all
        client.smove(f"specific:held:{quota_holder(lock)}", "specific:held::anonymous", lock.token)

    assert stores.locks.count_held(holder_of(None, "192.0.2.1"), now) == 2
    assert stores.locks.count_held(holder_of(None, "192.0.2.2"), now + 10) == 0  # expired
    assert client.scard("specific:held::anonymous") == 0  # moved once, then empty
    assert stores.locks.remove(old[0].token) == old[0]
    assert stores.locks.count_held(holder_of(None, "192.0.2.1"), now) == 1
