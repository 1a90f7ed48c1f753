"""What a write needs from the locks (RFC 4918 §7.4-§7.6): which locks it concerns,
and whether this request may write under them.

Pure, like the rest of the core: the locks are given, nothing is read here.
:meth:`davserver.locking.manager.LockManager.check_write` judges on a read of the
store; :meth:`~davserver.locking.manager.LockManager.guarded_write` judges inside
the store's held section (:meth:`LockStore.hold_if`) and yields :class:`Guarded`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from davserver.errors import Frozen, LockTokenMissing
from davserver.locking import rules
from davserver.locking.model import Change, Depth, Lock, is_ancestor_or_self
from davserver.lockstore.base import Held


def live(locks: Iterable[Lock]) -> list[Lock]:
    """Locks and freezes: what blocks or shows; tombstones only explain."""
    return [lock for lock in locks if not lock.is_tombstone]


def touches(change: Change, lock: Lock) -> bool:
    """The change affects something in the lock's scope (§7.4-§7.6)."""
    if lock.covers(change.path):
        return True
    return change.depth is Depth.INFINITY and is_ancestor_or_self(change.path, lock.root)


def concerned_by(changes: Sequence[Change], found: Iterable[Lock]) -> list[Lock]:
    touched = {lock.token: lock for lock in live(found) if any(touches(c, lock) for c in changes)}
    return sorted(touched.values(), key=lambda lock: (lock.root, lock.token))


def judge(
    changes: Sequence[Change], concerned: list[Lock], submitted: frozenset[str], who: str | None
) -> list[Lock]:
    """Raise :class:`Frozen` or :class:`LockTokenMissing`, else return ``concerned``."""
    frozen = [lock for lock in concerned if rules.blocks_writes(lock)]
    if frozen:
        path = next(c.path for c in changes if any(touches(c, f) for f in frozen))
        raise Frozen(frozen, path)
    missing = rules.missing_tokens(changes, concerned, who, submitted)
    if missing:
        raise LockTokenMissing(missing)
    return concerned


@dataclasses.dataclass(frozen=True)
class Guarded:
    """Inside :meth:`LockManager.guarded_write`: what the write may still do to locks,
    and the locks it was judged by (``concerned``)."""

    held: Held
    concerned: tuple[Lock, ...] = ()

    def forget(self, path: str) -> list[Lock]:
        """:meth:`LockManager.forget`, atomically with the write (a lock granted
        after the check could otherwise be dropped unseen)."""
        return self.held.remove_tree(path)
