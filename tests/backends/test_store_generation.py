"""The contract for a store that lost its data, for every persistent backend.

A SQLite file deleted under a running server and a Redis emptied under it are
the same fault: the store no longer holds the locks the server granted.  Both
must answer StoreUnavailable (503) naming ``davserver locks confirm-store``,
log it once, never recreate an empty store silently, refuse a restart, and come
back once an administrator confirms.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from davserver.errors import StartupError, StoreUnavailable
from davserver.lockstore import Role, Stores, health, open_stores
from davserver.lockstore import redis as redis_store
from davserver.lockstore.generation import Generation, Seen, SeenFile, Verdict, judge
from tests.backends.conftest import Harness
from tests.backends.helpers import grant, make_lock, tokens


@pytest.fixture(autouse=True)
def quick_recheck(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "RECHECK_INTERVAL", 0.05)


@pytest.fixture
def now() -> float:
    return time.time()


def sqlite_path(h: Harness) -> Path:
    return Path(h.url.removeprefix("sqlite://"))


def lose_data(h: Harness) -> None:
    """What a deleted database file or a Redis restarted empty leaves behind."""
    if h.name == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite_path(h)}{suffix}").unlink(missing_ok=True)
        return
    client, prefix = redis_store.connect(h.url)
    for key in client.keys(f"{prefix}*"):
        client.delete(key)
    client.close()


def confirm(h: Harness) -> Generation:
    stores = open_stores(h.url, state_dir=h.state_dir, role=Role.CONFIRM)
    try:
        assert stores.control is not None
        return stores.control.confirm(time.time())
    finally:
        stores.close()


def lock_at(stores: Stores, root: str, now: float) -> str:
    lock = make_lock(root, now=now)
    stores.locks.insert_if(root, False, now, grant(lock))
    return lock.token


def store_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "davserver.lockstore" and r.levelno == logging.WARNING
    ]


def test_every_store_takes_a_write_probe(harness: Harness) -> None:
    harness.opened[0].locks.ensure_writable()


def test_the_generation_is_written_once_and_kept(persistent_harness: Harness) -> None:
    control = persistent_harness.opened[0].control
    assert control is not None
    first = control.generation()
    assert first is not None and first.confirmed_at is None
    again = persistent_harness.reopen().control
    assert again is not None and again.generation() == first


def test_data_lost_under_a_running_server_is_refused_until_confirmed(
    persistent_harness: Harness, now: float, caplog: pytest.LogCaptureFixture
) -> None:
    stores = persistent_harness.opened[0]
    lock_at(stores, "/held", now)
    lose_data(persistent_harness)
    time.sleep(0.03)  # past the SQLite file check interval
    for _ in range(3):
        with pytest.raises(StoreUnavailable, match="confirm-store") as refused:
            stores.locks.find("/held", False, now)
        assert refused.value.retry_after > 0
        with pytest.raises(StoreUnavailable):
            stores.locks.insert_if("/new", False, now, grant(make_lock("/new", now=now)))
    warnings = store_warnings(caplog)
    assert len(warnings) == 1, warnings  # once per episode, not per call
    assert "confirm-store" in warnings[0]
    if persistent_harness.name == "sqlite":
        assert not sqlite_path(persistent_harness).exists()  # never recreated empty
    confirm(persistent_harness)
    time.sleep(0.06)  # past the re-check interval
    assert stores.locks.find("/held", False, now) == []  # the confirmed store, as it is
    assert lock_at(stores, "/after", now) in tokens(stores.locks.all_locks(now))


def test_a_restart_on_a_store_that_lost_its_data_is_refused(
    persistent_harness: Harness, now: float
) -> None:
    lock_at(persistent_harness.opened[0], "/held", now)
    persistent_harness.close()
    lose_data(persistent_harness)
    with pytest.raises(StartupError, match="confirm-store"):
        persistent_harness.open()
    if persistent_harness.name == "sqlite":
        assert not sqlite_path(persistent_harness).exists()
    record = confirm(persistent_harness)
    stores = persistent_harness.open()
    assert stores.locks.all_locks(now) == []
    assert stores.control is not None and stores.control.generation() == record


def test_another_server_joining_the_store_adopts_it(
    persistent_harness: Harness, now: float, tmp_path: Path
) -> None:
    token = lock_at(persistent_harness.opened[0], "/held", now)
    other = open_stores(persistent_harness.url, state_dir=tmp_path / "other-server")
    try:
        assert tokens(other.locks.find("/held", False, now)) == {token}
    finally:
        other.close()


def test_a_corrupt_record_is_unavailable_not_an_error(
    persistent_harness: Harness, now: float, caplog: pytest.LogCaptureFixture
) -> None:
    stores = persistent_harness.opened[0]
    token = lock_at(stores, "/bad", now)
    if persistent_harness.name == "sqlite":
        import sqlite3

        with sqlite3.connect(sqlite_path(persistent_harness)) as conn:
            conn.execute("UPDATE locks SET data = 'not json' WHERE token = ?", (token,))
    else:
        client, prefix = redis_store.connect(persistent_harness.url)
        client.set(f"{prefix}lock:{token}", "not json")
        client.close()
    with pytest.raises(StoreUnavailable):
        stores.locks.find("/bad", False, now)
    assert any("unreadable" in message for message in store_warnings(caplog))


def test_admin_never_creates_a_missing_database(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="does not exist"):
        open_stores(f"sqlite://{tmp_path}/none.sqlite", state_dir=tmp_path, role=Role.ADMIN)
    assert not (tmp_path / "none.sqlite").exists()


# -- the rules themselves (pure) ------------------------------------------------


def test_judge() -> None:
    old = Generation("a", 100.0)
    seen = Seen("a", 200.0)
    assert judge(None, None) is Verdict.FRESH
    assert judge(None, seen) is Verdict.LOST
    assert judge(old, None) is Verdict.ADOPT
    assert judge(old, seen) is Verdict.KEEP
    assert judge(Generation("b", 300.0), seen) is Verdict.LOST  # another store
    assert judge(Generation("b", 300.0, 300.0), seen) is Verdict.ADOPT  # confirmed since
    # a snapshot restored with an older confirmed record is still refused
    assert judge(Generation("c", 50.0, 150.0), seen) is Verdict.LOST


def test_seen_file_round_trip_and_damage(tmp_path: Path) -> None:
    memory = SeenFile(tmp_path)
    assert memory.load("sqlite:///x") is None
    memory.save("sqlite:///x", Seen("a", 1.5))
    memory.save("redis://h/0", Seen("b", 2.5))
    assert memory.load("sqlite:///x") == Seen("a", 1.5)
    assert memory.load("redis://h/0") == Seen("b", 2.5)
    memory.path.write_text("{not json")
    assert memory.load("sqlite:///x") is None
