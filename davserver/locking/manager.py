"""The lock manager: acquire, refresh, release, check writes, discover (RFC 4918 §6-§9).

Pure: the store and the clock are parameters.  Atomicity of "check for
conflicts, then grant" is the store's job (:meth:`LockStore.insert_if`); the
rules it applies come from :mod:`davserver.locking.rules`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence

from davserver.errors import LockConflict, LockNotFound, LockPrincipalMismatch, LockTokenMissing
from davserver.locking import rules
from davserver.locking.model import Change, Depth, Lock, LockRequest, is_ancestor_or_self
from davserver.locking.timeout import TimeoutPolicy, expires_at, grant_timeout
from davserver.locking.tokens import new_token
from davserver.lockstore.base import LockStore

Clock = Callable[[], float]


class LockManager:
    """RFC 4918 locking on top of a :class:`LockStore`, with time from ``clock``."""

    def __init__(
        self,
        store: LockStore,
        clock: Clock,
        policy: TimeoutPolicy | None = None,
        token_factory: Callable[[], str] = new_token,
    ):
        self.store = store
        self.clock = clock
        self.policy = policy or TimeoutPolicy()
        self._new_token = token_factory

    def grant_timeout(self, requested: tuple[int | None, ...]) -> int | None:
        """The timeout the policy grants for a Timeout header's values (§10.7)."""
        return grant_timeout(requested, self.policy)

    def acquire(self, request: LockRequest) -> Lock:
        """Grant ``request`` or raise :class:`LockConflict` naming every conflicting lock.

        All or nothing (§9.10.6): either the lock is stored, or nothing changes.
        """
        now = self.clock()

        def decide(existing: Sequence[Lock]) -> Lock:
            conflicting = [held for held in existing if rules.conflicts(held, request)]
            if conflicting:
                # §9.10.9's 207 is for a request refused only because of members; when
                # the request-URI itself (or an ancestor) conflicts, a plain 423 says it.
                below = all(
                    held.root != request.path and is_ancestor_or_self(request.path, held.root)
                    for held in conflicting
                )
                raise LockConflict(conflicting, request.path, below=below)
            return Lock(
                token=self._new_token(),
                root=request.path,
                scope=request.scope,
                depth=request.depth,
                owner=request.owner,
                principal=request.principal,
                timeout=request.timeout,
                expires_at=expires_at(request.timeout, now),
                created_at=now,
                collection=request.collection,
            )

        include_descendants = request.depth is Depth.INFINITY
        return self.store.insert_if(request.path, include_descendants, now, decide)

    def _lock_for(self, token: str, path: str, principal: str | None) -> Lock:
        lock = self.store.get(token, self.clock())
        if lock is None or not lock.covers(path):
            raise LockNotFound(token, path)
        if not rules.may_manage(lock, principal):
            raise LockPrincipalMismatch(lock, principal)
        return lock

    def refresh(self, token: str, path: str, principal: str | None, timeout: int | None) -> Lock:
        """Restart the lock's timer (§9.10.2); same token, same everything else."""
        lock = self._lock_for(token, path, principal)
        now = self.clock()
        fresh = dataclasses.replace(lock, timeout=timeout, expires_at=expires_at(timeout, now))
        if not self.store.replace(fresh, now):
            raise LockNotFound(token, path)
        return fresh

    def release(self, token: str, path: str, principal: str | None) -> Lock:
        """UNLOCK (§9.11): the token must name a lock covering ``path``, held by
        ``principal``."""
        lock = self._lock_for(token, path, principal)
        if self.store.remove(token) is None:
            raise LockNotFound(token, path)
        return lock

    def locks_concerned(self, changes: Iterable[Change]) -> list[Lock]:
        """Every active lock covering something the changes touch (§7.4-§7.6)."""
        now = self.clock()
        found: dict[str, Lock] = {}
        for change in changes:
            below = change.depth is Depth.INFINITY
            for lock in self.store.find(change.path, below, now):
                if lock.covers(change.path) or (
                    below and is_ancestor_or_self(change.path, lock.root)
                ):
                    found.setdefault(lock.token, lock)
        return sorted(found.values(), key=lambda lock: (lock.root, lock.token))

    def check_write(
        self, changes: Iterable[Change], submitted: frozenset[str], principal: str | None
    ) -> list[Lock]:
        """Raise :class:`LockTokenMissing` unless every lock the changes touch may be
        used by this request; return the locks concerned."""
        concerned = self.locks_concerned(changes)
        missing = [lock for lock in concerned if not rules.may_use(lock, principal, submitted)]
        if missing:
            raise LockTokenMissing(missing)
        return concerned

    def discover(self, path: str) -> list[Lock]:
        """Active locks whose scope covers ``path``, inherited ones included (§15.8)."""
        now = self.clock()
        covering = [lock for lock in self.store.find(path, False, now) if lock.covers(path)]
        return sorted(covering, key=lambda lock: (lock.root, lock.token))

    def tokens_covering(self, path: str) -> frozenset[str]:
        return frozenset(lock.token for lock in self.discover(path))

    def get(self, token: str) -> Lock | None:
        return self.store.get(token, self.clock())

    def locks_below(self, path: str) -> list[Lock]:
        """Active locks rooted at ``path`` or below it."""
        return self.store.find_below(path, self.clock())

    def forget(self, path: str) -> list[Lock]:
        """Drop the locks rooted at ``path`` or below: the resource was deleted or
        moved away, and locks never travel (§7.7)."""
        return self.store.remove_tree(path)

    def purge_expired(self) -> int:
        return self.store.purge_expired(self.clock())
