"""Lock builders and tiny ``decide`` callbacks for the store tests.

The real conflict rules live in ``davserver.locking.rules``; the stores must not
depend on them, so the tests use these stand-ins.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from davserver.locking.model import Depth, Lock, Scope
from davserver.lockstore.base import Decide


class Refused(Exception):
    """Raised by a test ``decide`` to refuse the insert."""


def make_lock(
    root: str,
    *,
    now: float,
    scope: Scope = Scope.EXCLUSIVE,
    depth: Depth = Depth.INFINITY,
    timeout: int | None = 600,
    owner: str = "<D:owner xmlns:D='DAV:'><D:href>alice</D:href></D:owner>",
    principal: str | None = "alice",
    address: str = "",
) -> Lock:
    return Lock(
        token=f"opaquelocktoken:{uuid.uuid4()}",
        root=root,
        scope=scope,
        depth=depth,
        owner=owner,
        principal=principal,
        timeout=timeout,
        expires_at=None if timeout is None else now + timeout,
        created_at=now,
        address=address,
    )


def grant(lock: Lock, seen: list[Lock] | None = None) -> Decide:
    """A decide that always grants ``lock`` (recording what it was shown)."""

    def decide(held: Sequence[Lock]) -> Lock:
        if seen is not None:
            seen.extend(held)
        return lock

    return decide


def refuse(held: Sequence[Lock]) -> Lock:
    raise Refused("no")


def unless_exclusive(lock: Lock) -> Decide:
    """Grant ``lock`` only when no exclusive lock is held and it does not
    itself want exclusivity over held locks (RFC 4918 §6.1, simplified)."""

    def decide(held: Sequence[Lock]) -> Lock:
        if any(h.scope is Scope.EXCLUSIVE for h in held):
            raise Refused(f"{lock.root} held exclusively")
        if lock.scope is Scope.EXCLUSIVE and held:
            raise Refused(f"{lock.root} held shared")
        return lock

    return decide


def tokens(locks: Sequence[Lock]) -> set[str]:
    return {lock.token for lock in locks}
