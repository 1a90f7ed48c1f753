"""The LockStore contract of ``hold_if``, run against every backend (memory, SQLite,
Redis): a write's lock check held atomically with the write (RFC 4918 §7).

A LOCK racing the held block runs in another thread; that it *waits* is seen by
it not having finished while the block is open (a short join), and that it then
*sees* the block's work by what its ``decide`` was shown.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from davserver.errors import StoreUnavailable
from davserver.locking.model import Lock
from tests.backends.conftest import Harness
from tests.backends.helpers import Refused, grant, make_lock, refuse, tokens


@pytest.fixture
def now() -> float:
    return time.time()


def put(h: Harness, root: str, now: float) -> Lock:
    lock = make_lock(root, now=now)
    h.opened[-1].locks.insert_if(root, False, now, grant(lock))
    return lock


class Racer(threading.Thread):
    """An insert_if in another thread, recording what its last decide saw."""

    def __init__(self, h: Harness, path: str, now: float) -> None:
        super().__init__(daemon=True)
        self.store, self.path, self.now = h.opened[-1].locks, path, now
        self.seen: list[Lock] = []
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        def decide(held: Sequence[Lock]) -> Lock:
            self.seen = list(held)
            return make_lock(self.path, now=self.now)

        try:
            self.store.insert_if(self.path, True, self.now, decide)
        except BaseException as exc:  # reported by the test
            self.error = exc

    def finished(self, within: float) -> bool:
        self.join(within)
        return not self.is_alive()


def test_check_sees_every_scope_once(harness: Harness, now: float) -> None:
    a, ab, elsewhere = put(harness, "/a", now), put(harness, "/a/b/c", now), put(harness, "/x", now)
    seen: list[Lock] = []
    scopes = [("/a/b", True), ("/a", False), ("/a/b", True)]
    with harness.opened[-1].locks.hold_if(scopes, now, seen.extend):
        pass
    assert sorted(lock.token for lock in seen) == sorted([a.token, ab.token])
    assert elsewhere.token not in tokens(seen)


def test_check_refusing_holds_nothing(harness: Harness, now: float) -> None:
    store = harness.opened[-1].locks
    with pytest.raises(Refused), store.hold_if([("/d", True)], now, refuse):
        raise AssertionError("the block must not run")
    started = time.monotonic()
    lock = put(harness, "/d/x", now)  # neither waits nor fails
    assert time.monotonic() - started < 2
    assert store.get(lock.token, now) == lock


def test_overlapping_lock_waits_and_sees_the_block(harness: Harness, now: float) -> None:
    old = put(harness, "/d/sub/x", now)
    store = harness.opened[-1].locks
    with store.hold_if([("/d", True)], now, lambda locks: None) as held:
        racer = Racer(harness, "/d/sub/x", now)
        assert not racer.finished(0.3), "a LOCK completed inside a held write"
        removed = held.remove_tree("/d")
    assert tokens(removed) == {old.token}
    assert racer.finished(10) and racer.error is None
    assert old.token not in tokens(racer.seen)  # it ran after the removal
    assert [lock.root for lock in store.find("/d/sub/x", False, now)] == ["/d/sub/x"]


def test_lock_on_an_ancestor_waits_too(harness: Harness, now: float) -> None:
    store = harness.opened[-1].locks
    with store.hold_if([("/d/e/f", False)], now, lambda locks: None):
        racer = Racer(harness, "/d", now)
        assert not racer.finished(0.3)
    assert racer.finished(10) and racer.error is None


# Redis only: memory and SQLite hold the whole store for the (short) block.
@pytest.mark.parametrize("harness", ["redis"], indirect=True)
def test_redis_other_paths_are_not_held(harness: Harness, now: float) -> None:
    store = harness.opened[-1].locks
    with store.hold_if([("/d", True), ("/e/f", False)], now, lambda locks: None):
        for path in ("/e/g", "/dx", "/q/r"):
            racer = Racer(harness, path, now)
            assert racer.finished(5) and racer.error is None, path
    assert store.find("/d", True, now) == []  # intents are no locks
    assert all(lock.root != "/d" for lock in store.all_locks(now))


# Redis only: only Redis leaves intents behind.
@pytest.mark.parametrize("harness", ["redis"], indirect=True)
def test_redis_stale_intent_blocks_for_a_bounded_time(
    harness: Harness, now: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    import davserver.lockstore.redis as redis_store

    monkeypatch.setattr(redis_store, "WAIT_S", 0.3)
    store = harness.opened[-1].locks
    holding = store.hold_if([("/d", True)], now, lambda locks: None)
    holding.__enter__()  # never left: a server that crashed while holding
    with pytest.raises(StoreUnavailable):
        store.insert_if("/d/x", False, now, grant(make_lock("/d/x", now=now)))
    later = now + 61  # past the intent's TTL: it blocks no more
    store.insert_if("/d/x", False, later, grant(make_lock("/d/x", now=later)))
    assert store.count_held("alice", later) == 1


def test_property_writes_inside_a_held_write_commit_with_it(harness: Harness, now: float) -> None:
    """PROPPATCH applies its changes inside its held lock check (SQLite: one transaction)."""
    stores = harness.opened[-1]
    with stores.locks.hold_if([("/p", False)], now, lambda locks: None):
        stores.props.set("/p", "{urn:x}a", "<a xmlns='urn:x'>1</a>")
        assert stores.props.get("/p", "{urn:x}a") is not None
    assert stores.props.get_all("/p") == {"{urn:x}a": "<a xmlns='urn:x'>1</a>"}
    put(harness, "/p", now)  # nothing is left held
