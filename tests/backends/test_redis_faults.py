"""Redis faults with a real redis-server of their own: persistence at start, a
restart that loses everything, a restart from an older snapshot, refused writes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from davserver.errors import StartupError, StoreUnavailable
from davserver.lockstore import Role, Stores, health, open_stores
from davserver.lockstore import redis as redis_store
from tests.backends.helpers import grant, make_lock, tokens
from tests.support.redis import RedisServer


@pytest.fixture(autouse=True)
def quick_recheck(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "RECHECK_INTERVAL", 0.05)


@pytest.fixture
def volatile(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis", persistence="none") as server:
        yield server


def insert(stores: Stores, root: str) -> str:
    now = time.time()
    lock = make_lock(root, now=now)
    stores.locks.insert_if(root, False, now, grant(lock))
    return lock.token


def confirm(url: str, state_dir: Path) -> None:
    stores = open_stores(url, state_dir=state_dir, role=Role.CONFIRM)
    assert stores.control is not None
    stores.control.confirm(time.time())
    stores.close()


def test_a_redis_without_persistence_is_refused_at_start(
    volatile: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(StartupError, match=r"store\.volatile_ok") as refused:
        open_stores(volatile.url, state_dir=tmp_path)
    assert "only in memory" in str(refused.value)
    stores = open_stores(volatile.url, state_dir=tmp_path, volatile_ok=True)
    stores.close()
    assert any("accepted" in r.getMessage() for r in caplog.records if r.levelno >= 30)
    # the admin commands do not care: they serve no requests
    open_stores(volatile.url, state_dir=tmp_path, role=Role.ADMIN).close()


def test_a_redis_that_hides_config_is_refused_unless_accepted(tmp_path: Path) -> None:
    hidden = ("--rename-command", "CONFIG", "")
    with RedisServer(tmp_path / "redis", extra_args=hidden) as server:
        with pytest.raises(StartupError, match="CONFIG GET"):
            open_stores(server.url, state_dir=tmp_path)
        open_stores(server.url, state_dir=tmp_path, volatile_ok=True).close()


def test_redis_restarted_empty_is_refused_until_confirmed(
    volatile: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stores = open_stores(volatile.url, state_dir=tmp_path, volatile_ok=True)
    insert(stores, "/held")
    volatile.stop()
    volatile.start()  # no persistence: every lock is gone
    for _ in range(3):
        with pytest.raises(StoreUnavailable, match="confirm-store"):
            stores.locks.find("/held", False, time.time())
    lost = [r.getMessage() for r in caplog.records if "no generation record" in r.getMessage()]
    assert len(lost) == 1
    with pytest.raises(StartupError, match="confirm-store"):
        open_stores(volatile.url, state_dir=tmp_path, volatile_ok=True)  # a restart, too
    confirm(volatile.url, tmp_path / "admin")
    time.sleep(0.06)
    assert stores.locks.find("/held", False, time.time()) == []
    assert insert(stores, "/after") in tokens(stores.locks.all_locks(time.time()))
    stores.close()


def test_redis_back_from_an_older_snapshot_is_refused(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis", persistence="rdb") as server:
        stores = open_stores(server.url, state_dir=tmp_path)
        insert(stores, "/saved")
        client, _ = redis_store.connect(server.url)
        client.save()  # the snapshot: the lock above is in it
        client.close()
        insert(stores, "/after-snapshot")
        server.kill()  # a crash: the last lock was never saved
        server.start()
        with pytest.raises(StoreUnavailable, match="confirm-store"):
            stores.locks.all_locks(time.time())
        stores.close()


def test_redis_refusing_writes_stops_a_delete_before_it_starts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with RedisServer(tmp_path / "redis") as server:
        stores = open_stores(server.url, state_dir=tmp_path)
        token = insert(stores, "/held")
        admin, _ = redis_store.connect(server.url)
        admin.config_set("min-replicas-to-write", 1)  # writes now fail: NOREPLICAS
        with pytest.raises(StoreUnavailable, match="cannot be written"):
            stores.locks.ensure_writable()
        with pytest.raises(StoreUnavailable):
            stores.locks.get(token, time.time())  # broken: no half-trusted reads either
        assert any("refuses writes" in r.getMessage() for r in caplog.records)
        admin.config_set("min-replicas-to-write", 0)
        time.sleep(0.06)
        assert stores.locks.get(token, time.time()) is not None
        admin.close()
        stores.close()
