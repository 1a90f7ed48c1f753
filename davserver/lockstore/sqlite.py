"""SQLite stores: one file shared by every thread of every worker process.

Why it is safe across processes: WAL mode lets readers proceed while one writer
writes, ``busy_timeout`` makes contending writers wait instead of failing, and
:meth:`SqliteLockStore.insert_if` takes the write lock up front with
``BEGIN IMMEDIATE`` so the read, the ``decide`` call and the insert form one
serialisable transaction.  :meth:`SqliteLockStore.hold_if` keeps such a
transaction (and the writers' queue) open across the caller's block, so every
LOCK of every process waits for it; property writes of that thread inside the
block join the transaction (a PROPPATCH commits with its lock check).
Connections are per thread (cheroot serves requests on a thread pool and a
sqlite3 connection must not be shared between threads).
What can go wrong with the file itself — deleted, replaced, read-only,
immutable — is guarded in :mod:`davserver.lockstore.sqlite_db`.

Every lookup is a range or equality on an index: ancestors are ``root IN (…)``
and descendants ``lo < root < hi`` (see :mod:`davserver.lockstore.paths`); a
user's locks are ``holder = ?`` (their quota holder, NULL for freezes and tombstones).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from davserver.locking.model import Lock
from davserver.lockstore import sqlite_props as props
from davserver.lockstore.base import Check, Decide, Quota, Release, Renew, Scopes, quota_holder
from davserver.lockstore.codec import lock_from_json, lock_to_json
from davserver.lockstore.paths import (
    check_inserted_root,
    check_same_root,
    self_and_ancestors,
    subtree_bounds,
)
from davserver.lockstore.sqlite_db import Database

_ACTIVE = "(expires_at IS NULL OR expires_at > ?)"
CACHED_READS = 64  # results kept per thread (a folder's: find, find_below) until the file changes
CACHED_LOCKS = 4096  # a larger result is not kept
_HAS_RETURNING = sqlite3.sqlite_version_info >= (3, 35)


def _database(source: Path | Database) -> Database:
    return source if isinstance(source, Database) else Database(source)


# The connection of this thread's held write (SqliteLockStore.hold_if), by database.
_held = threading.local()


def _write(db: Database) -> AbstractContextManager[sqlite3.Connection]:
    """A write transaction, or — inside this thread's held write on ``db`` — that one
    (its connection, with the same error translation; the held write commits)."""
    held: dict[int, sqlite3.Connection] = getattr(_held, "conns", {})
    return db.read() if id(db) in held else db.write()


class _Reads(threading.local):
    """One thread's kept results of :meth:`SqliteLockStore.find` and ``find_below``
    (expired locks included: each call filters by its ``now``), valid while its
    connection's ``PRAGMA data_version`` (changed by every other connection's
    commit, of this process or another) and the process's count of its own
    write transactions (``Database.writes``) are what they were when it was read."""

    def __init__(self) -> None:
        self.conn: sqlite3.Connection | None = None
        self.version = -1
        self.writes = -1
        self.found: dict[tuple[str, bool, bool], list[Lock]] = {}


def _active(locks: list[Lock], now: float) -> list[Lock]:
    return [lock for lock in locks if lock.expires_at is None or lock.expires_at > now]


class SqliteLockStore:
    """Locks in table ``locks``; the lock itself is the codec's JSON in ``data``.

    :meth:`find` with descendants and :meth:`find_below` (reads outside any
    write about a folder and what is below it: PROPFIND Depth 1 lock discovery,
    listings) are answered from a per-thread cache while no connection has
    committed to the file since (one ``PRAGMA data_version`` instead of a query
    and its decoding); :meth:`find` of one resource (a PUT's pre-check) queries,
    which costs less where writes keep changing the file.  Every check that
    guards a write reads inside the write's own transaction (:meth:`insert_if`,
    :meth:`hold_if`...).
    """

    def __init__(self, source: Path | Database) -> None:
        self._db = _database(source)
        self._reads = _Reads()

    def _kept(self, conn: sqlite3.Connection, path: str, below: bool, tree: bool) -> list[Lock]:
        """The locks of ``_relevant`` (not ``tree``) or ``_tree``, expired ones
        included, from the cache when the file has not changed since."""
        reads = self._reads
        (version,) = conn.execute("PRAGMA data_version").fetchone()
        writes = self._db.writes
        if reads.conn is not conn or reads.version != version or reads.writes != writes:
            reads.found.clear()
            reads.conn, reads.version, reads.writes = conn, version, writes
        key = (path, below, tree)
        found = reads.found.get(key)
        if found is None:
            if tree:
                found = self._tree(conn, path, None)
            else:
                found = self._relevant(conn, path, below, None)
            if len(found) <= CACHED_LOCKS:
                if len(reads.found) >= CACHED_READS:
                    reads.found.clear()
                reads.found[key] = found
        return found

    @property
    def database_path(self) -> Path:
        """The database file (the quota usage lives in a file beside it)."""
        return self._db.path

    def bound_write_wait(self, seconds: float) -> None:
        """``lock_store_write_wait``: how long a write of this file (locks, properties,
        login failures) waits for the other writers before it answers 503."""
        self._db.writers.wait = seconds

    def _query(self, conn: sqlite3.Connection, sql: str, args: Sequence[object]) -> list[Lock]:
        return [lock_from_json(data) for (data,) in conn.execute(sql, args)]

    def _relevant(
        self, conn: sqlite3.Connection, path: str, include_descendants: bool, now: float | None
    ) -> list[Lock]:
        """The locks relevant to ``path``; expired ones too when ``now`` is None."""
        roots = self_and_ancestors(path)
        marks = ",".join("?" * len(roots))
        active, at = ("", []) if now is None else (f" AND {_ACTIVE}", [now])
        sql = f"SELECT data FROM locks WHERE root IN ({marks}){active}"
        args: list[object] = [*roots, *at]
        if include_descendants:
            # UNION ALL rather than OR keeps both halves on the root index.
            sql += f" UNION ALL SELECT data FROM locks WHERE root > ? AND root < ?{active}"
            args += [*subtree_bounds(path), *at]
        return self._query(conn, sql, args)

    def insert_if(
        self,
        path: str,
        include_descendants: bool,
        now: float,
        decide: Decide,
        quota: Quota | None = None,
    ) -> Lock:
        with self._db.write() as conn:
            if quota is not None:  # inside: the write lock serialises every LOCK anyway
                quota.check(self._count(conn, quota.holder, now))
            lock = decide(self._relevant(conn, path, include_descendants, now))
            check_inserted_root(lock, path)
            conn.execute(
                "INSERT OR REPLACE INTO locks (token, root, expires_at, data, holder) "
                "VALUES (?, ?, ?, ?, ?)",
                (lock.token, lock.root, lock.expires_at, lock_to_json(lock), quota_holder(lock)),
            )
        return lock

    @contextmanager
    def hold_if(self, scopes: Scopes, now: float, check: Check) -> Iterator[_Held]:
        with self._db.write() as conn:
            found: dict[str, Lock] = {}
            for path, below in scopes:
                for lock in self._relevant(conn, path, below, now):
                    found.setdefault(lock.token, lock)
            check(list(found.values()))
            held = _held.__dict__.setdefault("conns", {})
            held[id(self._db)] = conn
            try:
                yield _Held(self, conn)
            finally:
                del held[id(self._db)]

    def find(self, path: str, include_descendants: bool, now: float) -> list[Lock]:
        with self._db.read() as conn:
            if not include_descendants:  # one resource (a PUT's check): a query costs less
                return self._relevant(conn, path, False, now)
            found = self._kept(conn, path, True, False)
        return _active(found, now)

    def _tree(self, conn: sqlite3.Connection, path: str, now: float | None) -> list[Lock]:
        sql = "SELECT data FROM locks WHERE (root = ? OR (root > ? AND root < ?))"
        args: list[object] = [path, *subtree_bounds(path)]
        if now is not None:
            sql += f" AND {_ACTIVE}"
            args.append(now)
        return self._query(conn, sql, args)

    def find_below(self, path: str, now: float) -> list[Lock]:
        with self._db.read() as conn:
            found = self._kept(conn, path, True, True)
        return _active(found, now)

    def get(self, token: str, now: float) -> Lock | None:
        with self._db.read() as conn:
            sql = f"SELECT data FROM locks WHERE token = ? AND {_ACTIVE}"
            found = self._query(conn, sql, (token, now))
        return found[0] if found else None

    def replace(self, lock: Lock, now: float) -> bool:
        return self.renew(lock.token, now, lambda old: lock) is not None

    def renew(self, token: str, now: float, update: Renew) -> Lock | None:
        with self._db.write() as conn:
            sql = f"SELECT data FROM locks WHERE token = ? AND {_ACTIVE}"
            found = self._query(conn, sql, (token, now))
            if not found:
                return None
            lock = update(found[0])
            check_same_root(found[0], lock)
            conn.execute(
                "UPDATE locks SET expires_at = ?, data = ?, holder = ? WHERE token = ?",
                (lock.expires_at, lock_to_json(lock), quota_holder(lock), lock.token),
            )
        return lock

    def remove(
        self, token: str, check: Release | None = None, now: float | None = None
    ) -> Lock | None:
        with self._db.write() as conn:
            if check is None:
                found = self._delete(conn, "token = ?", (token,))
            else:  # check raises: the transaction rolls back, nothing is removed
                found = self._delete(conn, f"token = ? AND {_ACTIVE}", (token, now))
                check(found[0] if found else None)
        return found[0] if found else None

    def remove_tree(self, path: str) -> list[Lock]:
        with self._db.write() as conn:
            return self._delete_tree(conn, path)

    def _delete_tree(self, conn: sqlite3.Connection, path: str) -> list[Lock]:
        return self._delete(
            conn, "root = ? OR (root > ? AND root < ?)", (path, *subtree_bounds(path))
        )

    def _delete(self, conn: sqlite3.Connection, where: str, args: Sequence[object]) -> list[Lock]:
        """Delete the matching locks and return them: one statement where SQLite
        has ``RETURNING`` (3.35+; every UNLOCK passes here)."""
        if _HAS_RETURNING:
            return self._query(conn, f"DELETE FROM locks WHERE {where} RETURNING data", args)
        found = self._query(conn, f"SELECT data FROM locks WHERE {where}", args)
        conn.execute(f"DELETE FROM locks WHERE {where}", args)
        return found

    def all_locks(self, now: float) -> list[Lock]:
        with self._db.read() as conn:
            sql = f"SELECT data FROM locks WHERE {_ACTIVE}"
            return self._query(conn, sql, (now,))

    def purge_expired(self, now: float) -> int:
        with self._db.write() as conn:
            cursor = conn.execute(
                "DELETE FROM locks WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
            )
        return cursor.rowcount

    def count_held(self, holder: str, now: float) -> int:
        with self._db.read() as conn:
            return self._count(conn, holder, now)

    def _count(self, conn: sqlite3.Connection, holder: str, now: float) -> int:
        sql = f"SELECT COUNT(*) FROM locks WHERE holder = ? AND {_ACTIVE}"
        (count,) = conn.execute(sql, (holder, now)).fetchone()
        return int(count)

    def ensure_writable(self) -> None:
        self._db.ensure_writable()

    def close(self) -> None:
        self._db.close()


class _Held:
    """Inside :meth:`SqliteLockStore.hold_if`: its transaction's connection."""

    def __init__(self, store: SqliteLockStore, conn: sqlite3.Connection) -> None:
        self._store = store
        self._conn = conn

    def remove_tree(self, path: str) -> list[Lock]:
        return self._store._delete_tree(self._conn, path)


class SqlitePropertyStore:
    """Dead properties: rows ``(path, name) -> value_id`` in ``props``, values in
    ``prop_values``; subtree operations are journalled jobs done in batches
    (:mod:`davserver.lockstore.sqlite_props`), and opening finishes any left over."""

    def __init__(self, source: Path | Database) -> None:
        self._db = _database(source)
        with self._db.read() as conn:  # read first: opening takes no write if none is left
            left = props.pending(conn)
        if left:
            props.finish_jobs(self._write)

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        return _write(self._db)

    def get_all(self, path: str) -> dict[str, str]:
        with self._db.read() as conn:
            return props.get_all(conn, path)

    def get(self, path: str, name: str) -> str | None:
        with self._db.read() as conn:
            return props.get(conn, path, name)

    def set(self, path: str, name: str, value: str) -> None:
        with _write(self._db) as conn:
            props.put(conn, path, name, value)

    def remove(self, path: str, name: str) -> None:
        with _write(self._db) as conn:
            props.delete(conn, path, name)

    def remove_tree(self, path: str) -> None:
        props.run_job(self._write, "remove", path)

    def copy_tree(self, src: str, dest: str) -> None:
        props.run_job(self._write, "copy", src, dest)

    def move_tree(self, src: str, dest: str) -> None:
        props.run_job(self._write, "move", src, dest)

    def close(self) -> None:
        self._db.close()
