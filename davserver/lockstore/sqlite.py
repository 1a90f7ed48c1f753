"""SQLite stores: one file shared by every thread of every worker process.

Why it is safe across processes: WAL mode lets readers proceed while one writer
writes, ``busy_timeout`` makes contending writers wait instead of failing, and
:meth:`SqliteLockStore.insert_if` takes the write lock up front with
``BEGIN IMMEDIATE`` so the read, the ``decide`` call and the insert form one
serialisable transaction.  Connections are per thread (cheroot serves requests
on a thread pool and a sqlite3 connection must not be shared between threads).

Every lookup is a range or equality on an index: ancestors are ``root IN (…)``
and descendants ``lo < root < hi`` (see :mod:`davserver.lockstore.paths`).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from davserver.errors import InsufficientStorage, StartupError, StoreError, StoreUnavailable
from davserver.locking.model import Lock
from davserver.lockstore.base import Decide
from davserver.lockstore.codec import lock_from_json, lock_to_json
from davserver.lockstore.paths import (
    check_inserted_root,
    check_same_root,
    rebase,
    self_and_ancestors,
    subtree_bounds,
)

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS locks (
    token TEXT PRIMARY KEY,
    root TEXT NOT NULL,
    expires_at REAL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS locks_by_root ON locks (root);
CREATE INDEX IF NOT EXISTS locks_by_expiry ON locks (expires_at);
CREATE TABLE IF NOT EXISTS props (
    path TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (path, name)
) WITHOUT ROWID;
"""

_ACTIVE = "(expires_at IS NULL OR expires_at > ?)"


@contextmanager
def _translate_errors() -> Iterator[None]:
    """Busy/locked means "try again later" (503); anything else is a store failure."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        text = str(exc).lower()
        if "locked" in text or "busy" in text:
            raise StoreUnavailable(f"lock database busy: {exc}") from exc
        if "full" in text:  # SQLITE_FULL: the disk holding the database is full (507)
            raise InsufficientStorage(f"no space left for the lock database: {exc}") from exc
        raise StoreError(f"lock database error: {exc}") from exc
    except sqlite3.Error as exc:
        raise StoreError(f"lock database error: {exc}") from exc


class _Database:
    """One file, one connection per thread, schema created on first open."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._mutex = threading.Lock()
        self._closed = False
        self._pid = os.getpid()
        try:
            self._migrate(self.connection())
        except sqlite3.Error as exc:
            raise StartupError(f"cannot open lock database {path}: {exc}") from exc

    def connection(self) -> sqlite3.Connection:
        if self._pid != os.getpid():
            # A forked worker must not use connections opened before the fork
            # (SQLite forbids it); abandon them, never close them from here.
            self._local, self._all, self._pid = threading.local(), [], os.getpid()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise StoreError(f"lock database {self.path} is closed")
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn = conn
            with self._mutex:
                self._all.append(conn)
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Create the schema once; refuse files written by a newer version."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                raise StartupError(
                    f"{self.path} has schema version {version}; this davserver knows "
                    f"up to {SCHEMA_VERSION} — upgrade davserver or use another file"
                )
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on error."""
        conn = self.connection()
        with _translate_errors():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._mutex:
            self._closed = True
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()


class SqliteLockStore:
    """Locks in table ``locks``; the lock itself is the codec's JSON in ``data``."""

    def __init__(self, path: Path) -> None:
        self._db = _Database(path)

    def _query(self, conn: sqlite3.Connection, sql: str, args: Sequence[object]) -> list[Lock]:
        return [lock_from_json(data) for (data,) in conn.execute(sql, args)]

    def _relevant(
        self, conn: sqlite3.Connection, path: str, include_descendants: bool, now: float
    ) -> list[Lock]:
        roots = self_and_ancestors(path)
        marks = ",".join("?" * len(roots))
        sql = f"SELECT data FROM locks WHERE root IN ({marks}) AND {_ACTIVE}"
        args: list[object] = [*roots, now]
        if include_descendants:
            # UNION ALL rather than OR keeps both halves on the root index.
            sql += f" UNION ALL SELECT data FROM locks WHERE root > ? AND root < ? AND {_ACTIVE}"
            args += [*subtree_bounds(path), now]
        return self._query(conn, sql, args)

    def insert_if(self, path: str, include_descendants: bool, now: float, decide: Decide) -> Lock:
        with self._db.write() as conn:
            lock = decide(self._relevant(conn, path, include_descendants, now))
            check_inserted_root(lock, path)
            conn.execute(
                "INSERT OR REPLACE INTO locks (token, root, expires_at, data) VALUES (?, ?, ?, ?)",
                (lock.token, lock.root, lock.expires_at, lock_to_json(lock)),
            )
        return lock

    def find(self, path: str, include_descendants: bool, now: float) -> list[Lock]:
        with _translate_errors():
            return self._relevant(self._db.connection(), path, include_descendants, now)

    def _tree(self, conn: sqlite3.Connection, path: str, now: float | None) -> list[Lock]:
        sql = "SELECT data FROM locks WHERE (root = ? OR (root > ? AND root < ?))"
        args: list[object] = [path, *subtree_bounds(path)]
        if now is not None:
            sql += f" AND {_ACTIVE}"
            args.append(now)
        return self._query(conn, sql, args)

    def find_below(self, path: str, now: float) -> list[Lock]:
        with _translate_errors():
            return self._tree(self._db.connection(), path, now)

    def get(self, token: str, now: float) -> Lock | None:
        with _translate_errors():
            sql = f"SELECT data FROM locks WHERE token = ? AND {_ACTIVE}"
            found = self._query(self._db.connection(), sql, (token, now))
        return found[0] if found else None

    def replace(self, lock: Lock, now: float) -> bool:
        with self._db.write() as conn:
            sql = f"SELECT data FROM locks WHERE token = ? AND {_ACTIVE}"
            found = self._query(conn, sql, (lock.token, now))
            if not found:
                return False
            check_same_root(found[0], lock)
            conn.execute(
                "UPDATE locks SET expires_at = ?, data = ? WHERE token = ?",
                (lock.expires_at, lock_to_json(lock), lock.token),
            )
        return True

    def remove(self, token: str) -> Lock | None:
        with self._db.write() as conn:
            found = self._query(conn, "SELECT data FROM locks WHERE token = ?", (token,))
            conn.execute("DELETE FROM locks WHERE token = ?", (token,))
        return found[0] if found else None

    def remove_tree(self, path: str) -> list[Lock]:
        with self._db.write() as conn:
            found = self._tree(conn, path, None)
            conn.execute(
                "DELETE FROM locks WHERE root = ? OR (root > ? AND root < ?)",
                (path, *subtree_bounds(path)),
            )
        return found

    def all_locks(self, now: float) -> list[Lock]:
        with _translate_errors():
            sql = f"SELECT data FROM locks WHERE {_ACTIVE}"
            return self._query(self._db.connection(), sql, (now,))

    def purge_expired(self, now: float) -> int:
        with self._db.write() as conn:
            cursor = conn.execute(
                "DELETE FROM locks WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
            )
        return cursor.rowcount

    def close(self) -> None:
        self._db.close()


class SqlitePropertyStore:
    """Dead properties in table ``props`` (path, name) -> value."""

    def __init__(self, path: Path) -> None:
        self._db = _Database(path)

    def get_all(self, path: str) -> dict[str, str]:
        with _translate_errors():
            rows = self._db.connection().execute(
                "SELECT name, value FROM props WHERE path = ?", (path,)
            )
            return dict(rows.fetchall())

    def get(self, path: str, name: str) -> str | None:
        with _translate_errors():
            row = (
                self._db.connection()
                .execute("SELECT value FROM props WHERE path = ? AND name = ?", (path, name))
                .fetchone()
            )
        return None if row is None else str(row[0])

    def set(self, path: str, name: str, value: str) -> None:
        with self._db.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO props (path, name, value) VALUES (?, ?, ?)",
                (path, name, value),
            )

    def remove(self, path: str, name: str) -> None:
        with self._db.write() as conn:
            conn.execute("DELETE FROM props WHERE path = ? AND name = ?", (path, name))

    def remove_tree(self, path: str) -> None:
        with self._db.write() as conn:
            _delete_tree(conn, path)

    def copy_tree(self, src: str, dest: str) -> None:
        with self._db.write() as conn:
            rows = _select_tree(conn, src)
            _delete_tree(conn, dest)
            _insert_rebased(conn, rows, src, dest)

    def move_tree(self, src: str, dest: str) -> None:
        with self._db.write() as conn:
            rows = _select_tree(conn, src)
            _delete_tree(conn, src)
            _delete_tree(conn, dest)
            _insert_rebased(conn, rows, src, dest)

    def close(self) -> None:
        self._db.close()


_TREE = "(path = ? OR (path > ? AND path < ?))"


def _select_tree(conn: sqlite3.Connection, path: str) -> list[tuple[str, str, str]]:
    sql = f"SELECT path, name, value FROM props WHERE {_TREE}"
    return conn.execute(sql, (path, *subtree_bounds(path))).fetchall()


def _delete_tree(conn: sqlite3.Connection, path: str) -> None:
    conn.execute(f"DELETE FROM props WHERE {_TREE}", (path, *subtree_bounds(path)))


def _insert_rebased(
    conn: sqlite3.Connection, rows: list[tuple[str, str, str]], src: str, dest: str
) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO props (path, name, value) VALUES (?, ?, ?)",
        [(rebase(p, src, dest), name, value) for p, name, value in rows],
    )
