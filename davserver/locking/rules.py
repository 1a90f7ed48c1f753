"""Lock rules as tables plus small functions (RFC 4918 §6.1, §6.4, §7).

Two questions are answered here, and nowhere else:

* Does a held lock conflict with a requested one?  Only if their scopes
  conflict (``SCOPE_CONFLICTS``) *and* the two locks reach a common resource
  (``REACHES``, by where the held lock's root lies relative to the requested
  path and by the two depths).
* May a request use a lock?  Only if it submitted the token and its principal
  is the lock's principal (``may_use``).
* May a request write a resource that locks cover?  An exclusive lock's token
  is always needed; of several shared locks covering it, one the request may
  use is enough (``NEEDED``, ``stopping``), judged resource by resource
  (``resources_changed``): a shared lock on ``/dir/f`` lets its holder write
  ``/dir/f``, not DELETE ``/dir`` where another holder's depth-infinity lock
  also covers ``/dir`` itself.

Freezes (maintenance locks, :class:`~davserver.locking.model.LockKind`) are not
RFC 4918 locks and follow their own two rules: a freeze blocks every write in
its subtree whoever asks and whatever tokens they send (``blocks_writes``;
a draining freeze does not), and it refuses every new LOCK that would reach into
its subtree, draining or not (``freeze_refuses``).  Existing locks below a
freeze stay, so a freeze never conflicts with them.  Tombstones of broken locks
block nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from typing import Final

from davserver.locking.model import (
    Change,
    Depth,
    Lock,
    LockKind,
    LockRequest,
    Scope,
    is_ancestor_or_self,
)


class Relation(enum.Enum):
    """Where a held lock's root lies relative to the requested path."""

    SAME = "same"
    ANCESTOR = "ancestor"  # the held lock is rooted above the requested path
    DESCENDANT = "descendant"  # the held lock is rooted below the requested path


# RFC 4918 §6.1 (and §6.2): an exclusive lock conflicts with every other lock;
# shared locks coexist.
SCOPE_CONFLICTS: Final = frozenset(
    {
        (Scope.EXCLUSIVE, Scope.EXCLUSIVE),
        (Scope.EXCLUSIVE, Scope.SHARED),
        (Scope.SHARED, Scope.EXCLUSIVE),
    }
)

# (relation, held depth, requested depth) -> do the two locks cover a common
# resource?  A lock on an ancestor reaches us only with depth infinity (§7:
# "all members"); a lock on a descendant is reached only by a depth-infinity
# request; locks on the same resource always overlap.
REACHES: Final = {
    (Relation.SAME, Depth.ZERO, Depth.ZERO): True,
    (Relation.SAME, Depth.ZERO, Depth.INFINITY): True,
    (Relation.SAME, Depth.INFINITY, Depth.ZERO): True,
    (Relation.SAME, Depth.INFINITY, Depth.INFINITY): True,
    (Relation.ANCESTOR, Depth.ZERO, Depth.ZERO): False,
    (Relation.ANCESTOR, Depth.ZERO, Depth.INFINITY): False,
    (Relation.ANCESTOR, Depth.INFINITY, Depth.ZERO): True,
    (Relation.ANCESTOR, Depth.INFINITY, Depth.INFINITY): True,
    (Relation.DESCENDANT, Depth.ZERO, Depth.ZERO): False,
    (Relation.DESCENDANT, Depth.ZERO, Depth.INFINITY): True,
    (Relation.DESCENDANT, Depth.INFINITY, Depth.ZERO): False,
    (Relation.DESCENDANT, Depth.INFINITY, Depth.INFINITY): True,
}


def relation(held_root: str, path: str) -> Relation | None:
    """How ``held_root`` relates to ``path``; None when neither contains the other."""
    if held_root == path:
        return Relation.SAME
    if is_ancestor_or_self(held_root, path):
        return Relation.ANCESTOR
    if is_ancestor_or_self(path, held_root):
        return Relation.DESCENDANT
    return None


def conflicts(held: Lock, wanted: LockRequest) -> bool:
    """True when granting ``wanted`` would violate the write lock ``held`` (§6.1, §7).
    Freezes and tombstones are no write locks: see :func:`freeze_refuses`."""
    if held.kind is not LockKind.WRITE:
        return False
    where = relation(held.root, wanted.path)
    if where is None:
        return False
    return (held.scope, wanted.scope) in SCOPE_CONFLICTS and REACHES[
        (where, held.depth, wanted.depth)
    ]


def freeze_refuses(held: Lock, wanted: LockRequest) -> bool:
    """True when ``held`` is a freeze (draining or not) whose subtree ``wanted``
    would reach: the whole subtree counts, as for a depth-infinity lock."""
    if held.kind is not LockKind.FREEZE:
        return False
    where = relation(held.root, wanted.path)
    return where is not None and REACHES[(where, Depth.INFINITY, wanted.depth)]


def blocks_writes(lock: Lock) -> bool:
    """True for a freeze that refuses writes (a draining one refuses new LOCKs only)."""
    return lock.kind is LockKind.FREEZE and not lock.drain


def may_use(lock: Lock, principal: str | None, submitted: frozenset[str]) -> bool:
    """True when a request may act under ``lock`` (§6.4, §7.5).

    The token must have been submitted *and* the request must come from the
    principal that created the lock: tokens are visible to anyone through lock
    discovery, so they are no credential on their own.  A lock created without
    a principal (anonymous server) is usable by whoever submits its token.
    """
    return lock.token in submitted and (lock.principal is None or lock.principal == principal)


def may_manage(lock: Lock, principal: str | None) -> bool:
    """True when ``principal`` may refresh or release ``lock`` (§9.10.2, §9.11)."""
    return lock.principal is None or lock.principal == principal


class Need(enum.Enum):
    """How many of the locks of one scope covering a resource a writer must be able to use."""

    EVERY = "every"
    ANY = "any"


# RFC 4918 §7: "a write lock [...] prevents principals without the lock from
# successfully executing" a write.  An exclusive lock is the only lock on what it
# covers, so its own token is needed; where several shared locks cover a
# resource, any one holder's own token lets that holder write (§6.1, §7).
NEEDED: Final = {Scope.EXCLUSIVE: Need.EVERY, Scope.SHARED: Need.ANY}


def stopping(
    covering: Iterable[Lock], principal: str | None, submitted: frozenset[str]
) -> list[Lock]:
    """The write locks among ``covering`` (all covering one resource) that stop this
    request from writing it; empty when it may (§7)."""
    writes = [lock for lock in covering if lock.is_write]
    refused = [lock for lock in writes if not may_use(lock, principal, submitted)]
    every = [lock for lock in refused if NEEDED[lock.scope] is Need.EVERY]
    if every:
        return every
    anyof = [lock for lock in writes if NEEDED[lock.scope] is Need.ANY]
    if anyof and all(lock in refused for lock in anyof):
        return anyof
    return []


Resource = tuple[str, bool]
"""A resource a change reaches: ``(path, False)`` is the resource at ``path``;
``(path, True)`` stands for any member below it, present or future (§7)."""


def resources_changed(change: Change, locks: Sequence[Lock]) -> list[Resource]:
    """The resources ``change`` reaches that ``locks`` may cover differently: the
    path itself and, for a depth-infinity change, every lock root below it and a
    member below each of those."""
    if change.depth is Depth.ZERO:
        return [(change.path, False)]
    roots = {change.path} | {
        lock.root for lock in locks if is_ancestor_or_self(change.path, lock.root)
    }
    return [(root, member) for root in sorted(roots) for member in (False, True)]


def covers_resource(lock: Lock, resource: Resource) -> bool:
    path, member = resource
    if not member:
        return lock.covers(path)
    return lock.depth is Depth.INFINITY and is_ancestor_or_self(lock.root, path)


def missing_tokens(
    changes: Iterable[Change],
    locks: Sequence[Lock],
    principal: str | None,
    submitted: frozenset[str],
) -> list[Lock]:
    """Every lock whose token this request lacks for some resource the changes
    reach (:func:`stopping`, resource by resource); empty when it may write."""
    refused = [lock for lock in locks if lock.is_write and not may_use(lock, principal, submitted)]
    if all(NEEDED[lock.scope] is Need.EVERY for lock in refused):
        return refused  # each covers something changed, and each is needed there
    missing: dict[str, Lock] = {}
    for change in changes:
        for resource in resources_changed(change, locks):
            covering = [lock for lock in locks if covers_resource(lock, resource)]
            for lock in stopping(covering, principal, submitted):
                missing.setdefault(lock.token, lock)
    return sorted(missing.values(), key=lambda lock: (lock.root, lock.token))
