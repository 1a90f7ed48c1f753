"""Who may write what locks cover (RFC 4918 §6.1, §7): an exclusive lock's token is
always needed; of several shared locks covering a resource, one the request may use
is enough — judged resource by resource.  Pure: no store, no clock, no server."""

from __future__ import annotations

import itertools

import pytest

from davserver.errors import LockTokenMissing
from davserver.locking import rules
from davserver.locking.manager import LockManager
from davserver.locking.model import Change, Depth, Lock, LockRequest, Scope
from davserver.lockstore.memory import MemoryLockStore

EX, SH = Scope.EXCLUSIVE, Scope.SHARED
D0, DI = Depth.ZERO, Depth.INFINITY
_serial = itertools.count()


def lock(root: str, principal: str | None, scope: Scope = SH, depth: Depth = D0) -> Lock:
    return Lock(
        token=f"opaquelocktoken:00000000-0000-4000-8000-{next(_serial):012d}",
        root=root,
        scope=scope,
        depth=depth,
        owner="",
        principal=principal,
        timeout=60,
        expires_at=100.0,
        created_at=40.0,
    )


def test_the_table() -> None:
    assert rules.NEEDED == {EX: rules.Need.EVERY, SH: rules.Need.ANY}


def test_each_shared_holder_writes_with_their_own_token() -> None:
    alice, bob = lock("/f", "alice"), lock("/f", "bob")
    covering = [alice, bob]
    assert rules.stopping(covering, "alice", frozenset({alice.token})) == []
    assert rules.stopping(covering, "bob", frozenset({bob.token})) == []


def test_without_a_usable_shared_lock_all_of_them_stop_the_write() -> None:
    alice, bob = lock("/f", "alice"), lock("/f", "bob")
    assert rules.stopping([alice, bob], "carol", frozenset()) == [alice, bob]
    # a token is no credential: alice's token sent by bob does not let bob write
    assert rules.stopping([alice, bob], "bob", frozenset({alice.token})) == [alice, bob]


def test_an_exclusive_lock_is_always_needed() -> None:
    mine, theirs = lock("/f", "alice", SH), lock("/f", "bob", EX)
    assert rules.stopping([mine, theirs], "alice", frozenset({mine.token})) == [theirs]
    assert rules.stopping([theirs], "bob", frozenset({theirs.token})) == []


@pytest.mark.parametrize(
    ("change", "resources"),
    [
        (Change("/d"), [("/d", False)]),
        (
            Change("/d", DI),
            [("/d", False), ("/d", True), ("/d/f", False), ("/d/f", True)],
        ),
    ],
)
def test_resources_a_change_reaches(change: Change, resources: list[tuple[str, bool]]) -> None:
    assert rules.resources_changed(change, [lock("/d/f", "a"), lock("/x", "b")]) == resources


def test_my_member_lock_does_not_let_me_delete_a_folder_another_holder_covers() -> None:
    mine = lock("/dir/f", "alice")
    his = lock("/dir", "bob", depth=DI)
    changes = [Change("/"), Change("/dir", DI)]
    missing = rules.missing_tokens(changes, [his, mine], "alice", frozenset({mine.token}))
    assert missing == [his]  # /dir itself is covered by his lock only
    assert (
        rules.missing_tokens([Change("/dir/f")], [his, mine], "alice", frozenset({mine.token}))
        == []
    )


def test_a_depth_zero_lock_of_mine_does_not_cover_the_members() -> None:
    mine = lock("/dir", "alice")  # depth 0: the folder, not its members
    his = lock("/dir", "bob", depth=DI)
    changes = [Change("/dir", DI)]
    assert rules.missing_tokens(changes, [his, mine], "alice", frozenset({mine.token})) == [his]
    assert (
        rules.missing_tokens([Change("/dir")], [his, mine], "alice", frozenset({mine.token})) == []
    )


def test_exclusive_locks_alone_are_all_needed() -> None:
    a, b = lock("/d/a", "alice", EX), lock("/d/b", "bob", EX)
    changes = [Change("/d", DI)]
    assert rules.missing_tokens(changes, [a, b], "alice", frozenset({a.token})) == [b]


class Clock:
    now = 50.0

    def __call__(self) -> float:
        return self.now


def shared(manager: LockManager, path: str, who: str, depth: Depth = D0) -> Lock:
    return manager.acquire(LockRequest(path, SH, depth, "", who, 60))


def test_manager_lets_each_shared_holder_write_and_refuses_others() -> None:
    manager = LockManager(MemoryLockStore(), Clock())
    alice, bob = shared(manager, "/f", "alice"), shared(manager, "/f", "bob")
    manager.check_write([Change("/f")], frozenset({alice.token}), "alice")
    manager.check_write([Change("/f")], frozenset({bob.token}), "bob")
    with pytest.raises(LockTokenMissing) as refused:
        manager.check_write([Change("/f")], frozenset(), "carol")
    assert set(refused.value.locks) == {alice, bob}


def test_guarded_write_judges_by_the_same_rule() -> None:
    manager = LockManager(MemoryLockStore(), Clock())
    mine = shared(manager, "/dir/f", "alice")
    his = shared(manager, "/dir", "bob", DI)
    with manager.guarded_write([Change("/dir/f")], frozenset({mine.token}), "alice") as guard:
        assert set(guard.concerned) == {mine, his}
    with (
        pytest.raises(LockTokenMissing) as refused,
        manager.guarded_write([Change("/dir", DI)], frozenset({mine.token}), "alice"),
    ):
        raise AssertionError("refused writes do not run")
    assert refused.value.locks == (his,)


def test_guarded_write_forgets_inside_the_held_section() -> None:
    manager = LockManager(MemoryLockStore(), Clock())
    mine = shared(manager, "/d/x", "alice")
    with manager.guarded_write([Change("/d", DI)], frozenset({mine.token}), "alice") as guard:
        assert guard.forget("/d") == [mine]
    assert manager.locks_below("/") == []
