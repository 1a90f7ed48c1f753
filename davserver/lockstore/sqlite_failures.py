"""Failed-login counters in the SQLite file of the lock store (table
``login_failures``), so that the worker processes sharing the file count together.

Only failures write (one short transaction through the writers' queue, which
also drops every failure older than the window, so the table holds at most one
window of failures).  Counting an attempt is one indexed read of a table that
is nearly always empty.  The table is outside the schema version: it is created
if missing, and older davserver versions ignore it.
"""

from __future__ import annotations

from collections.abc import Sequence

from davserver.lockstore.failures import MAX_PER_KEY
from davserver.lockstore.sqlite_db import Database

TABLE = (
    "CREATE TABLE IF NOT EXISTS login_failures (key TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS login_failures_by_key ON login_failures (key, at)",
    "CREATE INDEX IF NOT EXISTS login_failures_by_time ON login_failures (at)",
)


class SqliteFailureCounter:
    """:class:`~davserver.lockstore.failures.FailureCounter` in table ``login_failures``."""

    def __init__(self, db: Database) -> None:
        self._db = db
        with db.write() as conn:
            for statement in TABLE:
                conn.execute(statement)

    def add(self, keys: Sequence[str], now: float, window: float) -> None:
        with self._db.write() as conn:
            conn.execute("DELETE FROM login_failures WHERE at <= ?", (now - window,))
            conn.executemany(
                "INSERT INTO login_failures (key, at) VALUES (?, ?)", [(k, now) for k in keys]
            )

    def counts(self, keys: Sequence[str], now: float, window: float) -> list[int]:
        marks = ",".join("?" * len(keys))
        sql = (
            f"SELECT key, count(*) FROM login_failures WHERE key IN ({marks}) AND at > ?"
            " GROUP BY key"
        )
        with self._db.read() as conn:
            found = dict(conn.execute(sql, (*keys, now - window)).fetchall())
        return [min(int(found.get(key, 0)), MAX_PER_KEY) for key in keys]

    def times(self, key: str, now: float, window: float) -> list[float]:
        sql = "SELECT at FROM login_failures WHERE key = ? AND at > ? ORDER BY at DESC LIMIT ?"
        with self._db.read() as conn:
            rows = conn.execute(sql, (key, now - window, MAX_PER_KEY)).fetchall()
        return sorted(float(at) for (at,) in rows)

    def clear(self, keys: Sequence[str]) -> None:
        with self._db.write() as conn:
            conn.executemany("DELETE FROM login_failures WHERE key = ?", [(k,) for k in keys])
