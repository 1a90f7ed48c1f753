"""The tables of the SQLite property store (schema 5) and the upgrade from 4.

A property row is small: ``(path, name, value_id)``; its value lives in
``prop_values`` under an integer id, and its reference count and size in bytes
in ``prop_refs`` (apart: SQLite rewrites a whole row to change one column, so a
count beside a 7.5 MiB value cost a rewrite of the value at each COPY).  Moving
a subtree rewrites only the small rows and copying one only adds references,
so neither reads nor rewrites a value (a big value sits in overflow pages: one
of 7.5 MiB made MOVE of a folder with 3,000 small properties hold the writers'
lock for 6 s).  ``prop_jobs`` is the journal of subtree operations done in
short transactions: a row says what is under way, and whoever opens the store
next finishes it (see :mod:`davserver.lockstore.sqlite_props`).
"""

from __future__ import annotations

import sqlite3

PROPS_TABLES = """
CREATE TABLE IF NOT EXISTS props (
    path TEXT NOT NULL,
    name TEXT NOT NULL,
    value_id INTEGER NOT NULL,
    PRIMARY KEY (path, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS prop_values (
    id INTEGER PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS prop_refs (
    id INTEGER PRIMARY KEY,
    refs INTEGER NOT NULL,
    size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS prop_jobs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    src TEXT NOT NULL,
    dest TEXT NOT NULL,
    phase INTEGER NOT NULL DEFAULT 0,
    after_path TEXT,
    after_name TEXT
);
"""

_V4_TO_V5 = (
    "ALTER TABLE props RENAME TO props_v4",
    PROPS_TABLES.split(";")[0],
)
_CHUNK = 1000


def store_value(conn: sqlite3.Connection, value: str) -> int:
    """Store ``value`` once, referenced once; its id."""
    value_id = conn.execute("INSERT INTO prop_values (value) VALUES (?)", (value,)).lastrowid
    conn.execute(
        "INSERT INTO prop_refs (id, refs, size) VALUES (?, 1, ?)",
        (value_id, len(value.encode())),
    )
    return int(value_id or 0)


def upgrade_props(conn: sqlite3.Connection) -> None:
    """Schema 4 -> 5 inside the migration's transaction: every property kept, each
    value moved into ``prop_values`` once (a schema-4 row held its value inline)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(props)")}
    if "value" not in columns:
        return
    for statement in _V4_TO_V5:
        conn.execute(statement)
    rows = conn.execute("SELECT path, name, value FROM props_v4")
    while chunk := rows.fetchmany(_CHUNK):
        for path, name, value in chunk:
            conn.execute(
                "INSERT INTO props (path, name, value_id) VALUES (?, ?, ?)",
                (path, name, store_value(conn, str(value))),
            )
    conn.execute("DROP TABLE props_v4")
