"""The SQLite property store under big subtrees: the writers are not held for the
length of a MOVE, a crash between its batches loses nothing, and databases
written by an older davserver (values inline, schema 4) keep every property."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from davserver.lockstore.generation import Generation
from davserver.lockstore.paths import rebase
from davserver.lockstore.sqlite import SqliteLockStore, SqlitePropertyStore
from davserver.lockstore.sqlite_db import Database
from tests.backends.helpers import grant, make_lock

NAME = "{urn:x}p"
BIG = f'<big xmlns="urn:x">{"v" * (3 << 20)}</big>'
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
Props = dict[tuple[str, str], str]


def schema_4_database(path: Path, props: Props) -> None:
    """The file as davserver wrote it at schema 4: every value inline in its row."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.executescript(SCHEMA_4)
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO props (path, name, value) VALUES (?, ?, ?)",
            [(p, n, v) for (p, n), v in props.items()],
        )
        generation = Generation.new(time.time()).to_json()
        conn.execute("INSERT INTO meta (key, value) VALUES ('generation', ?)", (generation,))
        conn.execute("COMMIT")
        conn.execute("PRAGMA user_version = 4")
    finally:
        conn.close()


def folder(root: str, count: int, names: int = 1) -> Props:
    found: Props = {}
    for i in range(count):
        for k in range(names):
            path = f"{root}/d{i // 100:04d}/f{i % 100:02d}"
            found[path, f"{{urn:x}}n{k}"] = f'<n{k} xmlns="urn:x">{path} é {k}</n{k}>'
    return found


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[Callable[[Props], SqlitePropertyStore]]:
    stores: list[SqlitePropertyStore] = []

    def open_with(props: Props) -> SqlitePropertyStore:
        path = tmp_path / "stores.sqlite"
        if not path.exists():
            schema_4_database(path, props)
        stores.append(SqlitePropertyStore(Database(path)))
        return stores[-1]

    yield open_with
    for store in stores:
        store.close()


def stored(store: SqlitePropertyStore, paths: set[str]) -> Props:
    return {(p, n): v for p in paths for n, v in store.get_all(p).items()}


def test_schema_4_upgrade_keeps_every_property(
    opened: Callable[[Props], SqlitePropertyStore], tmp_path: Path
) -> None:
    old = {**folder("/a b/ü", 3000, names=2), ("/legacy", NAME): BIG, ("/", NAME): "<r/>"}
    store = opened(old)
    assert stored(store, {p for p, _ in old}) == old
    store.close()
    with sqlite3.connect(tmp_path / "stores.sqlite") as conn:
        # An older davserver refuses the upgraded file instead of misreading it.
        assert conn.execute("PRAGMA user_version").fetchone() == (5,)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    again = opened({})
    assert stored(again, {p for p, _ in old}) == old
    again.move_tree("/legacy", "/moved")
    assert again.get("/moved", NAME) == BIG and again.get("/legacy", NAME) is None


def test_a_lock_is_taken_while_a_big_move_runs(tmp_path: Path) -> None:
    """Another user's LOCK must not wait for the whole MOVE of a big folder's
    properties (the lock and property stores share SQLite's single writer)."""
    old = {**folder("/big", 100_000), ("/big/legacy", NAME): BIG}
    path = tmp_path / "stores.sqlite"
    schema_4_database(path, old)
    db = Database(path)
    props, locks = SqlitePropertyStore(db), SqliteLockStore(db)
    moved = threading.Event()

    def move() -> None:
        props.move_tree("/big", "/moved")
        moved.set()

    mover = threading.Thread(target=move)
    mover.start()
    try:
        deadline = time.monotonic() + 60
        while not moved.is_set() and time.monotonic() < deadline:
            if props.get_all("/moved/d0000/f00") and props.get_all("/big/d0999/f99"):
                break  # the move is under way: part of it is committed, part not yet
            time.sleep(0.001)
        lock = make_lock("/elsewhere", now=time.time())
        locks.insert_if("/elsewhere", False, time.time(), grant(lock))
        assert not moved.is_set(), "the LOCK waited for the whole MOVE"
    finally:
        mover.join(120)
        db.close()


class Crash(Exception):
    pass


def crash_after(monkeypatch: pytest.MonkeyPatch, batches: int) -> None:
    """The process dies between two batches (simulated: the next batch raises)."""
    from davserver.lockstore import sqlite_props  # the journalled jobs (schema 5)

    step = sqlite_props._step
    calls = [0]

    def failing(conn: sqlite3.Connection, upto: int | None) -> bool:
        calls[0] += 1
        if calls[0] > batches:
            raise Crash
        return step(conn, upto)

    monkeypatch.setattr(sqlite_props, "_step", failing)


@pytest.mark.parametrize("kind", ["move_tree", "copy_tree", "remove_tree"])
def test_a_crash_between_batches_loses_nothing_and_the_next_open_finishes(
    opened: Callable[[Props], SqlitePropertyStore],
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    tmp_path: Path,
) -> None:
    old = {**folder("/a", 5000), ("/a/legacy", NAME): BIG}
    moved = {(rebase(p, "/a", "/b"), n): v for (p, n), v in old.items()}
    stale = {("/b/stale", NAME): "<stale/>", ("/b", NAME): "<dest/>"}
    expected = {"move_tree": moved, "copy_tree": {**old, **moved}, "remove_tree": stale}
    store = opened({**old, **stale})
    crash_after(monkeypatch, 3)  # the destination emptied, a batch moved
    with pytest.raises(Crash):
        if kind == "remove_tree":
            store.remove_tree("/a")
        else:
            getattr(store, kind)("/a", "/b")
    paths = {p for p, _ in old} | {p for p, _ in moved} | {p for p, _ in stale}
    half = stored(store, paths)
    for (path, name), value in old.items():
        here = half.get((path, name)) == value
        there = half.get((rebase(path, "/a", "/b"), name)) == value
        if kind == "move_tree":
            assert here != there  # at its old place or its new one, never lost
        elif kind == "copy_tree":
            assert here
    assert half != expected[kind]  # the crash cut it short
    store.close()
    monkeypatch.undo()

    reopened = opened({})
    after = stored(reopened, paths)
    assert after == expected[kind]
    if kind == "copy_tree":  # the copy shares no fate with its source
        reopened.set("/b/d0000/f00", "{urn:x}n0", "<new/>")
        reopened.remove_tree("/a")
        assert reopened.get("/b/d0000/f00", "{urn:x}n0") == "<new/>"
        assert stored(reopened, paths) == {**moved, ("/b/d0000/f00", "{urn:x}n0"): "<new/>"}
    reopened.remove_tree("/")
    with sqlite3.connect(tmp_path / "stores.sqlite") as conn:  # no value left behind
        assert conn.execute("SELECT COUNT(*) FROM prop_values").fetchone() == (0,)


def test_a_delete_after_an_unfinished_move_finishes_the_move_first(
    opened: Callable[[Props], SqlitePropertyStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DELETE of the destination of a MOVE that stopped half-way: nothing of the
    moved tree may outlive the DELETE (a later resource there would inherit it)."""
    old = folder("/a", 3000)
    store = opened({**old, ("/elsewhere", NAME): "<e/>"})
    crash_after(monkeypatch, 3)
    with pytest.raises(Crash):
        store.move_tree("/a", "/b")
    monkeypatch.undo()
    store.remove_tree("/b")
    paths = {p for p, _ in old} | {rebase(p, "/a", "/b") for p, _ in old} | {"/elsewhere"}
    assert stored(store, paths) == {("/elsewhere", NAME): "<e/>"}
