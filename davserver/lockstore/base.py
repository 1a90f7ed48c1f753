"""The store protocols: where locks and dead properties live.

Backends are chosen by URL scheme (see ``davserver.lockstore.open_stores``).
A store knows nothing of lock *rules*: the core passes a ``decide`` callback
into :meth:`LockStore.insert_if`, and the store guarantees that reading the
relevant locks, calling ``decide`` and writing its result happen atomically —
across threads, worker processes, and (for Redis) servers.

The same holds the other way round for writes (RFC 4918 §7: a lock taken while
a long COPY runs must win over the COPY's install): :meth:`LockStore.hold_if`
reads the locks relevant to what a write changes, calls ``check`` with them,
and keeps every overlapping ``insert_if`` waiting while the caller makes its
change visible — so no LOCK can be granted between the check and the change.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import NamedTuple, Protocol

from davserver.locking.model import Lock

Decide = Callable[[Sequence[Lock]], Lock]
Check = Callable[[Sequence[Lock]], object]
Renew = Callable[[Lock], Lock]
"""Makes the refreshed record of an active lock (it raises to keep the lock as it is)."""
Release = Callable[[Lock | None], object]
"""Judges the lock :meth:`LockStore.remove` is about to remove (None: no active lock
has the token); raises to keep it."""


class Quota(NamedTuple):
    """A LOCK's quota (see :meth:`LockStore.insert_if`): ``check`` is called with how
    many write locks ``holder`` holds (:meth:`LockStore.count_held`); it raises to
    refuse the lock."""

    holder: str
    check: Callable[[int], object]


Scopes = Sequence[tuple[str, bool]]
"""What a write changes, as (path, include_descendants) pairs: the locks relevant
to each (see :class:`LockStore`) are what its ``check`` is shown."""

# The quota holder of locks taken without authentication, one per client
# address: ``:anonymous:<address>``, so one address cannot use up the quota of
# every other anonymous client.  No user name contains ":" (RFC 7617), so no
# user shares it.  Stores written before per-address quotas recorded every
# anonymous lock under the bare prefix (LEGACY_ANONYMOUS_HOLDER); they move such
# locks to their address's holder (:func:`quota_holder` of the stored record).
ANONYMOUS_HOLDER = ":anonymous"
LEGACY_ANONYMOUS_HOLDER = ANONYMOUS_HOLDER


def holder_of(principal: str | None, address: str = "") -> str:
    """The name locks are counted under (see :meth:`LockStore.count_held`): the
    user, or for anonymous clients their address (one quota per address)."""
    return f"{ANONYMOUS_HOLDER}:{address}" if principal is None else principal


def quota_holder(lock: Lock) -> str | None:
    """Whose lock quota a stored record counts against; None for freezes and
    tombstones, which no user holds (a freeze's principal is its administrator)."""
    return holder_of(lock.principal, lock.address) if lock.is_write else None


class Held(Protocol):
    """Inside :meth:`LockStore.hold_if`: changes to the store that belong to the
    held write (a lock granted meanwhile could otherwise be dropped unseen)."""

    def remove_tree(self, path: str) -> list[Lock]:
        """:meth:`LockStore.remove_tree`, inside the held section."""
        ...


class Role(enum.Enum):
    """Who opens a store, which decides what opening it may change."""

    SERVER = "server"  # creates a missing store, adopts and remembers its generation
    CHECK = "check"  # preflight: checks persistence and generation, changes nothing
    ADMIN = "admin"  # davserver locks list|break: never creates, never adopts
    CONFIRM = "confirm"  # davserver locks confirm-store: writes a confirmed generation


class LockStore(Protocol):
    """Persistence of active locks.  All paths are canonical (see locking.model).

    "Relevant to ``path``" always means: every non-expired lock rooted at
    ``path`` or at any proper ancestor of it (any depth), plus — when
    ``include_descendants`` — every non-expired lock rooted strictly below it.
    Expired locks (``expires_at <= now``) are never returned.

    ``now`` is the manager's clock.  Stores shared between processes or servers
    need one clock for all of them, and Redis also uses it for key expiry, so
    that clock must be Unix time (``time.time``).
    """

    def insert_if(
        self,
        path: str,
        include_descendants: bool,
        now: float,
        decide: Decide,
        quota: Quota | None = None,
    ) -> Lock:
        """Atomically: read the locks relevant to ``path``, call ``decide`` with
        them (it may raise, and then nothing is written), store the lock it returns.

        With ``quota``, first ``quota.check(count_held(quota.holder, now))`` (it may
        raise, and then nothing is written): in the same transaction where that
        costs nothing (SQLite, memory: one store round trip per LOCK), just before
        it otherwise (Redis: counting inside would watch the holder's whole set).

        The returned lock must be rooted at ``path`` (else ``ValueError``): the
        atomicity covers exactly the locks relevant to ``path``.  ``decide`` may be
        called more than once (Redis retries when a watched key changed) and may
        run while the store holds a lock, so it must be pure and must not call
        back into the store.
        """
        ...

    def hold_if(self, scopes: Scopes, now: float, check: Check) -> AbstractContextManager[Held]:
        """Atomically: read the locks relevant to each (path, include_descendants)
        of ``scopes`` (each lock once) and call ``check`` with them; it may raise,
        and then nothing is held.  While the returned context is open no
        ``insert_if`` whose lock would have been relevant to one of the scopes
        completes (it waits, and sees afterwards what the block did); the
        :class:`Held` it yields removes locks inside that same section.

        The block must be short (renames, a directory fsync): it keeps LOCKs on
        those paths waiting, and must not call the store itself (use ``Held``;
        SQLite's per-thread connection is inside the held transaction).  ``check``
        may be called more than once and must be pure, like ``decide``.
        """
        ...

    def find(self, path: str, include_descendants: bool, now: float) -> list[Lock]:
        """The locks relevant to ``path``."""
        ...

    def find_below(self, path: str, now: float) -> list[Lock]:
        """Locks rooted at ``path`` or below it (for listings and lock discovery)."""
        ...

    def get(self, token: str, now: float) -> Lock | None:
        """The active lock with this token, or None."""
        ...

    def replace(self, lock: Lock, now: float) -> bool:
        """Replace the stored lock with the same token (refresh); False if it is
        gone or expired at ``now``.  A refresh never moves a lock: a different
        ``root`` raises ``ValueError``."""
        ...

    def renew(self, token: str, now: float, update: Renew) -> Lock | None:
        """Atomically: read the active lock with this token, store ``update(lock)``
        in its place and return that; None (and ``update`` is not called) when there
        is no such lock.  ``update`` may raise (then nothing changes), must keep
        the token and the root (else ``ValueError``), may be called more than once
        (Redis retries) and must not call the store: a refresh (LOCK without a
        body) is one store round trip."""
        ...

    def remove(
        self, token: str, check: Release | None = None, now: float | None = None
    ) -> Lock | None:
        """Delete the lock; return it (None if there was none).  Without ``check``
        the returned lock may already be expired (the store is not given ``now``).

        With ``check`` (and ``now``): only an active lock is removed, and
        ``check`` is called first with it (or None); when it raises nothing is
        removed.  One transaction where the store has them (SQLite, memory: an
        UNLOCK is one round trip); Redis reads, checks, then removes."""
        ...

    def remove_tree(self, path: str) -> list[Lock]:
        """Delete every lock rooted at ``path`` or below; return them (expired
        ones included, as far as the backend still holds them)."""
        ...

    def all_locks(self, now: float) -> list[Lock]:
        """Every active lock (admin listing; may scan)."""
        ...

    def purge_expired(self, now: float) -> int:
        """Delete expired locks; return how many."""
        ...

    def count_held(self, holder: str, now: float) -> int:
        """How many write locks ``holder`` (:func:`holder_of`: a user, or the
        anonymous clients of one address) holds at ``now``; freezes, tombstones
        and expired locks are not counted.  Proportional to the locks the holder
        holds, never to all locks."""
        ...

    def ensure_writable(self) -> None:
        """Raise :class:`~davserver.errors.StoreUnavailable` unless the store takes a
        write right now (a real, tiny one).  Called before a file operation whose
        locks the store must then forget (DELETE, MOVE, COPY), so that a store
        that cannot record the change stops the request before any file changes."""
        ...

    def close(self) -> None: ...


class PropertyStore(Protocol):
    """Dead properties (RFC 4918 §4), keyed by canonical path and Clark name
    (``{namespace}local``); values are the property element serialised as XML."""

    def get_all(self, path: str) -> dict[str, str]: ...

    def get(self, path: str, name: str) -> str | None: ...

    def set(self, path: str, name: str, value: str) -> None: ...

    def remove(self, path: str, name: str) -> None: ...

    def remove_tree(self, path: str) -> None:
        """Forget the properties of ``path`` and everything below it."""
        ...

    def copy_tree(self, src: str, dest: str) -> None:
        """Copy the properties of ``src`` and below to the same places under ``dest``
        (replacing what ``dest`` had)."""
        ...

    def move_tree(self, src: str, dest: str) -> None:
        """Move the properties of ``src`` and below under ``dest``."""
        ...

    def close(self) -> None: ...
