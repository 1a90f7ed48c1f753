"""Usage for quotas in SQLite (:mod:`davserver.lockstore.usage`), in a file of its
own beside the lock database (``<locks>-usage.sqlite``).

Why not the lock database: a write's lock check holds that database's write
transaction open across the rename (:meth:`SqliteLockStore.hold_if`), and
anything written on it commits only afterwards — a crash after the rename would
lose the usage of a file that is on disk.  Here a write's usage commits before
its rename (journalled), in a ``BEGIN IMMEDIATE`` transaction that serialises
the quota check of every worker process.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from davserver.common import pids
from davserver.errors import StoreError, StoreUnavailable
from davserver.lockstore.paths import subtree_bounds
from davserver.lockstore.usage import (
    Pending,
    Reader,
    Row,
    TransactionalUsage,
    Writes,
    pending_of,
)

T = TypeVar("T")
BUSY_TIMEOUT_MS = 10_000
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS usage_files "
    "(path TEXT PRIMARY KEY, owner TEXT NOT NULL, size INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS usage_totals (owner TEXT PRIMARY KEY, bytes INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS usage_journal (ticket TEXT PRIMARY KEY, entry TEXT NOT NULL)",
)


def usage_path(locks_path: Path) -> Path:
    return locks_path.with_name(locks_path.stem + "-usage.sqlite")


class _SqliteReader:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    def tree(self, path: str) -> dict[str, Row]:
        lo, hi = subtree_bounds(path)
        sql = "SELECT path, owner, size FROM usage_files WHERE path = ? OR (path > ? AND path < ?)"
        return {p: Row(o, s) for p, o, s in self._c.execute(sql, (path, lo, hi))}

    def rows(self, paths: Iterable[str]) -> dict[str, Row]:
        found = {}
        for path in paths:
            sql = "SELECT owner, size FROM usage_files WHERE path = ?"
            for owner, size in self._c.execute(sql, (path,)):
                found[path] = Row(owner, size)
        return found

    def used(self, owner: str) -> int:
        sql = "SELECT bytes FROM usage_totals WHERE owner = ?"
        row = self._c.execute(sql, (owner,)).fetchone()
        return int(row[0]) if row else 0

    def journal(self, ticket: str) -> str | None:
        sql = "SELECT entry FROM usage_journal WHERE ticket = ?"
        row = self._c.execute(sql, (ticket,)).fetchone()
        return str(row[0]) if row else None


def _write(conn: sqlite3.Connection, writes: Writes) -> None:
    conn.executemany("DELETE FROM usage_files WHERE path = ?", [(p,) for p in writes.delete])
    conn.executemany(
        "INSERT OR REPLACE INTO usage_files (path, owner, size) VALUES (?, ?, ?)",
        [(p, r.owner, r.size) for p, r in writes.put.items()],
    )
    conn.executemany(
        "INSERT INTO usage_totals (owner, bytes) VALUES (?, ?) "
        "ON CONFLICT (owner) DO UPDATE SET bytes = bytes + excluded.bytes",
        [(owner, delta) for owner, delta in writes.deltas.items() if delta],
    )
    conn.executemany(
        "INSERT OR REPLACE INTO usage_journal (ticket, entry) VALUES (?, ?)",
        list(writes.journal_set.items()),
    )
    conn.executemany(
        "DELETE FROM usage_journal WHERE ticket = ?", [(t,) for t in writes.journal_del]
    )


class SqliteBackend:
    """Per-thread connections (cheroot serves on a thread pool) to one file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._mutex = threading.Lock()
        with self._transaction() as conn:
            for statement in SCHEMA:
                conn.execute(statement)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != pids.current():
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn, self._local.pid = conn, pids.current()
            with self._mutex:
                self._all.append(conn)
        return conn

    @contextmanager
    def _transaction(self, begin: str = "BEGIN IMMEDIATE") -> Iterator[sqlite3.Connection]:
        try:
            conn = self._conn()
            conn.execute(begin)
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"usage database {self.path}: {exc}", retry_after=1) from exc
        except sqlite3.Error as exc:
            raise StoreError(f"usage database {self.path}: {exc}") from exc
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise StoreError(f"usage database {self.path}: {exc}") from exc

    def transact(self, body: Callable[[Reader], tuple[Writes, T]]) -> T:
        with self._transaction() as conn:
            writes, result = body(_SqliteReader(conn))
            _write(conn, writes)
            return result

    def read(self, body: Callable[[Reader], T]) -> T:
        with self._transaction("BEGIN") as conn:  # a snapshot; writers go on meanwhile
            return body(_SqliteReader(conn))

    def read_all(self, sql: str) -> list[tuple[object, ...]]:
        with self._transaction("BEGIN") as conn:
            return list(conn.execute(sql))

    def close(self) -> None:
        with self._mutex:
            for conn in self._all:
                conn.close()
            self._all.clear()


class SqliteUsageStore(TransactionalUsage):
    def __init__(self, path: Path) -> None:
        self._sql = SqliteBackend(path)
        super().__init__(self._sql)

    def pending(self) -> list[Pending]:
        rows = self._sql.read_all("SELECT ticket, entry FROM usage_journal")
        return [pending_of(str(t), str(e)) for t, e in rows]

    def all_rows(self) -> dict[str, Row]:
        rows = self._sql.read_all("SELECT path, owner, size FROM usage_files")
        return {str(p): Row(str(o), int(str(s))) for p, o, s in rows}

    def close(self) -> None:
        self._sql.close()
