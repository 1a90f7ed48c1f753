"""The conflict table (RFC 4918 §6.1, §7) and who may use a lock."""

from __future__ import annotations

import pytest

from davserver.locking import rules
from davserver.locking.model import Depth, Lock, LockRequest, Scope

EX, SH = Scope.EXCLUSIVE, Scope.SHARED
D0, DI = Depth.ZERO, Depth.INFINITY


def held(root: str, scope: Scope = EX, depth: Depth = D0, principal: str | None = "alice") -> Lock:
    return Lock(
        token=f"opaquelocktoken:{abs(hash((root, scope, depth)))}",
        root=root,
        scope=scope,
        depth=depth,
        owner="",
        principal=principal,
        timeout=60,
        expires_at=100.0,
        created_at=40.0,
    )


def wanted(path: str, scope: Scope = EX, depth: Depth = D0) -> LockRequest:
    return LockRequest(path=path, scope=scope, depth=depth, owner="", principal="bob", timeout=60)


# (held root, held scope, held depth, requested path, requested scope, requested depth, conflict)
CASES = [
    # same resource: exclusive conflicts with everything, shared with exclusive only
    ("/a", EX, D0, "/a", EX, D0, True),
    ("/a", EX, D0, "/a", SH, D0, True),
    ("/a", SH, D0, "/a", EX, D0, True),
    ("/a", SH, D0, "/a", SH, D0, False),
    ("/a", SH, DI, "/a", SH, DI, False),
    # held on an ancestor: only depth infinity reaches down
    ("/a", EX, DI, "/a/b", EX, D0, True),
    ("/a", EX, D0, "/a/b", EX, D0, False),
    ("/a", EX, D0, "/a/b", EX, DI, False),
    ("/", EX, DI, "/a/b/c", SH, D0, True),
    ("/a", SH, DI, "/a/b", SH, DI, False),
    ("/a", SH, DI, "/a/b", EX, D0, True),
    # held on a descendant: only a depth-infinity request reaches down
    ("/a/b", EX, D0, "/a", EX, DI, True),
    ("/a/b", EX, D0, "/a", EX, D0, False),
    ("/a/b/c", SH, D0, "/a", SH, DI, False),
    ("/a/b/c", SH, D0, "/a", EX, DI, True),
    # unrelated resources, including a prefix look-alike
    ("/a", EX, DI, "/ab", EX, DI, False),
    ("/a/b", EX, DI, "/a/c", EX, DI, False),
]


@pytest.mark.parametrize(("root", "hs", "hd", "path", "ws", "wd", "expected"), CASES)
def test_conflict_table(
    root: str, hs: Scope, hd: Depth, path: str, ws: Scope, wd: Depth, expected: bool
) -> None:
    assert rules.conflicts(held(root, hs, hd), wanted(path, ws, wd)) is expected


def test_reaches_table_is_complete() -> None:
    keys = {(r, h, w) for r in rules.Relation for h in Depth for w in Depth}
    assert set(rules.REACHES) == keys


def test_relation() -> None:
    assert rules.relation("/a", "/a") is rules.Relation.SAME
    assert rules.relation("/", "/a") is rules.Relation.ANCESTOR
    assert rules.relation("/a/b", "/a") is rules.Relation.DESCENDANT
    assert rules.relation("/a", "/ab") is None


def test_may_use_needs_token_and_principal() -> None:
    lock = held("/a", principal="alice")
    assert rules.may_use(lock, "alice", frozenset({lock.token}))
    assert not rules.may_use(lock, "bob", frozenset({lock.token}))
    assert not rules.may_use(lock, "alice", frozenset({"opaquelocktoken:other"}))


def test_anonymous_lock_is_usable_by_its_token() -> None:
    lock = held("/a", principal=None)
    assert rules.may_use(lock, None, frozenset({lock.token}))
    assert rules.may_use(lock, "anyone", frozenset({lock.token}))
    assert not rules.may_use(lock, None, frozenset())


def test_may_manage() -> None:
    assert rules.may_manage(held("/a", principal="alice"), "alice")
    assert not rules.may_manage(held("/a", principal="alice"), "bob")
    assert rules.may_manage(held("/a", principal=None), "bob")
