"""The LockStore contract, run against every backend (memory, SQLite, Redis).

Time is always an explicit ``now``: nothing here sleeps or relies on Redis key
TTLs.  ``now`` starts at the real clock because Redis TTLs are absolute Unix
times; expiry is tested by asking with a *later* ``now``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace

import pytest

from davserver.locking.maintenance import FreezeRequest, make_freeze, tombstone
from davserver.locking.model import Depth, Lock, Scope
from davserver.lockstore.base import Quota, holder_of
from tests.backends.conftest import Harness
from tests.backends.helpers import Refused, grant, make_lock, refuse, tokens


@pytest.fixture
def now() -> float:
    return time.time()


def put(h: Harness, root: str, now: float, **kwargs: object) -> Lock:
    lock = make_lock(root, now=now, **kwargs)  # type: ignore[arg-type]
    assert h.opened[-1].locks.insert_if(root, False, now, grant(lock)) == lock
    return lock


def test_insert_then_get(harness: Harness, now: float) -> None:
    lock = put(harness, "/a", now, scope=Scope.SHARED, depth=Depth.ZERO, principal=None)
    store = harness.opened[-1].locks
    assert store.get(lock.token, now) == lock
    assert store.get("opaquelocktoken:unknown", now) is None


def test_decide_sees_ancestors_and_self_only(harness: Harness, now: float) -> None:
    a, ab, ac = put(harness, "/a", now), put(harness, "/a/b", now), put(harness, "/a/c", now)
    deep = put(harness, "/a/b/c/d", now)
    seen: list[Lock] = []
    new = make_lock("/a/b/c", now=now)
    harness.opened[-1].locks.insert_if("/a/b/c", False, now, grant(new, seen))
    assert tokens(seen) == {a.token, ab.token}
    assert ac.token not in tokens(seen) and deep.token not in tokens(seen)


def test_decide_sees_descendants_when_asked(harness: Harness, now: float) -> None:
    a, deep, other = put(harness, "/a", now), put(harness, "/x/y/z", now), put(harness, "/q", now)
    seen: list[Lock] = []
    harness.opened[-1].locks.insert_if("/x", True, now, grant(make_lock("/x", now=now), seen))
    assert tokens(seen) == {deep.token}
    assert a.token not in tokens(seen) and other.token not in tokens(seen)


def test_find_ancestors_any_depth(harness: Harness, now: float) -> None:
    root = put(harness, "/", now, depth=Depth.ZERO)
    a = put(harness, "/a", now, depth=Depth.ZERO)
    ab = put(harness, "/a/b", now)
    put(harness, "/x", now)
    store = harness.opened[-1].locks
    assert tokens(store.find("/a/b/c", False, now)) == {root.token, a.token, ab.token}
    assert tokens(store.find("/a/b", False, now)) == {root.token, a.token, ab.token}
    assert tokens(store.find("/", False, now)) == {root.token}


def test_find_descendants_only_when_asked(harness: Harness, now: float) -> None:
    abc = put(harness, "/a/b/c", now)
    ad = put(harness, "/a/d", now)
    store = harness.opened[-1].locks
    assert store.find("/a", False, now) == []
    assert tokens(store.find("/a", True, now)) == {abc.token, ad.token}
    assert tokens(store.find("/a/b", True, now)) == {abc.token}
    assert tokens(store.find("/", True, now)) == {abc.token, ad.token}


@pytest.mark.parametrize("lookalike", ["/ab", "/a-b", "/a.b", "/a0", "/a b", "/aé"])
def test_prefix_lookalikes_are_not_mixed(harness: Harness, now: float, lookalike: str) -> None:
    a = put(harness, "/a", now)
    other = put(harness, lookalike, now)
    below_other = put(harness, lookalike + "/x", now)
    store = harness.opened[-1].locks
    assert tokens(store.find("/a", True, now)) == {a.token}
    assert tokens(store.find("/a/x", True, now)) == {a.token}
    assert tokens(store.find_below("/a", now)) == {a.token}
    assert tokens(store.find(lookalike + "/x", False, now)) == {other.token, below_other.token}
    assert tokens(store.remove_tree("/a")) == {a.token}
    assert tokens(store.all_locks(now)) == {other.token, below_other.token}


def test_siblings_are_not_mixed(harness: Harness, now: float) -> None:
    ab, ac = put(harness, "/a/b", now), put(harness, "/a/c", now)
    store = harness.opened[-1].locks
    assert tokens(store.find("/a/b", True, now)) == {ab.token}
    assert tokens(store.find("/a/c/d", True, now)) == {ac.token}


def test_find_below_includes_the_path_itself(harness: Harness, now: float) -> None:
    a, ab = put(harness, "/a", now), put(harness, "/a/b", now)
    put(harness, "/", now)
    store = harness.opened[-1].locks
    assert tokens(store.find_below("/a", now)) == {a.token, ab.token}
    assert tokens(store.find_below("/a/b", now)) == {ab.token}
    assert len(store.find_below("/", now)) == 3


def test_several_locks_on_one_root(harness: Harness, now: float) -> None:
    one = put(harness, "/doc", now, scope=Scope.SHARED)
    two = put(harness, "/doc", now, scope=Scope.SHARED)
    store = harness.opened[-1].locks
    assert tokens(store.find("/doc", False, now)) == {one.token, two.token}
    store.remove(one.token)
    assert tokens(store.find("/doc", False, now)) == {two.token}
    assert tokens(store.find("/", True, now)) == {two.token}


def test_refused_decide_writes_nothing(harness: Harness, now: float) -> None:
    store = harness.opened[-1].locks
    with pytest.raises(Refused):
        store.insert_if("/a", True, now, refuse)
    assert store.all_locks(now) == []
    assert store.find("/a", True, now) == []


def test_decide_must_return_a_lock_at_the_path(harness: Harness, now: float) -> None:
    store = harness.opened[-1].locks
    with pytest.raises(ValueError):
        store.insert_if("/a", False, now, grant(make_lock("/b", now=now)))
    assert store.all_locks(now) == []


def test_replace_refreshes(harness: Harness, now: float) -> None:
    lock = put(harness, "/a", now, timeout=60)
    store = harness.opened[-1].locks
    refreshed = replace(lock, timeout=3600, expires_at=now + 3600)
    assert store.replace(refreshed, now + 30)
    assert store.get(lock.token, now + 120) == refreshed
    assert tokens(store.find("/a/b", False, now + 120)) == {lock.token}


def test_replace_can_make_a_lock_infinite_and_back(harness: Harness, now: float) -> None:
    lock = put(harness, "/a", now, timeout=60)
    store = harness.opened[-1].locks
    assert store.replace(replace(lock, timeout=None, expires_at=None), now)
    assert store.get(lock.token, now + 10**6) is not None
    assert store.replace(lock, now)
    assert store.get(lock.token, now + 120) is None


def test_replace_refuses_gone_expired_or_moved(harness: Harness, now: float) -> None:
    lock = put(harness, "/a", now, timeout=60)
    store = harness.opened[-1].locks
    assert not store.replace(replace(lock, timeout=90, expires_at=now + 90), now + 60)
    assert not store.replace(make_lock("/a", now=now), now)
    with pytest.raises(ValueError):
        store.replace(replace(lock, root="/b"), now)
    assert store.get(lock.token, now) == lock


def test_remove(harness: Harness, now: float) -> None:
    lock = put(harness, "/a/b", now)
    store = harness.opened[-1].locks
    assert store.remove(lock.token) == lock
    assert store.remove(lock.token) is None
    assert store.get(lock.token, now) is None
    assert store.find("/a/b", True, now) == []
    assert store.find_below("/", now) == []
    assert put(harness, "/a/b", now) in store.find("/a", True, now)


def test_remove_tree(harness: Harness, now: float) -> None:
    inside = [put(harness, p, now) for p in ("/a", "/a/b", "/a/b/c", "/a/b/c")]
    outside = [put(harness, p, now) for p in ("/", "/ab", "/x/a")]
    store = harness.opened[-1].locks
    assert tokens(store.remove_tree("/a")) == tokens(inside)
    assert tokens(store.all_locks(now)) == tokens(outside)
    assert store.remove_tree("/a") == []
    assert tokens(store.remove_tree("/")) == tokens(outside)
    assert store.all_locks(now) == []


def test_expired_locks_are_invisible(harness: Harness, now: float) -> None:
    lock = put(harness, "/a", now, timeout=10)
    store = harness.opened[-1].locks
    later = now + 10  # expires_at <= now means expired: the boundary counts
    assert store.get(lock.token, now + 9.9) == lock
    assert store.get(lock.token, later) is None
    assert store.find("/a/b", True, later) == []
    assert store.find("/", True, later) == []
    assert store.find_below("/", later) == []
    assert store.all_locks(later) == []
    seen: list[Lock] = []
    store.insert_if("/a", True, later, grant(make_lock("/a", now=later), seen))
    assert seen == []


def test_purge_expired(harness: Harness, now: float) -> None:
    short = put(harness, "/a", now, timeout=10)
    long = put(harness, "/a/b", now, timeout=1000)
    forever = put(harness, "/c", now, timeout=None)
    store = harness.opened[-1].locks
    assert store.purge_expired(now + 5) == 0
    assert store.purge_expired(now + 20) == 1
    assert store.get(short.token, now) is None  # deleted, not just hidden
    assert tokens(store.all_locks(now)) == {long.token, forever.token}
    assert store.purge_expired(now + 10**9) == 1
    assert tokens(store.all_locks(now)) == {forever.token}


def test_infinite_locks_never_expire(harness: Harness, now: float) -> None:
    lock = put(harness, "/a", now, timeout=None)
    store = harness.opened[-1].locks
    assert lock.expires_at is None
    far = now + 10**9
    assert store.get(lock.token, far) == lock
    assert tokens(store.find("/a/b", False, far)) == {lock.token}


def test_all_locks(harness: Harness, now: float) -> None:
    made = [put(harness, p, now) for p in ("/", "/a", "/a b/ü", "/z/y/x")]
    assert tokens(harness.opened[-1].locks.all_locks(now)) == tokens(made)


def test_every_field_round_trips(harness: Harness, now: float) -> None:
    lock = Lock(
        token="opaquelocktoken:0f1e2d3c-0000-4000-8000-123456789abc",
        root="/dir/ñ file.odt",
        scope=Scope.SHARED,
        depth=Depth.ZERO,
        owner='<D:owner xmlns:D="DAV:"><D:href>DOMAIN\\user</D:href></D:owner>',
        principal="dömain\\user",
        timeout=3600,
        expires_at=now + 3600.25,
        created_at=now + 0.5,
        collection=True,
    )
    store = harness.opened[-1].locks
    store.insert_if(lock.root, False, now, grant(lock))
    assert store.get(lock.token, now) == lock


def test_locks_survive_reopen(persistent_harness: Harness, now: float) -> None:
    lock = put(persistent_harness, "/a", now)
    forever = put(persistent_harness, "/b", now, timeout=None)
    store = persistent_harness.reopen().locks
    assert store.get(lock.token, now) == lock
    assert tokens(store.find("/", True, now)) == {lock.token, forever.token}


# --- count_held: the per-principal lock quota ---


def test_count_held_counts_each_principal_apart(harness: Harness, now: float) -> None:
    store = harness.opened[-1].locks
    assert store.count_held("alice", now) == 0
    put(harness, "/a", now)
    put(harness, "/b", now, scope=Scope.SHARED)
    put(harness, "/b", now, scope=Scope.SHARED, principal="bob")
    put(harness, "/c", now, principal=None, address="192.0.2.1")
    put(harness, "/d", now, principal=None, address="192.0.2.1")
    put(harness, "/e", now, principal=None, address="2001:db8::2")
    assert store.count_held("alice", now) == 2
    assert store.count_held("bob", now) == 1
    assert store.count_held("carol", now) == 0
    # Anonymous clients: one quota per address, so one address cannot starve another.
    assert store.count_held(holder_of(None, "192.0.2.1"), now) == 2
    assert store.count_held(holder_of(None, "2001:db8::2"), now) == 1
    assert store.count_held(holder_of(None, "192.0.2.3"), now) == 0


def test_count_held_after_refresh_remove_and_remove_tree(harness: Harness, now: float) -> None:
    store = harness.opened[-1].locks
    a = put(harness, "/a", now, timeout=60)
    put(harness, "/t/x", now)
    put(harness, "/t/y/z", now)
    put(harness, "/t/y/z", now, principal="bob", scope=Scope.SHARED)
    assert store.replace(replace(a, timeout=600, expires_at=now + 600, refreshed_at=now), now)
    assert store.count_held("alice", now) == 3  # a refresh is not a new lock
    assert store.remove(a.token) is not None
    assert store.count_held("alice", now) == 2
    assert len(store.remove_tree("/t")) == 3
    assert store.count_held("alice", now) == 0
    assert store.count_held("bob", now) == 0
    put(harness, "/t", now)
    assert store.count_held("alice", now) == 1


def test_count_held_leaves_out_expired_locks(harness: Harness, now: float) -> None:
    store = harness.opened[-1].locks
    put(harness, "/short", now, timeout=10)
    put(harness, "/long", now, timeout=1000)
    put(harness, "/forever", now, timeout=None)
    assert store.count_held("alice", now + 9.9) == 3
    assert store.count_held("alice", now + 10) == 2  # the expiry boundary counts
    assert store.purge_expired(now + 20) == 1
    assert store.count_held("alice", now) == 2
    assert store.count_held("alice", now + 10**9) == 1


def test_count_held_leaves_out_tombstones_and_freezes(harness: Harness, now: float) -> None:
    store = harness.opened[-1].locks
    broken = put(harness, "/a", now)
    put(harness, "/b", now)
    assert store.replace(tombstone(broken, "admin", "stuck", now, 3600), now)
    assert store.get(broken.token, now) is not None  # the tombstone is still stored
    freeze = make_freeze(
        f"opaquelocktoken:{uuid.uuid4()}", FreezeRequest("/m", "fsck", "alice"), now
    )
    store.insert_if("/m", False, now, grant(freeze))
    assert store.count_held("alice", now) == 1
    assert store.remove(broken.token) is not None
    assert store.remove(freeze.token) is not None
    assert store.count_held("alice", now) == 1


def test_count_held_survives_reopen(persistent_harness: Harness, now: float) -> None:
    put(persistent_harness, "/a", now)
    put(persistent_harness, "/b", now, principal=None, address="192.0.2.1")
    store = persistent_harness.reopen().locks
    assert store.count_held("alice", now) == 1
    assert store.count_held(holder_of(None, "192.0.2.1"), now) == 1


class Kept(Exception):
    """Raised by a remove() check: the lock must stay."""


def test_remove_with_check_removes_the_active_lock_it_was_shown(
    harness: Harness, now: float
) -> None:
    lock = put(harness, "/a", now)
    store = harness.opened[-1].locks
    shown: list[Lock | None] = []
    assert store.remove(lock.token, shown.append, now) == lock
    assert shown == [lock]
    assert store.get(lock.token, now) is None


def test_remove_with_a_refusing_check_removes_nothing(harness: Harness, now: float) -> None:
    lock = put(harness, "/a", now)
    store = harness.opened[-1].locks

    def refuse_it(found: Lock | None) -> None:
        raise Kept

    with pytest.raises(Kept):
        store.remove(lock.token, refuse_it, now)
    assert store.get(lock.token, now) == lock


def test_remove_with_check_shows_none_for_an_unknown_or_expired_lock(
    harness: Harness, now: float
) -> None:
    lock = put(harness, "/a", now, timeout=60)
    store = harness.opened[-1].locks
    shown: list[Lock | None] = []
    assert store.remove("opaquelocktoken:unknown", shown.append, now) is None
    assert store.remove(lock.token, shown.append, now + 61) is None
    assert shown == [None, None]
    assert store.get(lock.token, now) == lock  # an expired lock is the purge's to remove


def test_insert_with_quota_shows_the_count_and_a_refusal_writes_nothing(
    harness: Harness, now: float
) -> None:
    put(harness, "/a", now)
    put(harness, "/b", now)
    store = harness.opened[-1].locks
    counts: list[int] = []

    def over(held: int) -> None:
        counts.append(held)
        raise Kept

    new = make_lock("/c", now=now)
    with pytest.raises(Kept):
        store.insert_if("/c", False, now, grant(new), Quota(new.principal or "", over))
    assert store.get(new.token, now) is None
    store.insert_if("/c", False, now, grant(new), Quota(new.principal or "", counts.append))
    assert counts == [2, 2]
    assert store.get(new.token, now) == new


def test_renew_stores_what_update_makes_of_the_active_lock(harness: Harness, now: float) -> None:
    lock = put(harness, "/a", now, timeout=60)
    store = harness.opened[-1].locks
    fresh = replace(lock, timeout=600, expires_at=now + 600, refreshed_at=now)
    shown: list[Lock] = []

    def update(found: Lock) -> Lock:
        shown.append(found)
        return fresh

    assert store.renew(lock.token, now, update) == fresh
    assert shown[-1] == lock
    assert store.get(lock.token, now + 300) == fresh


def test_renew_refused_or_missing_changes_nothing(harness: Harness, now: float) -> None:
    lock = put(harness, "/a", now, timeout=60)
    store = harness.opened[-1].locks

    def refuse_it(found: Lock) -> Lock:
        raise Kept

    with pytest.raises(Kept):
        store.renew(lock.token, now, refuse_it)
    assert store.get(lock.token, now) == lock
    assert store.renew("opaquelocktoken:unknown", now, refuse_it) is None
    assert store.renew(lock.token, now + 61, refuse_it) is None  # expired: not renewed
    with pytest.raises(ValueError):
        store.renew(lock.token, now, lambda found: replace(found, token="opaquelocktoken:x"))
    assert store.get(lock.token, now) == lock
