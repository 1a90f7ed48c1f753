"""WAIT: a lock change is acknowledged only once ``redis_min_replicas`` replicas have it.

A real primary, with and without a replica of its own.  Fewer confirmations in
time: the operation raises StoreUnavailable (503 with Retry-After, a transient
fault); a LOCK's grant is withdrawn, a refresh or UNLOCK stays as the primary
took it.  The write counter's floor only rises with confirmed writes, so a
primary that lost an unconfirmed write in a failover is not refused, one that
lost a confirmed write is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from davserver.config import load
from davserver.errors import StartupError, StoreUnavailable
from davserver.lockstore import Role, Stores, open_stores
from davserver.preflight import warnings
from tests.backends.helpers import grant, make_lock, tokens
from tests.support.redis import RedisServer
from tests.support.redis_sentinel import wait_for

TIMEOUT_MS = 50
QUICK_SYNC = ("--repl-diskless-sync-delay", "0")


@pytest.fixture
def primary(tmp_path: Path) -> Iterator[RedisServer]:
    # No delay before the first sync (5 s by default, waiting for more replicas).
    with RedisServer(tmp_path / "primary", extra_args=QUICK_SYNC) as server:
        yield server


def open_(url: str, state_dir: Path, replicas: int) -> Stores:
    return open_stores(
        url, state_dir=state_dir, min_replicas=replicas, replica_timeout_ms=TIMEOUT_MS
    )


@contextlib.contextmanager
def replica_of(primary: RedisServer, workdir: Path) -> Iterator[RedisServer]:
    """A replica of ``primary``, in sync; killed after (a replica can take seconds
    to stop on SIGTERM, and its data is thrown away)."""
    follow = ("--replicaof", "127.0.0.1", str(primary.port))
    replica = RedisServer(workdir, extra_args=follow).start()
    try:
        with redis.Redis("127.0.0.1", primary.port) as client:
            wait_for("the replica", lambda: online(client), 10)
        yield replica
    finally:
        replica.kill()


def online(client: redis.Redis) -> bool:
    replica = client.info("replication").get("slave0")
    return isinstance(replica, dict) and replica.get("state") == "online"


def insert(stores: Stores, root: str) -> str:
    now = time.time()
    lock = make_lock(root, now=now)
    stores.locks.insert_if(root, False, now, grant(lock))
    return lock.token


def test_a_fresh_store_needs_its_replicas_to_start(primary: RedisServer, tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="could not copy the change to a replica"):
        open_(primary.url, tmp_path, 1)


def test_fewer_replicas_than_required_answer_503_and_withdraw_the_grant(
    primary: RedisServer, tmp_path: Path
) -> None:
    plain = open_(primary.url, tmp_path, 0)  # writes the generation record
    kept = insert(plain, "/kept")
    waiting = open_(primary.url, tmp_path, 1)
    with pytest.raises(StoreUnavailable, match="could not copy the change to a replica") as no:
        insert(waiting, "/new")
    assert no.value.retry_after > 0
    now = time.time()
    assert plain.locks.find("/new", False, now) == []  # withdrawn: nobody holds it
    # A refresh and an UNLOCK are answered 503 too, but the primary took them.
    lock = plain.locks.get(kept, now)
    assert lock is not None
    assert lock.expires_at is not None
    later = dataclasses.replace(lock, expires_at=lock.expires_at + 100)
    with pytest.raises(StoreUnavailable):
        waiting.locks.replace(later, now)
    assert plain.locks.get(kept, now) == later
    with pytest.raises(StoreUnavailable):
        waiting.locks.remove(kept)
    assert tokens(plain.locks.find("/kept", False, time.time())) == set()
    # A write whose guard (intent) was not confirmed does not run, and leaves no
    # intent behind that would hold LOCKs on its path back.
    ran = []
    with pytest.raises(StoreUnavailable), waiting.locks.hold_if([("/held", False)], now, list):
        ran.append(True)
    assert ran == []
    started = time.monotonic()
    insert(plain, "/held")
    assert time.monotonic() - started < 1
    # A transient fault: the next operation tries Redis again.
    assert waiting.locks.find("/kept", False, time.time()) == []
    waiting.close()
    plain.close()


def test_a_replica_that_confirms_lets_every_change_through(
    primary: RedisServer, tmp_path: Path
) -> None:
    with replica_of(primary, tmp_path / "replica") as replica:
        stores = open_(primary.url, tmp_path, 1)
        token = insert(stores, "/doc")
        assert stores.locks.remove(token) is not None
        with redis.Redis("127.0.0.1", replica.port, decode_responses=True) as copy:
            assert copy.exists(f"davserver:lock:{token}") == 0  # the replica has the UNLOCK
        stores.close()


def counter(url: str, value: int | None = None) -> int:
    """The store's write counter (set to ``value`` first: a failover to a replica
    that lacks the writes after it)."""
    with redis.Redis.from_url(url) as client:
        if value is not None:
            client.set("davserver:seq", value)
        return int(client.get("davserver:seq") or 0)


def test_losing_an_unconfirmed_write_is_no_loss_but_losing_a_confirmed_one_is(
    primary: RedisServer, tmp_path: Path
) -> None:
    with replica_of(primary, tmp_path / "replica"):
        confirmed = open_(primary.url, tmp_path / "a", 1)
        insert(confirmed, "/a")
        acknowledged = counter(primary.url)
        unconfirmed = open_(primary.url, tmp_path / "b", 2)  # one replica is too few
        with pytest.raises(StoreUnavailable):
            insert(unconfirmed, "/b")
        assert counter(primary.url) > acknowledged
        counter(primary.url, acknowledged)  # the writes answered 503 are lost
        now = time.time()
        assert tokens(unconfirmed.locks.find("/b", False, now)) == set()
        assert len(confirmed.locks.find("/a", False, now)) == 1
        counter(primary.url, acknowledged - 1)  # a write answered 200 is lost
        with pytest.raises(StoreUnavailable, match="lost its data"):
            confirmed.locks.find("/a", False, now)
        # The server that noticed makes every other one refuse the store too: they
        # never saw the lost write and would grant its lock again.
        with pytest.raises(StoreUnavailable, match="confirm-store"):
            unconfirmed.locks.find("/a", False, now)
        admin = open_stores(primary.url, state_dir=tmp_path / "admin", role=Role.CONFIRM)
        assert admin.control is not None
        admin.control.confirm(time.time())
        admin.close()
        wait_for("the confirmed store", lambda: works(confirmed) and works(unconfirmed), 10)
        unconfirmed.close()
        confirmed.close()


def works(stores: Stores) -> bool:
    try:
        stores.locks.find("/", True, time.time())
    except StoreUnavailable:
        return False
    return True


def test_check_config_warns_about_a_primary_without_enough_replicas(
    primary: RedisServer, tmp_path: Path
) -> None:
    config = tmp_path / "davserver.yaml"
    config.write_text(f"lock_store: {primary.url}\nredis_min_replicas: 1\n")
    root = tmp_path / "share"
    root.mkdir()
    expected = "0 replica(s) attached, but redis_min_replicas is 1"
    assert any(expected in line for line in warnings(load(str(config), {"root": str(root)})))
    config.write_text(f"lock_store: {primary.url}\n")  # plain redis://: no WAIT by default
    assert not any("replica" in w for w in warnings(load(str(config), {"root": str(root)})))
    with replica_of(primary, tmp_path / "replica"):
        config.write_text(f"lock_store: {primary.url}\nredis_min_replicas: 1\n")
        assert not any("replica" in w for w in warnings(load(str(config), {"root": str(root)})))
