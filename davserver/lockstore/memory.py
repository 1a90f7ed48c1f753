"""In-process stores: one worker process, many threads.

Locks are indexed by root path, and the set of roots is kept sorted, so a query
touches only the path's ancestors (a dict lookup each) and — when descendants
matter — the contiguous run of roots below it (two bisections).  The cost never
grows with locks held elsewhere in the tree.  Write locks are also indexed by
their quota holder, so counting one user's locks touches only theirs.  One
``threading.Lock`` guards everything, which is what makes
:meth:`MemoryLockStore.insert_if` atomic; :meth:`MemoryLockStore.hold_if` keeps
it held across the caller's block.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from davserver.locking.model import Lock
from davserver.lockstore.base import Check, Decide, Quota, Release, Renew, Scopes, quota_holder
from davserver.lockstore.paths import (
    check_inserted_root,
    check_same_root,
    rebase,
    self_and_ancestors,
    subtree_bounds,
)


class _SortedPaths:
    """A sorted list of distinct paths with range lookup (insertion is a memmove)."""

    def __init__(self) -> None:
        self._items: list[str] = []

    def add(self, path: str) -> None:
        i = bisect.bisect_left(self._items, path)
        if i == len(self._items) or self._items[i] != path:
            self._items.insert(i, path)

    def discard(self, path: str) -> None:
        i = bisect.bisect_left(self._items, path)
        if i < len(self._items) and self._items[i] == path:
            del self._items[i]

    def below(self, path: str) -> list[str]:
        """Paths strictly below ``path``."""
        lo, hi = subtree_bounds(path)
        start = bisect.bisect_right(self._items, lo)
        return self._items[start : bisect.bisect_left(self._items, hi, start)]

    def at_or_below(self, path: str, present: bool) -> list[str]:
        return ([path] if present else []) + self.below(path)


class MemoryLockStore:
    """Locks in a dict; lost when the process exits (so: single process only)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._by_token: dict[str, Lock] = {}
        self._by_root: dict[str, set[str]] = {}
        self._roots = _SortedPaths()
        self._by_holder: dict[str, set[str]] = {}

    # -- helpers (call with the mutex held) ---------------------------------

    def _rooted_at(self, root: str) -> Iterator[Lock]:
        for token in self._by_root.get(root, ()):
            yield self._by_token[token]

    def _relevant(self, path: str, include_descendants: bool, now: float) -> list[Lock]:
        roots = list(self_and_ancestors(path))
        if include_descendants:
            roots += self._roots.below(path)
        return [lock for r in roots for lock in self._rooted_at(r) if not lock.is_expired(now)]

    def _add(self, lock: Lock) -> None:
        self._by_token[lock.token] = lock
        self._by_root.setdefault(lock.root, set()).add(lock.token)
        self._roots.add(lock.root)
        self._hold(lock)

    def _drop(self, token: str) -> Lock | None:
        lock = self._by_token.pop(token, None)
        if lock is not None:
            tokens = self._by_root[lock.root]
            tokens.discard(token)
            if not tokens:
                del self._by_root[lock.root]
                self._roots.discard(lock.root)
            self._release(lock)
        return lock

    def _drop_tree(self, path: str) -> list[Lock]:
        roots = self._roots.at_or_below(path, path in self._by_root)
        tokens = [t for r in roots for t in self._by_root.get(r, ())]
        return [lock for t in tokens if (lock := self._drop(t)) is not None]

    def _hold(self, lock: Lock) -> None:
        holder = quota_holder(lock)
        if holder is not None:
            self._by_holder.setdefault(holder, set()).add(lock.token)

    def _release(self, lock: Lock) -> None:
        holder = quota_holder(lock)
        if holder is None:
            return
        tokens = self._by_holder.get(holder, set())
        tokens.discard(lock.token)
        if not tokens:
            self._by_holder.pop(holder, None)

    # -- LockStore ------------------------------------------------------------

    def insert_if(
        self,
        path: str,
        include_descendants: bool,
        now: float,
        decide: Decide,
        quota: Quota | None = None,
    ) -> Lock:
        with self._mutex:
            if quota is not None:
                quota.check(self._count(quota.holder, now))
            lock = decide(self._relevant(path, include_descendants, now))
            check_inserted_root(lock, path)
            self._drop(lock.token)
            self._add(lock)
            return lock

    @contextmanager
    def hold_if(self, scopes: Scopes, now: float, check: Check) -> Iterator[_Held]:
        with self._mutex:
            found: dict[str, Lock] = {}
            for path, below in scopes:
                for lock in self._relevant(path, below, now):
                    found.setdefault(lock.token, lock)
            check(list(found.values()))
            yield _Held(self)

    def find(self, path: str, include_descendants: bool, now: float) -> list[Lock]:
        with self._mutex:
            return self._relevant(path, include_descendants, now)

    def find_below(self, path: str, now: float) -> list[Lock]:
        with self._mutex:
            roots = self._roots.at_or_below(path, path in self._by_root)
            return [lock for r in roots for lock in self._rooted_at(r) if not lock.is_expired(now)]

    def get(self, token: str, now: float) -> Lock | None:
        with self._mutex:
            lock = self._by_token.get(token)
            return None if lock is None or lock.is_expired(now) else lock

    def replace(self, lock: Lock, now: float) -> bool:
        return self.renew(lock.token, now, lambda old: lock) is not None

    def renew(self, token: str, now: float, update: Renew) -> Lock | None:
        with self._mutex:
            old = self._by_token.get(token)
            if old is None or old.is_expired(now):
                return None
            lock = update(old)
            check_same_root(old, lock)
            self._release(old)  # a broken lock's tombstone no longer counts
            self._by_token[lock.token] = lock
            self._hold(lock)
            return lock

    def remove(
        self, token: str, check: Release | None = None, now: float | None = None
    ) -> Lock | None:
        with self._mutex:
            if check is not None:
                found = self._by_token.get(token)
                active = found is not None and (now is None or not found.is_expired(now))
                check(found if active else None)
                if not active:
                    return None
            return self._drop(token)

    def remove_tree(self, path: str) -> list[Lock]:
        with self._mutex:
            return self._drop_tree(path)

    def all_locks(self, now: float) -> list[Lock]:
        with self._mutex:
            return [lock for lock in self._by_token.values() if not lock.is_expired(now)]

    def purge_expired(self, now: float) -> int:
        with self._mutex:
            expired = [t for t, lock in self._by_token.items() if lock.is_expired(now)]
            for token in expired:
                self._drop(token)
            return len(expired)

    def count_held(self, holder: str, now: float) -> int:
        with self._mutex:
            return self._count(holder, now)

    def _count(self, holder: str, now: float) -> int:
        tokens = self._by_holder.get(holder, ())
        return sum(not self._by_token[t].is_expired(now) for t in tokens)

    def ensure_writable(self) -> None:
        """Memory always takes writes."""

    def close(self) -> None:
        """Nothing to release; locks die with the process by design."""


class _Held:
    """Inside :meth:`MemoryLockStore.hold_if`, whose mutex is held already."""

    def __init__(self, store: MemoryLockStore) -> None:
        self._store = store

    def remove_tree(self, path: str) -> list[Lock]:
        return self._store._drop_tree(path)


class MemoryPropertyStore:
    """Dead properties in a dict of dicts, with a sorted path index for tree ops."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._props: dict[str, dict[str, str]] = {}
        self._paths = _SortedPaths()

    def _tree(self, path: str) -> list[str]:
        return self._paths.at_or_below(path, path in self._props)

    def _put(self, path: str, values: dict[str, str]) -> None:
        if values:
            self._props[path] = values
            self._paths.add(path)

    def _forget_tree(self, path: str) -> dict[str, dict[str, str]]:
        removed = {}
        for p in self._tree(path):
            removed[p] = self._props.pop(p)
            self._paths.discard(p)
        return removed

    def get_all(self, path: str) -> dict[str, str]:
        with self._mutex:
            return dict(self._props.get(path, {}))

    def get(self, path: str, name: str) -> str | None:
        with self._mutex:
            return self._props.get(path, {}).get(name)

    def set(self, path: str, name: str, value: str) -> None:
        with self._mutex:
            self._put(path, {**self._props.get(path, {}), name: value})

    def remove(self, path: str, name: str) -> None:
        with self._mutex:
            values = self._props.get(path)
            if values is not None and values.pop(name, None) is not None and not values:
                del self._props[path]
                self._paths.discard(path)

    def remove_tree(self, path: str) -> None:
        with self._mutex:
            self._forget_tree(path)

    def copy_tree(self, src: str, dest: str) -> None:
        with self._mutex:
            copies = {rebase(p, src, dest): dict(self._props[p]) for p in self._tree(src)}
            self._forget_tree(dest)
            for path, values in copies.items():
                self._put(path, values)

    def move_tree(self, src: str, dest: str) -> None:
        with self._mutex:
            moved = self._forget_tree(src)
            self._forget_tree(dest)
            for path, values in moved.items():
                self._put(rebase(path, src, dest), values)

    def close(self) -> None:
        """Nothing to release."""
