"""SQLite property rows and the subtree jobs (MOVE, COPY, DELETE) done in batches.

SQLite has one writer, shared by the lock store: a subtree operation done in
one transaction made every LOCK wait for it (300,000 properties with big
legacy values held the writers for minutes).  So a subtree operation is a job:
its journal row (table ``prop_jobs``) is written first, then short
transactions each move, copy or delete at most :data:`BATCH_ROWS` rows (and
free at most :data:`BATCH_BYTES` of values), and the last one deletes the row.
Each batch reads the job row again, so it is idempotent: a process that dies
between batches leaves each property at its old place or its new one, and
whoever opens the store next (or starts another job) finishes the job.

A job runs after the earlier jobs on the same trees, whoever runs them: a
DELETE of the destination of a MOVE still under way waits for that MOVE (else
properties moved after the DELETE would outlive their resource); a job on other
trees does not wait.  While a job runs, readers may see part of the subtree
moved (every property stays readable at one of its two places), and a property
written into the destination while it is being emptied may be emptied with it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

from davserver.common import turns
from davserver.lockstore.paths import rebase, subtree_bounds
from davserver.lockstore.sqlite_props_schema import store_value

# One batch of the small rows takes a few milliseconds; the bytes bound keeps a
# batch that frees big legacy values (each read to free its overflow pages) short.
BATCH_ROWS = 500
BATCH_BYTES = 4 << 20
# Between batches: the writers' queue is a lock, not a ticket line, so a writer
# that let go and took it again at once could starve the others.
PAUSE = 0.001

Write = Callable[[], AbstractContextManager[sqlite3.Connection]]
_TREE = "(path = ? OR (path > ? AND path < ?))"
_CLEAR, _TRANSFER = 0, 1
_Job = tuple[
    int, str, str, str, int, str | None, str | None
]  # a job's phases: empty the target tree, then fill it


def _tree_args(path: str) -> tuple[str, str, str]:
    return (path, *subtree_bounds(path))


# -- single properties ------------------------------------------------------------


def get_all(conn: sqlite3.Connection, path: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT p.name, v.value FROM props p JOIN prop_values v ON v.id = p.value_id "
        "WHERE p.path = ?",
        (path,),
    )
    return dict(rows.fetchall())


def get(conn: sqlite3.Connection, path: str, name: str) -> str | None:
    row = conn.execute(
        "SELECT v.value FROM props p JOIN prop_values v ON v.id = p.value_id "
        "WHERE p.path = ? AND p.name = ?",
        (path, name),
    ).fetchone()
    return None if row is None else str(row[0])


def put(conn: sqlite3.Connection, path: str, name: str, value: str) -> None:
    _link(conn, path, name, store_value(conn, value))


def delete(conn: sqlite3.Connection, path: str, name: str) -> None:
    row = conn.execute(
        "SELECT value_id FROM props WHERE path = ? AND name = ?", (path, name)
    ).fetchone()
    if row is not None:
        conn.execute("DELETE FROM props WHERE path = ? AND name = ?", (path, name))
        _release(conn, [row[0]])


def _link(conn: sqlite3.Connection, path: str, name: str, value_id: object) -> None:
    """Point (path, name) at ``value_id`` (a reference already counted), releasing
    the value it pointed at."""
    row = conn.execute(
        "SELECT value_id FROM props WHERE path = ? AND name = ?", (path, name)
    ).fetchone()
    conn.execute(
        "INSERT OR REPLACE INTO props (path, name, value_id) VALUES (?, ?, ?)",
        (path, name, value_id),
    )
    if row is not None:
        _release(conn, [row[0]])


def _release(conn: sqlite3.Connection, ids: Sequence[object]) -> None:
    pairs = [(i,) for i in ids]
    conn.executemany("UPDATE prop_refs SET refs = refs - 1 WHERE id = ?", pairs)
    marks = ",".join("?" * len(pairs))
    unused = conn.execute(
        f"SELECT id FROM prop_refs WHERE refs <= 0 AND id IN ({marks})", list(ids)
    ).fetchall()
    conn.executemany("DELETE FROM prop_values WHERE id = ?", unused)
    conn.executemany("DELETE FROM prop_refs WHERE id = ?", unused)


# -- subtree jobs -------------------------------------------------------------------


def run_job(write: Write, kind: str, src: str, dest: str = "") -> None:
    """Journal a job (``remove``, ``move`` or ``copy``) and run it to the end, after
    the jobs journalled before it that touch the same trees."""
    phase = _TRANSFER if kind == "remove" else _CLEAR
    with write() as conn:
        cursor = conn.execute(
            "INSERT INTO prop_jobs (kind, src, dest, phase) VALUES (?, ?, ?, ?)",
            (kind, src, dest, phase),
        )
        job = int(cursor.lastrowid or 0)
    finish_jobs(write, upto=job)


def pending(conn: sqlite3.Connection) -> bool:
    """Is a job left over (by a process that stopped before the end)?"""
    return conn.execute("SELECT 1 FROM prop_jobs LIMIT 1").fetchone() is not None


def finish_jobs(write: Write, upto: int | None = None) -> None:
    """Finish the journalled jobs (all, or job ``upto`` and those before it that
    touch its trees), oldest first."""
    while True:
        with write() as conn:
            more = _step(conn, upto)
        if not more:
            return
        # Inside a held write (the lock store's hold_if) nothing was committed, and
        # pausing would only hold the writers longer.
        if not conn.in_transaction:
            turns.blocking(time.sleep, PAUSE)


def _step(conn: sqlite3.Connection, upto: int | None) -> bool:
    """One batch of the oldest job to run; False once none is left."""
    row = _next_job(conn, upto)
    if row is None:
        return False
    job, kind, src, dest, phase, after_path, after_name = row
    if kind != "remove" and _overlap(src, dest):
        _whole(conn, kind, src, dest)
        conn.execute("DELETE FROM prop_jobs WHERE id = ?", (job,))
        return True
    if kind == "remove" or phase == _CLEAR:
        if not _clear_batch(conn, src if kind == "remove" else dest):
            _advance(conn, job, kind, phase)
    elif kind == "move":
        if not _move_batch(conn, src, dest):
            conn.execute("DELETE FROM prop_jobs WHERE id = ?", (job,))
    else:
        last = _copy_batch(conn, src, dest, (after_path, after_name))
        if last is None:
            conn.execute("DELETE FROM prop_jobs WHERE id = ?", (job,))
        else:
            sql = "UPDATE prop_jobs SET after_path = ?, after_name = ? WHERE id = ?"
            conn.execute(sql, (*last, job))
    return True


def _next_job(conn: sqlite3.Connection, upto: int | None) -> _Job | None:
    rows: list[_Job] = conn.execute(
        "SELECT id, kind, src, dest, phase, after_path, after_name FROM prop_jobs "
        "WHERE id <= ? ORDER BY id",
        (upto if upto is not None else 1 << 62,),
    ).fetchall()
    if upto is None or not rows or rows[-1][0] != upto:
        return rows[0] if upto is None and rows else None
    # A small DELETE need not wait for a big MOVE elsewhere; one of the same trees
    # must (a DELETE of the destination of a MOVE under way would come too early).
    mine = _trees(rows[-1])
    return next(r for r in rows if any(_overlap(a, b) for a in _trees(r) for b in mine))


def _trees(job: _Job) -> tuple[str, ...]:
    return (job[2],) if job[1] == "remove" else (job[2], job[3])


def _advance(conn: sqlite3.Connection, job: int, kind: str, phase: int) -> None:
    if kind == "remove" or phase != _CLEAR:
        conn.execute("DELETE FROM prop_jobs WHERE id = ?", (job,))
    else:
        conn.execute("UPDATE prop_jobs SET phase = ? WHERE id = ?", (_TRANSFER, job))


def _clear_batch(conn: sqlite3.Connection, tree: str) -> bool:
    """Delete a batch of the properties at and below ``tree``; False if none was left."""
    rows = conn.execute(
        "SELECT p.path, p.name, p.value_id, r.size, r.refs FROM props p "
        f"JOIN prop_refs r ON r.id = p.value_id WHERE {_TREE} LIMIT ?",
        (*_tree_args(tree), BATCH_ROWS),
    ).fetchall()
    taken: list[tuple[str, str, int]] = []
    freed = 0
    for path, name, value_id, size, refs in rows:
        if taken and freed + (size if refs <= 1 else 0) > BATCH_BYTES:
            break
        taken.append((path, name, value_id))
        freed += size if refs <= 1 else 0
    conn.executemany("DELETE FROM props WHERE path = ? AND name = ?", [t[:2] for t in taken])
    _release(conn, [t[2] for t in taken])
    return bool(taken)


def _move_batch(conn: sqlite3.Connection, src: str, dest: str) -> bool:
    """Move a batch of rows from ``src`` to ``dest`` (no value is read); False if
    none was left."""
    rows = conn.execute(
        f"SELECT path, name, value_id FROM props WHERE {_TREE} LIMIT ?",
        (*_tree_args(src), BATCH_ROWS),
    ).fetchall()
    conn.executemany("DELETE FROM props WHERE path = ? AND name = ?", [r[:2] for r in rows])
    for path, name, value_id in rows:
        _link(conn, rebase(path, src, dest), name, value_id)
    return bool(rows)


def _copy_batch(
    conn: sqlite3.Connection, src: str, dest: str, after: tuple[str | None, str | None]
) -> tuple[str, str] | None:
    """Copy the next batch of rows (after the key ``after``) by reference; the last
    key copied, or None if none was left."""
    rows = _rows_after(conn, src, after)
    ids = [(r[2],) for r in rows]
    conn.executemany("UPDATE prop_refs SET refs = refs + 1 WHERE id = ?", ids)
    for path, name, value_id in rows:
        _link(conn, rebase(path, src, dest), name, value_id)
    return (rows[-1][0], rows[-1][1]) if rows else None


def _rows_after(
    conn: sqlite3.Connection, src: str, after: tuple[str | None, str | None]
) -> list[tuple[str, str, int]]:
    """The next batch of rows at and below ``src`` in key order.  The tree is asked
    as two ranges of the primary key (``src`` itself, then below it): with the OR
    of :data:`_TREE`, SQLite sorted all the rest of the tree for every batch, and
    it seeks only on ``path >= ?``, not on the row value."""
    lo, hi = subtree_bounds(src)
    after_path, after_name = after
    if after_path is None or after_path == src:
        rows = conn.execute(
            "SELECT path, name, value_id FROM props WHERE path = ? AND name > ? "
            "ORDER BY name LIMIT ?",
            (src, after_name or "", BATCH_ROWS),
        ).fetchall()
        if rows:
            return rows
        after_path, after_name = lo, ""
    return conn.execute(
        "SELECT path, name, value_id FROM props WHERE path >= ? AND path > ? AND path < ? "
        "AND (path, name) > (?, ?) ORDER BY path, name LIMIT ?",
        (after_path, lo, hi, after_path, after_name, BATCH_ROWS),
    ).fetchall()


def _overlap(src: str, dest: str) -> bool:
    lo, hi = subtree_bounds(src)
    dlo, dhi = subtree_bounds(dest)
    return src == dest or lo < dest < hi or dlo < src < dhi


def _whole(conn: sqlite3.Connection, kind: str, src: str, dest: str) -> None:
    """A tree moved or copied into itself or onto an ancestor (HTTP refuses both;
    the store stays correct): in one transaction, still without reading a value."""
    rows = conn.execute(
        f"SELECT path, name, value_id FROM props WHERE {_TREE}", _tree_args(src)
    ).fetchall()
    ids = [(r[2],) for r in rows]
    if kind == "copy":
        conn.executemany("UPDATE prop_refs SET refs = refs + 1 WHERE id = ?", ids)
    else:
        conn.executemany("DELETE FROM props WHERE path = ? AND name = ?", [r[:2] for r in rows])
    while _clear_batch(conn, dest):
        pass
    for path, name, value_id in rows:
        _link(conn, rebase(path, src, dest), name, value_id)
