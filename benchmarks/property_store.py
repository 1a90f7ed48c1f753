"""How long subtree operations of the SQLite property store hold the writers.

The lock store and the property store share one SQLite file and its single
writer, so a MOVE, COPY or DELETE of a folder's properties done in one
transaction makes every LOCK of every worker wait for it.  This builds a
database as an older davserver wrote it (schema 4: values inline), with
``--props`` small properties under one folder plus ``--big`` legacy values of
7.5 MiB elsewhere in it (written directly: today's limits refuse them), opens
it (the current code upgrades it: timed), then times ``move_tree``,
``copy_tree`` and ``remove_tree`` of that folder, each in a process of its
own, while another process takes a lock with ``insert_if`` every 20 ms: the
longest of those waits is how long the writers were held.  Every operation
is bounded by ``--deadline`` (killed past it: reported as ``> deadline``).

    .venv/bin/python benchmarks/property_store.py --props 300000 --big 4
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sqlite3
import tempfile
import time
import uuid
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path

from davserver.locking.model import Depth, Lock, Scope
from davserver.lockstore.generation import Generation
from davserver.lockstore.sqlite import SqliteLockStore, SqlitePropertyStore
from davserver.lockstore.sqlite_db import Database

MIB = 1 << 20
PER_FOLDER = 100  # properties per resource folder: /big/d0001/f00042 …
NAME = "{urn:bench}p"
SCHEMA_4 = """
CREATE TABLE locks (token TEXT PRIMARY KEY, root TEXT NOT NULL, expires_at REAL,
                    data TEXT NOT NULL, holder TEXT) WITHOUT ROWID;
CREATE INDEX locks_by_root ON locks (root);
CREATE INDEX locks_by_expiry ON locks (expires_at);
CREATE INDEX locks_by_holder ON locks (holder);
CREATE TABLE props (path TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
                    PRIMARY KEY (path, name)) WITHOUT ROWID;
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""


def build(path: Path, props: int, big: int) -> None:
    """A schema-4 database: ``props`` small properties under /big, ``big`` values of
    7.5 MiB (half under /big, half elsewhere)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(SCHEMA_4)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN")
    small = '<p xmlns="urn:bench">{}</p>'
    conn.executemany(
        "INSERT INTO props (path, name, value) VALUES (?, ?, ?)",
        (
            (f"/big/d{i // PER_FOLDER:05d}/f{i % PER_FOLDER:03d}", NAME, small.format(i))
            for i in range(props)
        ),
    )
    value = f'<b xmlns="urn:bench">{"v" * (15 * MIB // 2)}</b>'
    for i in range(big):
        where = f"/big/legacy-{i}" if i % 2 == 0 else f"/elsewhere/legacy-{i}"
        conn.execute("INSERT INTO props (path, name, value) VALUES (?, ?, ?)", (where, NAME, value))
    generation = Generation.new(time.time()).to_json()
    conn.execute("INSERT INTO meta (key, value) VALUES ('generation', ?)", (generation,))
    conn.execute("COMMIT")
    conn.execute("PRAGMA user_version = 4")
    conn.close()


def _lock(root: str) -> Lock:
    now = time.time()
    return Lock(
        token=f"opaquelocktoken:{uuid.uuid4()}",
        root=root,
        scope=Scope.EXCLUSIVE,
        depth=Depth.ZERO,
        owner="",
        principal="bob",
        timeout=600,
        expires_at=now + 600,
        created_at=now,
        address="",
    )


def probe(path: Path, ready: Event, stop: Event, out: Connection) -> None:
    """Take a lock every 20 ms until told to stop; send the longest wait and the count."""
    locks = SqliteLockStore(Database(path))
    ready.set()
    longest, count = 0.0, 0
    while not stop.is_set():
        lock = _lock(f"/probe/{uuid.uuid4().hex}")
        started = time.monotonic()
        locks.insert_if(lock.root, False, time.time(), lambda held, lock=lock: lock)
        longest = max(longest, time.monotonic() - started)
        count += 1
        time.sleep(0.02)
    out.send((longest, count))


def operate(path: Path, op: str, src: str, dest: str) -> None:
    props = SqlitePropertyStore(Database(path))
    if op == "remove_tree":
        props.remove_tree(src)
    else:
        getattr(props, op)(src, dest)
    props.close()


def measure(path: Path, op: str, src: str, dest: str, deadline: float) -> str:
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    theirs, ours = ctx.Pipe(duplex=False)
    prober = ctx.Process(target=probe, args=(path, ready, stop, ours))
    prober.start()
    ready.wait(60)
    time.sleep(0.2)
    worker = ctx.Process(target=operate, args=(path, op, src, dest))
    started = time.monotonic()
    worker.start()
    worker.join(deadline)
    took = time.monotonic() - started
    if worker.is_alive():
        worker.kill()
        worker.join()
        took_text = f"> {deadline:.0f} s (killed)"
    else:
        took_text = f"{took:.2f} s"
    stop.set()
    longest, count = theirs.recv() if theirs.poll(120) else (float("nan"), 0)
    prober.join(30)
    return f"| {op} {src} -> {dest or '-'} | {took_text} | {longest * 1000:.0f} ms | {count} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--props", type=int, default=300_000)
    parser.add_argument("--big", type=int, default=4, help="legacy 7.5 MiB values")
    parser.add_argument("--deadline", type=float, default=120.0, help="seconds per operation")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="davserver-props-") as tmp:
        path = Path(tmp) / "stores.sqlite"
        started = time.monotonic()
        build(path, args.props, args.big)
        print(
            f"built {args.props} properties + {args.big} x 7.5 MiB in "
            f"{time.monotonic() - started:.1f} s"
        )
        started = time.monotonic()
        Database(path).close()
        print(f"opened (upgrade to the current schema) in {time.monotonic() - started:.2f} s")
        print("| operation | took | longest insert_if wait | locks taken meanwhile |")
        print("|---|---|---|---|")
        for op, src, dest in (
            ("move_tree", "/big", "/moved"),
            ("copy_tree", "/moved", "/copy"),
            ("remove_tree", "/copy", ""),
            ("remove_tree", "/moved", ""),
        ):
            print(measure(path, op, src, dest, args.deadline), flush=True)


if __name__ == "__main__":
    main()
