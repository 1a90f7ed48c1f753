"""LockManager with an in-memory store and a fake clock: no server, no sleep."""

from __future__ import annotations

import dataclasses

import pytest

from davserver.errors import (
    LockConflict,
    LockLimitReached,
    LockNotFound,
    LockPrincipalMismatch,
    LockTokenMissing,
)
from davserver.locking.maintenance import FreezeRequest
from davserver.locking.manager import LockManager
from davserver.locking.model import Change, Depth, LockRequest, Scope
from davserver.locking.timeout import TimeoutPolicy
from davserver.lockstore.memory import MemoryLockStore

EX, SH = Scope.EXCLUSIVE, Scope.SHARED
D0, DI = Depth.ZERO, Depth.INFINITY


class FakeClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def manager(clock: FakeClock) -> LockManager:
    return LockManager(MemoryLockStore(), clock, TimeoutPolicy(60, 600, False))


def request(
    path: str,
    scope: Scope = EX,
    depth: Depth = D0,
    principal: str | None = "alice",
    timeout: int | None = 60,
) -> LockRequest:
    return LockRequest(path, scope, depth, "<D:owner/>", principal, timeout)


def test_acquire_sets_token_and_expiry(manager: LockManager, clock: FakeClock) -> None:
    lock = manager.acquire(request("/doc"))
    assert lock.token.startswith("opaquelocktoken:")
    assert lock.expires_at == clock.now + 60
    assert manager.discover("/doc") == [lock]


def test_conflict_names_every_conflicting_lock(manager: LockManager) -> None:
    a = manager.acquire(request("/d/a", SH))
    b = manager.acquire(request("/d/b", SH))
    with pytest.raises(LockConflict) as caught:
        manager.acquire(request("/d", EX, DI, principal="bob"))
    assert {lock.token for lock in caught.value.locks} == {a.token, b.token}
    assert caught.value.below is True
    assert manager.discover("/d") == []  # nothing granted partly


def test_conflict_on_the_resource_itself_is_not_below(manager: LockManager) -> None:
    manager.acquire(request("/d", EX, DI))
    with pytest.raises(LockConflict) as caught:
        manager.acquire(request("/d/x", SH, principal="bob"))
    assert caught.value.below is False


def test_shared_locks_coexist(manager: LockManager) -> None:
    first = manager.acquire(request("/f", SH))
    second = manager.acquire(request("/f", SH, principal="bob"))
    assert {lock.token for lock in manager.discover("/f")} == {first.token, second.token}


def test_discover_includes_inherited_depth_infinity_locks(manager: LockManager) -> None:
    top = manager.acquire(request("/c", EX, DI))
    assert manager.discover("/c/x/y") == [top]
    shallow = manager.acquire(request("/e", EX, D0))
    assert manager.discover("/e/x") == []
    assert manager.discover("/e") == [shallow]


def test_discover_with_below_is_discover_and_locks_below_in_one_store_read(
    manager: LockManager, clock: FakeClock
) -> None:
    top = manager.acquire(request("/c", SH, DI))
    manager.acquire(request("/c/d", SH, D0))  # its own, not below /c/d/e
    here = manager.acquire(request("/c/d/e", SH, D0))
    member = manager.acquire(request("/c/d/e/f", SH, DI))
    deep = manager.acquire(request("/c/d/e/f/g/h", SH, D0))
    manager.acquire(request("/c/d/ex", SH, D0))  # a sibling sharing the prefix
    short = manager.acquire(request("/c/d/e/k", SH, D0, timeout=30))
    clock.now += 31  # short is expired
    calls: list[tuple[str, bool]] = []
    find = manager.store.find

    def counted(path: str, below: bool, now: float) -> list:  # type: ignore[type-arg]
        calls.append((path, below))
        return find(path, below, now)

    manager.store.find = counted  # type: ignore[method-assign]
    covering, below = manager.discover_with_below("/c/d/e")
    assert calls == [("/c/d/e", True)]
    assert covering == manager.discover("/c/d/e") == sorted([top, here], key=lambda x: x.root)
    assert sorted(below, key=lambda x: x.root) == [here, member, deep]
    assert short not in below
    assert sorted(manager.locks_below("/c/d/e"), key=lambda x: x.root) == [here, member, deep]


def test_expired_locks_are_gone_for_every_purpose(manager: LockManager, clock: FakeClock) -> None:
    lock = manager.acquire(request("/f"))
    clock.now += 61
    assert manager.discover("/f") == []
    manager.check_write([Change("/f")], frozenset(), "bob")
    with pytest.raises(LockNotFound):
        manager.refresh(lock.token, "/f", "alice", 60)
    assert manager.acquire(request("/f", principal="bob")).token != lock.token


def test_refresh_keeps_token_and_restarts_timer(manager: LockManager, clock: FakeClock) -> None:
    lock = manager.acquire(request("/f"))
    clock.now += 50
    fresh = manager.refresh(lock.token, "/f", "alice", 60)
    assert fresh.token == lock.token
    assert fresh.expires_at == clock.now + 60
    clock.now += 30
    assert manager.discover("/f") == [fresh]


def test_refresh_through_a_member_of_a_depth_infinity_lock(manager: LockManager) -> None:
    lock = manager.acquire(request("/c", EX, DI))
    assert manager.refresh(lock.token, "/c/member", "alice", 120).token == lock.token


def test_refresh_and_release_by_another_principal_are_refused(manager: LockManager) -> None:
    lock = manager.acquire(request("/f"))
    with pytest.raises(LockPrincipalMismatch):
        manager.refresh(lock.token, "/f", "bob", 60)
    with pytest.raises(LockPrincipalMismatch):
        manager.release(lock.token, "/f", "bob")
    assert manager.discover("/f") == [lock]


def test_release_needs_a_lock_covering_the_path(manager: LockManager) -> None:
    lock = manager.acquire(request("/f"))
    with pytest.raises(LockNotFound):
        manager.release(lock.token, "/other", "alice")
    with pytest.raises(LockNotFound):
        manager.release("opaquelocktoken:unknown", "/f", "alice")
    assert manager.release(lock.token, "/f", "alice") == lock
    assert manager.discover("/f") == []


def test_check_write_requires_token_and_principal(manager: LockManager) -> None:
    lock = manager.acquire(request("/f"))
    with pytest.raises(LockTokenMissing) as caught:
        manager.check_write([Change("/f")], frozenset(), "alice")
    assert caught.value.locks == (lock,)
    with pytest.raises(LockTokenMissing):
        manager.check_write([Change("/f")], frozenset({lock.token}), "bob")
    assert manager.check_write([Change("/f")], frozenset({lock.token}), "alice") == [lock]


def test_depth_zero_collection_lock_protects_membership_not_member_content(
    manager: LockManager,
) -> None:
    lock = manager.acquire(request("/c", EX, D0))
    manager.check_write([Change("/c/existing")], frozenset(), "bob")  # content of a member
    with pytest.raises(LockTokenMissing):  # adding a member changes /c
        manager.check_write([Change("/c"), Change("/c/new")], frozenset(), "bob")
    assert lock.token


def test_deleting_a_tree_touches_locks_below(manager: LockManager) -> None:
    deep = manager.acquire(request("/c/x/y"))
    with pytest.raises(LockTokenMissing) as caught:
        manager.check_write([Change("/c", DI)], frozenset(), "bob")
    assert caught.value.locks == (deep,)
    manager.check_write([Change("/c", D0)], frozenset(), "bob")


def test_forget_removes_locks_at_and_below(manager: LockManager) -> None:
    manager.acquire(request("/c/x"))
    manager.acquire(request("/c/y/z"))
    keep = manager.acquire(request("/cx"))
    assert len(manager.forget("/c")) == 2
    assert manager.locks_below("/") == [keep]


def test_grant_timeout_uses_policy(manager: LockManager) -> None:
    assert manager.grant_timeout(()) == 60
    assert manager.grant_timeout((None,)) == 600
    assert manager.grant_timeout((10_000,)) == 600
    assert manager.grant_timeout((30,)) == 30


@pytest.fixture
def quota_manager(clock: FakeClock) -> LockManager:
    policy = TimeoutPolicy(60, 600, False)
    return LockManager(MemoryLockStore(), clock, policy, max_per_principal=3)


def test_principal_quota_refuses_the_lock_past_the_limit(quota_manager: LockManager) -> None:
    for name in ("a", "b", "c"):
        quota_manager.acquire(request(f"/{name}"))
    with pytest.raises(LockLimitReached) as caught:
        quota_manager.acquire(request("/d"))
    message = str(caught.value)
    assert "alice holds 3 locks" in message
    assert "locks.max_per_principal" in message
    assert "unlock some or let them expire" in message
    assert quota_manager.discover("/d") == []


def test_principal_quota_is_per_principal(quota_manager: LockManager) -> None:
    for name in ("a", "b", "c"):
        quota_manager.acquire(request(f"/{name}"))
    assert quota_manager.acquire(request("/d", principal="bob")).principal == "bob"


def anonymous(path: str, address: str) -> LockRequest:
    return dataclasses.replace(request(path, principal=None), address=address)


def test_anonymous_clients_have_one_quota_per_address(quota_manager: LockManager) -> None:
    for name in ("a", "b", "c"):
        quota_manager.acquire(anonymous(f"/{name}", "192.0.2.1"))
    with pytest.raises(LockLimitReached, match=r"anonymous clients at 192\.0\.2\.1 hold 3 locks"):
        quota_manager.acquire(anonymous("/d", "192.0.2.1"))
    assert quota_manager.acquire(anonymous("/d", "192.0.2.2")).address == "192.0.2.2"
    assert quota_manager.acquire(request("/e")).principal == "alice"


def test_principal_quota_frees_up_on_unlock_and_expiry(
    quota_manager: LockManager, clock: FakeClock
) -> None:
    locks = [quota_manager.acquire(request(f"/{name}")) for name in ("a", "b", "c")]
    quota_manager.release(locks[0].token, "/a", "alice")
    quota_manager.acquire(request("/d"))
    with pytest.raises(LockLimitReached):
        quota_manager.acquire(request("/e"))
    clock.now += 61  # every lock expires
    for name in ("e", "f", "g"):
        quota_manager.acquire(request(f"/{name}"))


def test_refresh_at_the_limit_is_not_a_new_lock(quota_manager: LockManager) -> None:
    locks = [quota_manager.acquire(request(f"/{name}")) for name in ("a", "b", "c")]
    assert quota_manager.refresh(locks[0].token, "/a", "alice", 60).token == locks[0].token


def test_broken_locks_and_freezes_do_not_count(quota_manager: LockManager) -> None:
    locks = [quota_manager.acquire(request(f"/{name}")) for name in ("a", "b", "c")]
    assert quota_manager.break_lock(locks[0].token, actor="admin", reason="stuck") is not None
    quota_manager.freeze(FreezeRequest("/m", "maintenance", by="alice"))
    assert quota_manager.acquire(request("/d")).root == "/d"


def test_no_quota_without_a_limit(manager: LockManager) -> None:
    for i in range(50):
        manager.acquire(request(f"/f{i}"))


class CountingStore(MemoryLockStore):
    """Counts the store calls (round trips, on a shared store) the manager makes."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def __getattribute__(self, name: str) -> object:
        value = super().__getattribute__(name)
        if callable(value) and not name.startswith("_") and name != "calls":
            super().__getattribute__("calls").append(name)
        return value


def test_lock_and_unlock_are_one_store_call_each(clock: FakeClock) -> None:
    store = CountingStore()
    locks = LockManager(store, clock, TimeoutPolicy(60, 600, False), max_per_principal=3)
    lock = locks.acquire(request("/a"))
    assert store.calls == ["insert_if"]  # the quota counted inside it
    store.calls.clear()
    locks.release(lock.token, "/a", "alice")
    assert store.calls == ["remove"]  # checked inside it
    assert locks.discover("/a") == []


def test_unlock_refused_keeps_the_lock(manager: LockManager) -> None:
    lock = manager.acquire(request("/a"))
    with pytest.raises(LockPrincipalMismatch):
        manager.release(lock.token, "/a", "bob")
    with pytest.raises(LockNotFound):
        manager.release(lock.token, "/elsewhere", "alice")
    assert manager.discover("/a") == [lock]


def test_refresh_is_one_store_call(clock: FakeClock) -> None:
    store = CountingStore()
    locks = LockManager(store, clock, TimeoutPolicy(60, 600, False))
    lock = locks.acquire(request("/a"))
    store.calls.clear()
    clock.now += 30
    fresh = locks.refresh(lock.token, "/a", "alice", 600)
    assert store.calls == ["renew"]  # checked inside it
    assert fresh.expires_at == clock.now + 600 and fresh.refreshed_at == clock.now
    with pytest.raises(LockPrincipalMismatch):
        locks.refresh(lock.token, "/a", "bob", 60)
    assert locks.discover("/a") == [fresh]
