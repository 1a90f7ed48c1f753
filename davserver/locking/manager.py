"""The lock manager: acquire, refresh, release, check writes, discover (RFC 4918 §6-§9).

Pure: the store and the clock are parameters.  Atomicity of "check for
conflicts, then grant" is the store's job (:meth:`LockStore.insert_if`); the
rules it applies come from :mod:`davserver.locking.rules`.  So is atomicity of
"check the write, then make it visible" (:meth:`LockManager.guarded_write` over
:meth:`LockStore.hold_if`): a lock granted while a long COPY ran wins (§7).

Administrators add freezes (maintenance locks) and break locks; a broken lock
leaves a tombstone under its token (:mod:`davserver.locking.maintenance`).
Tombstones sit in the store beside the locks, so every read here leaves them
out (:func:`~davserver.locking.writes.live`) except the ones that explain a
broken lock to its holder.  What a write needs is judged in
:mod:`davserver.locking.writes`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

from davserver.errors import (
    FreezeConflict,
    FreezeNotReleasable,
    LockBroken,
    LockConflict,
    LockLimitReached,
    LockNotFound,
    LockPrincipalMismatch,
    RefreshBroken,
)
from davserver.locking import rules
from davserver.locking.events import EventSink, LockEvent, LockEventKind
from davserver.locking.maintenance import (
    BROKEN_MEMORY_MAX,
    FreezeRequest,
    make_freeze,
    tombstone,
    update_freeze,
)
from davserver.locking.model import (
    CLIENT_MAX,
    Change,
    Depth,
    Lock,
    LockRequest,
    Scope,
    is_ancestor_or_self,
)
from davserver.locking.timeout import TimeoutPolicy, expires_at, grant_timeout
from davserver.locking.tokens import new_token
from davserver.locking.writes import Guarded, concerned_by, judge, live
from davserver.lockstore.base import LockStore, Quota, holder_of

Clock = Callable[[], float]


Seen = dict[tuple[str, bool], list[Lock]]
"""Store reads one request already made, by (path, with descendants): its If header
and its lock check then judge the same locks, read once.  Never for a check just
before a commit, which must see locks granted meanwhile."""


class LockManager:
    """RFC 4918 locking on top of a :class:`LockStore`, with time from ``clock``."""

    def __init__(
        self,
        store: LockStore,
        clock: Clock,
        policy: TimeoutPolicy | None = None,
        token_factory: Callable[[], str] = new_token,
        events: EventSink | None = None,
        max_shared: int | None = None,
        max_per_principal: int | None = None,
    ):
        self.max_shared = max_shared  # shared locks on one resource at most
        self.max_per_principal = max_per_principal  # locks one user holds at most
        self.store = store
        self.clock = clock
        self.policy = policy or TimeoutPolicy()
        self._new_token = token_factory
        self.events = events

    def _emit(self, kind: LockEventKind, lock: Lock, actor: str | None, path: str) -> None:
        if self.events is not None:
            self.events(LockEvent(kind, self.clock(), lock=lock, path=path, actor=actor))

    def grant_timeout(self, requested: tuple[int | None, ...]) -> int | None:
        """The timeout the policy grants for a Timeout header's values (§10.7)."""
        return grant_timeout(requested, self.policy)

    def acquire(self, request: LockRequest) -> Lock:
        """Grant ``request`` or raise :class:`LockConflict` naming every conflicting lock.

        All or nothing (§9.10.6): either the lock is stored, or nothing changes.
        """
        now = self.clock()

        def decide(existing: Sequence[Lock]) -> Lock:
            frozen = [held for held in existing if rules.freeze_refuses(held, request)]
            if frozen:
                raise FreezeConflict(frozen, request.path)
            conflicting = [held for held in existing if rules.conflicts(held, request)]
            if conflicting:
                # §9.10.9's 207 is for a request refused only because of members; when
                # the request-URI itself (or an ancestor) conflicts, a plain 423 says it.
                below = all(
                    held.root != request.path and is_ancestor_or_self(request.path, held.root)
                    for held in conflicting
                )
                raise LockConflict(conflicting, request.path, below=below)
            self._check_shared_limit(existing, request)
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
                client=request.client[:CLIENT_MAX],
                address=request.address,
            )

        include_descendants = request.depth is Depth.INFINITY
        quota = None
        if self.max_per_principal is not None:
            holder = holder_of(request.principal, request.address)
            quota = Quota(holder, lambda held: self._check_quota(request, held))
        lock = self.store.insert_if(request.path, include_descendants, now, decide, quota)
        self._emit(LockEventKind.ACQUIRED, lock, request.principal, request.path)
        return lock

    def _check_shared_limit(self, existing: Sequence[Lock], request: LockRequest) -> None:
        """Thousands of shared locks on one file make every check on it slow."""
        if self.max_shared is None or request.scope is not Scope.SHARED:
            return
        same = [
            held
            for held in existing
            if held.root == request.path and held.scope is Scope.SHARED and not held.is_tombstone
        ]
        if len(same) >= self.max_shared:
            raise LockLimitReached(
                f"{request.path} already has {len(same)} shared locks, the most allowed "
                "(locks.shared_per_resource); ask a holder to unlock, or wait for one to expire"
            )

    def _check_quota(self, request: LockRequest, held: int) -> None:
        """One user (or the anonymous clients of one address) must not fill the store:
        ``held`` is how many locks they hold (the store counts them, :class:`Quota`).

        Anonymous clients are counted per address (:func:`holder_of`): with one
        quota for all of them, one client's locks refused everybody else's.
        SQLite and memory count inside ``insert_if``'s atomic section (its write
        lock serialises every LOCK anyway); Redis counts just before it (counting
        inside would make every LOCK of a user contend with all their others: it
        would watch their whole set), so there the quota is a soft limit — a few
        LOCKs racing at the limit may each pass and exceed it by that few.
        """
        if self.max_per_principal is None or held < self.max_per_principal:
            return
        if request.principal is None:
            address = request.address or "an unknown address"
            who, verb, quota = f"anonymous clients at {address}", "hold", "address"
        else:
            who, verb, quota = request.principal, "holds", "user"
        raise LockLimitReached(
            f"{who} {verb} {held} locks, the most one {quota} may hold "
            "(locks.max_per_principal); unlock some or let them expire"
        )

    def _lock_for(
        self, token: str, path: str, principal: str | None, *, refresh: bool = False
    ) -> Lock:
        return self._judge_held(
            self.store.get(token, self.clock()), token, path, principal, refresh
        )

    @staticmethod
    def _judge_held(
        lock: Lock | None, token: str, path: str, principal: str | None, refresh: bool = False
    ) -> Lock:
        """The lock a refresh or an UNLOCK names, if this request may manage it."""
        if lock is None or not lock.covers(path):
            raise LockNotFound(token, path)
        if lock.is_tombstone:
            raise RefreshBroken(lock) if refresh else LockBroken(lock)
        if lock.is_freeze:
            raise FreezeNotReleasable(lock)
        if not rules.may_manage(lock, principal):
            raise LockPrincipalMismatch(lock, principal)
        return lock

    def refresh(self, token: str, path: str, principal: str | None, timeout: int | None) -> Lock:
        """Restart the lock's timer (§9.10.2); same token, same everything else."""
        now = self.clock()

        def update(found: Lock) -> Lock:
            lock = self._judge_held(found, token, path, principal, refresh=True)
            return dataclasses.replace(
                lock, timeout=timeout, expires_at=expires_at(timeout, now), refreshed_at=now
            )

        # Checked and rewritten in one store round trip (LockStore.renew).
        fresh = self.store.renew(token, now, update)
        if fresh is None:
            raise LockNotFound(token, path)
        self._emit(LockEventKind.REFRESHED, fresh, principal, path)
        return fresh

    def release(self, token: str, path: str, principal: str | None) -> Lock:
        """UNLOCK (§9.11): the token must name a lock covering ``path``, held by
        ``principal``."""

        def check(found: Lock | None) -> None:
            self._judge_held(found, token, path, principal)

        # Checked and removed in one store round trip (LockStore.remove with check).
        lock = self.store.remove(token, check, self.clock())
        if lock is None:
            raise LockNotFound(token, path)
        self._emit(LockEventKind.RELEASED, lock, principal, path)
        return lock

    def _find(self, path: str, below: bool, now: float, seen: Seen | None) -> list[Lock]:
        if seen is None:
            return self.store.find(path, below, now)
        found = seen.get((path, below))
        if found is None:
            found = seen[path, below] = self.store.find(path, below, now)
        return found

    def locks_concerned(self, changes: Iterable[Change], seen: Seen | None = None) -> list[Lock]:
        """Every active lock covering something the changes touch (§7.4-§7.6)."""
        changes = list(changes)
        now = self.clock()
        found: list[Lock] = []
        for change in changes:
            found += self._find(change.path, change.depth is Depth.INFINITY, now, seen)
        return concerned_by(changes, found)

    def check_write(
        self,
        changes: Iterable[Change],
        submitted: frozenset[str],
        principal: str | None,
        seen: Seen | None = None,
    ) -> list[Lock]:
        """Raise :class:`Frozen` when a freeze covers what the changes touch, and
        :class:`LockTokenMissing` unless this request may write everything they
        touch (:func:`rules.missing_tokens`); return the locks concerned."""
        changes = list(changes)
        return judge(changes, self.locks_concerned(changes, seen), submitted, principal)

    @contextmanager
    def guarded_write(
        self, changes: Iterable[Change], submitted: frozenset[str], principal: str | None
    ) -> Iterator[Guarded]:
        """:meth:`check_write` on fresh reads, held (:meth:`LockStore.hold_if`) while
        the ``with`` block makes the write visible: no LOCK on what the changes
        touch is granted in between.  The block must be short (renames)."""
        changes = list(changes)
        scopes = list(dict.fromkeys((c.path, c.depth is Depth.INFINITY) for c in changes))

        judged: list[Lock] = []

        def check(found: Sequence[Lock]) -> None:
            judged[:] = judge(changes, concerned_by(changes, found), submitted, principal)

        with self.store.hold_if(scopes, self.clock(), check) as held:
            yield Guarded(held, tuple(judged))

    def discover(self, path: str, seen: Seen | None = None) -> list[Lock]:
        """Active locks whose scope covers ``path``, inherited ones included (§15.8)."""
        now = self.clock()
        found = self._find(path, False, now, seen)
        covering = [lock for lock in live(found) if lock.covers(path)]
        return sorted(covering, key=lambda lock: (lock.root, lock.token))

    def discover_with_below(self, path: str) -> tuple[list[Lock], list[Lock]]:
        """:meth:`discover` and :meth:`locks_below` of ``path`` from one read of the
        store (the locks relevant to ``path`` and its descendants: one store call,
        for a Depth 1 PROPFIND; both from the same snapshot)."""
        found = self.store.find(path, True, self.clock())
        # The store's answer is rooted at ``path``, above it or below it: split
        # by the root's text, no call per lock (Lock.covers, is_ancestor_or_self).
        inside = path if path == "/" else path + "/"
        covering: list[Lock] = []
        below: list[Lock] = []
        for lock in found:
            if lock.is_tombstone:
                continue
            root = lock.root
            if root == path:
                covering.append(lock)
                below.append(lock)
            elif root.startswith(inside):
                below.append(lock)
            elif lock.depth is Depth.INFINITY:  # an ancestor's: covers path when deep
                covering.append(lock)
        if len(covering) > 1:
            covering.sort(key=lambda lock: (lock.root, lock.token))
        return covering, below

    def tokens_covering(self, path: str, seen: Seen | None = None) -> frozenset[str]:
        return frozenset(lock.token for lock in self.discover(path, seen))

    def get(self, token: str) -> Lock | None:
        lock = self.store.get(token, self.clock())
        return None if lock is None or lock.is_tombstone else lock

    def locks_below(self, path: str) -> list[Lock]:
        """Active locks (and freezes) rooted at ``path`` or below it."""
        return live(self.store.find_below(path, self.clock()))

    def forget(self, path: str, only: Iterable[Lock] | None = None) -> list[Lock]:
        """Drop the locks rooted at ``path`` or below: the resource was deleted or
        moved away, and locks never travel (§7.7).  With ``only``, just those of
        them (the ones a guarded write was judged by: a lock granted since then is
        on a new resource at that path, and stays)."""
        if only is None:
            return self.store.remove_tree(path)
        gone = [lock for lock in only if is_ancestor_or_self(path, lock.root)]
        return [lock for lock in gone if self.store.remove(lock.token) is not None]

    def break_lock(
        self,
        token: str,
        actor: str | None = None,
        reason: str = "",
        memory_max: int = BROKEN_MEMORY_MAX,
    ) -> Lock | None:
        """Remove a write lock whoever holds it (an administrator's decision) and
        remember who broke it, when and why under its token until it would have
        expired (at most ``memory_max`` seconds); None if there was no such lock."""
        now = self.clock()
        lock = self.store.get(token, now)
        if lock is None or not lock.is_write:
            return None
        if not self.store.replace(tombstone(lock, actor, reason, now, memory_max), now):
            return None
        self._emit(LockEventKind.BROKEN, lock, actor, lock.root)
        return lock

    def broken(self, token: str) -> Lock | None:
        """The tombstone of a broken lock, while its holder is to be told."""
        lock = self.store.get(token, self.clock())
        return lock if lock is not None and lock.is_tombstone else None

    def raise_if_broken(
        self, submitted: Iterable[str], *, refresh: bool = False, seen: Seen | None = None
    ) -> None:
        """Explain a refused request whose token names a broken lock: who broke it,
        when and why (:class:`LockBroken`, or :class:`RefreshBroken` for a refresh).

        With ``seen`` (the reads its If header was judged by), only the tombstones
        among those reads: a broken lock that covered a resource the header named
        is there, and a store read per submitted token would make a header of many
        tokens cost that many reads."""
        if seen is None:
            found = (self.broken(token) for token in sorted(submitted))
            broken = next((lock for lock in found if lock is not None), None)
        else:
            wanted = frozenset(submitted)
            tombstones = {
                lock.token: lock
                for locks in seen.values()
                for lock in locks
                if lock.is_tombstone and lock.token in wanted
            }
            broken = tombstones[min(tombstones)] if tombstones else None
        if broken is not None:
            raise RefreshBroken(broken) if refresh else LockBroken(broken)

    def freeze(self, wanted: FreezeRequest) -> Lock:
        """Freeze a subtree for maintenance; granted whatever locks are held in it
        (they stay).  Freezing a frozen path again updates that freeze."""
        now = self.clock()

        def decide(existing: Sequence[Lock]) -> Lock:
            fresh = make_freeze(self._new_token(), wanted, now)
            same = [held for held in existing if held.is_freeze and held.root == wanted.path]
            return update_freeze(same[0], fresh, now) if same else fresh

        lock = self.store.insert_if(wanted.path, False, now, decide)
        self._emit(LockEventKind.FROZEN, lock, wanted.by, wanted.path)
        return lock

    def unfreeze(self, token: str, actor: str | None = None) -> Lock | None:
        """Lift the freeze with this token; None if there is none."""
        found = self.store.get(token, self.clock())
        if found is None or not found.is_freeze:
            return None
        lifted = self.store.remove(token)
        if lifted is not None:
            self._emit(LockEventKind.UNFROZEN, lifted, actor, lifted.root)
        return lifted

    def records(self, *, expired: bool = False) -> list[Lock]:
        """Every stored lock and freeze (with ``expired``: also the expired ones the
        purge has not removed yet), for administrators."""
        now = -math.inf if expired else self.clock()
        return live(self.store.all_locks(now))

    def discard(self, token: str) -> Lock | None:
        """Delete a stored record outright (an expired lock the purge has not reached)."""
        return self.store.remove(token)

    def purge_expired(self) -> int:
        """Delete expired locks (§6.6); with an event sink, one ``expired`` event each.

        Each expired lock is removed by token, so when several processes purge
        the same store only the one that removed a lock reports it.
        """
        now = self.clock()
        if self.events is None:
            return self.store.purge_expired(now)
        # Locks active at -inf are all stored locks, the expired ones included.
        expired = [lock for lock in self.store.all_locks(-math.inf) if lock.is_expired(now)]
        purged = 0
        for lock in expired:
            if self.store.remove(lock.token) is not None:
                purged += 1
                if lock.is_write:
                    self._emit(LockEventKind.EXPIRED, lock, None, lock.root)
                elif lock.is_freeze:  # ran out: lifted by nobody
                    self._emit(LockEventKind.UNFROZEN, lock, None, lock.root)
        return purged + self.store.purge_expired(now)
