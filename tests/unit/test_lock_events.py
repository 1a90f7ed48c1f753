"""The lock manager's event hook: one event per change of lock state, none for forget."""

from __future__ import annotations

from davserver.locking.events import LockEvent, LockEventKind
from davserver.locking.manager import LockManager
from davserver.locking.model import Depth, LockRequest, Scope
from davserver.locking.timeout import TimeoutPolicy
from davserver.lockstore.memory import MemoryLockStore


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def setup() -> tuple[LockManager, list[LockEvent], Clock]:
    events: list[LockEvent] = []
    clock = Clock()
    manager = LockManager(MemoryLockStore(), clock, TimeoutPolicy(60, 600, False))
    manager.events = events.append
    return manager, events, clock


def want(path: str, principal: str = "alice") -> LockRequest:
    return LockRequest(path, Scope.EXCLUSIVE, Depth.ZERO, "", principal, 60)


def test_every_change_of_lock_state_is_one_event() -> None:
    manager, events, clock = setup()
    lock = manager.acquire(want("/a"))
    manager.refresh(lock.token, "/a", "alice", 120)
    manager.release(lock.token, "/a", "alice")
    other = manager.acquire(want("/b", "bob"))
    assert manager.break_lock(other.token, actor="admin") is not None
    expiring = manager.acquire(want("/c"))
    clock.now += 61
    assert manager.purge_expired() >= 1
    kinds = [(e.kind, e.lock.token if e.lock else None, e.actor) for e in events]
    assert kinds == [
        (LockEventKind.ACQUIRED, lock.token, "alice"),
        (LockEventKind.REFRESHED, lock.token, "alice"),
        (LockEventKind.RELEASED, lock.token, "alice"),
        (LockEventKind.ACQUIRED, other.token, "bob"),
        (LockEventKind.BROKEN, other.token, "admin"),
        (LockEventKind.ACQUIRED, expiring.token, "alice"),
        (LockEventKind.EXPIRED, expiring.token, None),
    ]
    assert events[1].lock is not None and events[1].lock.timeout == 120
    assert events[-1].at == clock.now


def test_forget_and_refused_requests_are_not_manager_events() -> None:
    manager, events, _ = setup()
    manager.acquire(want("/a"))
    events.clear()
    manager.forget("/a")  # the resource was deleted: not "broken" (RFC 4918 §7.7)
    try:
        manager.acquire(want("/x"))
        manager.acquire(want("/x", "bob"))
    except Exception:
        pass
    assert [e.kind for e in events] == [LockEventKind.ACQUIRED]


def test_purging_twice_reports_each_expired_lock_once() -> None:
    manager, events, clock = setup()
    manager.acquire(want("/a"))
    clock.now += 61
    manager.purge_expired()
    manager.purge_expired()
    assert [e.kind for e in events].count(LockEventKind.EXPIRED) == 1
