"""WAIT: a lock change is acknowledged only once ``redis_min_replicas`` replicas have it.

A real primary, with and without a replica of its own.  Fewer confirmations in
time: the operation raises StoreUnavailable (503 with Retry-After, a transient
fault); a LOCK's grant is withdrawn, an UNLOCK's lock is put back (so that the
client's repeated UNLOCK succeeds), a refresh stays as the primary took it.
The write counter's floor only rises with confirmed writes, so a primary that
lost an unconfirmed write in a failover is not refused, one that lost a
confirmed write is.

No test depends on how fast a replica answers: where none can confirm (none is
attached, or it is stopped) WAIT gives up after :data:`HOPELESS_MS`; where one
must confirm, :data:`PATIENT_MS` is far longer than any machine under load
needs (WAIT returns as soon as the replica has answered).
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from davserver.config import load
from davserver.errors import StartupError, StoreUnavailable
from davserver.locking.model import Scope
from davserver.lockstore import Role, Stores, open_stores
from davserver.lockstore.redis import RedisLockStore
from davserver.runtime.preflight import warnings
from tests.backends.helpers import grant, make_lock, tokens
from tests.support.redis import RedisServer
from tests.support.redis_sentinel import wait_for

HOPELESS_MS = 50  # no replica can confirm: the outcome does not depend on it
PATIENT_MS = 30_000  # a replica that is there confirms well within this
QUICK_SYNC = ("--repl-diskless-sync-delay", "0")


@pytest.fixture
def primary(tmp_path: Path) -> Iterator[RedisServer]:
    # No delay before the first sync (5 s by default, waiting for more replicas).
    with RedisServer(tmp_path / "primary", extra_args=QUICK_SYNC) as server:
        yield server


def open_(url: str, state_dir: Path, replicas: int, timeout_ms: int = HOPELESS_MS) -> Stores:
    return open_stores(
        url, state_dir=state_dir, min_replicas=replicas, replica_timeout_ms=timeout_ms
    )


@contextlib.contextmanager
def stopped(replica: RedisServer) -> Iterator[None]:
    """SIGSTOP ``replica``: attached, but it confirms nothing until SIGCONT."""
    assert replica.proc is not None
    replica.proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        replica.proc.send_signal(signal.SIGCONT)


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


def insert(stores: Stores, root: str, scope: Scope = Scope.EXCLUSIVE) -> str:
    now = time.time()
    lock = make_lock(root, now=now, scope=scope)
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
    # A refresh is answered 503 too, but the primary took it.
    lock = plain.locks.get(kept, now)
    assert lock is not None
    assert lock.expires_at is not None
    later = dataclasses.replace(lock, expires_at=lock.expires_at + 100)
    with pytest.raises(StoreUnavailable):
        waiting.locks.replace(later, now)
    assert plain.locks.get(kept, now) == later
    # An UNLOCK is answered 503 and its lock put back: repeated, it finds it.
    with pytest.raises(StoreUnavailable):
        waiting.locks.remove(kept)
    assert tokens(plain.locks.find("/kept", False, time.time())) == {kept}
    assert plain.locks.remove(kept) is not None
    # A write whose guard (intent) was not confirmed does not run, and leaves no
    # intent behind that would hold LOCKs on its path back.
    ran = []
    with pytest.raises(StoreUnavailable), waiting.locks.hold_if([("/held", False)], now, list):
        ran.append(True)
    assert ran == []
    with redis.Redis("127.0.0.1", primary.port, decode_responses=True) as client:
        assert client.keys("davserver:hold-*") == []  # no intent: nothing to wait for
    insert(plain, "/held")
    # A transient fault: the next operation tries Redis again.
    assert waiting.locks.find("/kept", False, time.time()) == []
    assert waiting.locks.find("/held", False, time.time()) != []
    waiting.close()
    plain.close()


def test_a_replica_that_confirms_lets_every_change_through(
    primary: RedisServer, tmp_path: Path
) -> None:
    with replica_of(primary, tmp_path / "replica") as replica:
        stores = open_(primary.url, tmp_path, 1, PATIENT_MS)
        token = insert(stores, "/doc")
        assert stores.locks.remove(token) is not None
        with redis.Redis("127.0.0.1", replica.port, decode_responses=True) as copy:
            assert copy.exists(f"davserver:lock:{token}") == 0  # the replica has the UNLOCK
        stores.close()


def test_an_unlock_answered_503_can_be_repeated_once_a_replica_confirms(
    primary: RedisServer, tmp_path: Path
) -> None:
    """The client repeats an UNLOCK answered 503 (Retry-After): it must not get 409."""
    with replica_of(primary, tmp_path / "replica") as replica:
        patient = open_(primary.url, tmp_path, 1, PATIENT_MS)
        hasty = open_(primary.url, tmp_path, 1)
        token = insert(patient, "/doc")
        with stopped(replica), pytest.raises(StoreUnavailable, match="replica"):
            hasty.locks.remove(token)
        assert tokens(patient.locks.find("/doc", False, time.time())) == {token}
        removed = patient.locks.remove(token)  # the repeat, once the replica is back
        assert removed is not None and removed.token == token
        assert tokens(patient.locks.find("/doc", False, time.time())) == set()
        with redis.Redis("127.0.0.1", replica.port, decode_responses=True) as copy:
            assert copy.exists(f"davserver:lock:{token}") == 0
        hasty.close()
        patient.close()


def test_an_unconfirmed_unlock_stays_when_a_conflicting_lock_was_granted_meanwhile(
    primary: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the UNLOCK and its putting back, another client got the resource (its
    LOCK confirmed, so the UNLOCK is confirmed too): the old lock must not come back
    beside the new one; a shared lock beside it does."""
    with replica_of(primary, tmp_path / "replica") as replica:
        patient = open_(primary.url, tmp_path, 1, PATIENT_MS)
        hasty = open_(primary.url, tmp_path, 1)
        old = insert(patient, "/doc")
        shared = insert(patient, "/other", Scope.SHARED)
        put_back = RedisLockStore._reinstate
        taken: list[str] = []

        def meanwhile(store: RedisLockStore, lock: Any) -> None:
            replica.proc.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
            taken.append(insert(patient, lock.root, lock.scope))
            put_back(store, lock)

        monkeypatch.setattr(RedisLockStore, "_reinstate", meanwhile)
        for token in (old, shared):
            with stopped(replica), pytest.raises(StoreUnavailable, match="replica"):
                hasty.locks.remove(token)
        now = time.time()
        assert tokens(patient.locks.find("/doc", False, now)) == {taken[0]}
        assert tokens(patient.locks.find("/other", False, now)) == {shared, taken[1]}
        hasty.close()
        patient.close()


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
        confirmed = open_(primary.url, tmp_path / "a", 1, PATIENT_MS)
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
    config.write_text(f"store:\n  url: {primary.url}\n  redis_min_replicas: 1\n")
    root = tmp_path / "share"
    root.mkdir()
    expected = "0 replica(s) attached, but store.redis_min_replicas is 1"
    assert any(expected in line for line in warnings(load(str(config), {"root": str(root)})))
    config.write_text(f"store:\n  url: {primary.url}\n")  # plain redis://: no WAIT by default
    assert not any("replica" in w for w in warnings(load(str(config), {"root": str(root)})))
    with replica_of(primary, tmp_path / "replica"):
        config.write_text(f"store:\n  url: {primary.url}\n  redis_min_replicas: 1\n")
        assert not any("replica" in w for w in warnings(load(str(config), {"root": str(root)})))
