"""The admin outbox (:mod:`davserver.lockstore.outbox`) in the SQLite file of the
lock store: table ``admin_outbox``, outside the schema version (created if
missing; older davserver versions ignore it).

Posting and claiming are each one write transaction (``BEGIN IMMEDIATE``: one
writer at a time across every process), so a record is claimed by one worker
only.  A server looks with a read first and writes only when there is
something to claim.
"""

from __future__ import annotations

from davserver.lockstore.sqlite_db import Database

TABLE = (
    "CREATE TABLE IF NOT EXISTS admin_outbox "
    "(id INTEGER PRIMARY KEY AUTOINCREMENT, record TEXT NOT NULL)"
)


class SqliteOutbox:
    """:class:`~davserver.lockstore.outbox.AdminOutbox` in table ``admin_outbox``."""

    def __init__(self, db: Database, *, create: bool) -> None:
        self._db = db
        if create:
            with db.write() as conn:
                conn.execute(TABLE)

    def post(self, record: str, limit: int) -> int:
        with self._db.write() as conn:
            conn.execute(TABLE)
            conn.execute("INSERT INTO admin_outbox (record) VALUES (?)", (record,))
            cursor = conn.execute(
                "DELETE FROM admin_outbox WHERE id NOT IN "
                "(SELECT id FROM admin_outbox ORDER BY id DESC LIMIT ?)",
                (limit,),
            )
            return max(0, cursor.rowcount)

    def claim(self, limit: int) -> list[str]:
        with self._db.read() as conn:
            (waiting,) = conn.execute("SELECT EXISTS (SELECT 1 FROM admin_outbox)").fetchone()
        if not waiting:
            return []
        with self._db.write() as conn:
            rows = conn.execute(
                "SELECT id, record FROM admin_outbox ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
            if rows:
                conn.execute("DELETE FROM admin_outbox WHERE id <= ?", (rows[-1][0],))
        return [str(record) for _, record in rows]
