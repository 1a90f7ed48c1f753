"""Redis stores: locks shared by every process of every server using one Redis.

Key layout (``P`` is the prefix, default ``davserver:``)::

    P lock:<token>     string   the lock as codec JSON; PEXPIREAT expiry + grace
    P root:<path>      set      tokens of the locks rooted at <path>
    P below:<path>     set      every lock root at or below <path> (itself included)
    P held:<holder>    set      tokens of the write locks of one quota holder (a user
                                name, or ``:anonymous:<address>``); pruned when counted
    P props:<path>     hash     dead properties of <path>: Clark name -> XML
    P proppaths        zset     every path with properties (score 0, ZRANGEBYLEX)
    P generation       string   which store this is; P seq: the write counter
                                (both: davserver.lockstore.redis_guard)

Why this shape: ancestors are known from the path itself, so their ``root:``
sets are read directly; descendants come from one ``below:`` set, so no query
ever needs KEYS or SCAN.  ``insert_if`` WATCHes exactly the keys its answer
depends on (ancestor ``root:`` sets, the ``below:`` set and the ``root:`` sets it
lists, the lock keys read, the generation) and commits with MULTI/EXEC, so two
processes racing for the same resource cannot both win.  Every read and every
transaction reads the generation and write counter in its last round trip
before anything is decided or answered, so a Redis that lost its data between
two requests — or between two reads of one request — is noticed.  Redis is a
cache of truth for expiry: ``now`` decides, and the key TTL (with a grace for
clock skew between servers) only collects garbage.  Index entries whose lock key
has expired are treated as absent and removed lazily.  ``held:`` sets are
never WATCHed: the quota they count is a soft limit, and adding or removing one
token commutes with everything else in a transaction.  ``now`` must therefore
be Unix time (``time.time``).

:meth:`RedisLockStore.hold_if` cannot keep a transaction open across the
caller's block; it leaves *intents* that make overlapping ``insert_if`` calls
wait (:mod:`davserver.lockstore.redis_intents`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import redis

from davserver.common import turns
from davserver.errors import StoreError, StoreUnavailable
from davserver.locking import rules
from davserver.locking.model import Depth, Lock, LockRequest
from davserver.lockstore.base import (
    LEGACY_ANONYMOUS_HOLDER,
    Check,
    Decide,
    Quota,
    Release,
    Renew,
    Scopes,
    quota_holder,
)
from davserver.lockstore.codec import lock_from_json
from davserver.lockstore.paths import (
    check_inserted_root,
    check_same_root,
    self_and_ancestors,
)
from davserver.lockstore.redis_connect import DEFAULT_PREFIX, Client, Pipe, connect
from davserver.lockstore.redis_guard import Guard
from davserver.lockstore.redis_intents import POLL_S, WAIT_S, Busy, Intents
from davserver.lockstore.redis_lock_index import TTL_GRACE_S, LockIndex
from davserver.lockstore.redis_props import RedisPropertyStore
from davserver.lockstore.redis_replication import Unreplicated

__all__ = [
    "DEFAULT_PREFIX",
    "TTL_GRACE_S",
    "Guard",
    "RedisLockStore",
    "RedisPropertyStore",
    "connect",
    "ping",
]

T = TypeVar("T")
log = logging.getLogger("davserver.lockstore")


class RedisLockStore(LockIndex):
    """Locks in Redis; see the module docstring for the key layout."""

    def __init__(self, client: Client, prefix: str = DEFAULT_PREFIX, guard: Guard | None = None):
        super().__init__(client, prefix, guard)
        self._intents = Intents(prefix)
        self._legacy_rehomed = False  # the shared anonymous set was found empty

    def _remove_token(
        self, token: str, expired_at: float | None = None, *, durable: bool = True
    ) -> Lock | None:
        """Delete one lock atomically; with ``expired_at``, only if expired by then
        (``durable``: WAIT for the replicas, see :mod:`.redis_replication`)."""

        def attempt(pipe: Pipe) -> Lock | None:
            pipe.watch(self._lock(token), self._g.generation_key)
            (value,) = self._verified(pipe, self._lock(token))
            lock = None if value is None else lock_from_json(value)
            if lock is None or (expired_at is not None and not lock.is_expired(expired_at)):
                return None
            pipe.multi()
            pipe.delete(self._lock(token))
            pipe.srem(self._root(lock.root), token)
            self._queue_hold(pipe, token, lock, None)
            try:
                self._execute(pipe, durable=durable)
            except Unreplicated:
                self._reinstate(lock)
                raise
            return lock

        lock = self._transact(attempt)
        if lock is not None:
            self._prune(lock.root)
        return lock

    # -- LockStore ------------------------------------------------------------

    def insert_if(
        self,
        path: str,
        include_descendants: bool,
        now: float,
        decide: Decide,
        quota: Quota | None = None,
    ) -> Lock:
        if quota is not None:  # before the transaction: it would watch the whole set
            quota.check(self.count_held(quota.holder, now))
        attempt = self._inserting(path, include_descendants, now, decide)
        with self._op():
            lock, emptied = self._waiting(lambda: self._transact(attempt))
            for root in emptied:
                self._prune(root)
        return lock

    def _inserting(
        self, path: str, include_descendants: bool, now: float, decide: Decide, durable: bool = True
    ) -> Callable[[Pipe], tuple[Lock, list[str]]]:
        """The transaction of :meth:`insert_if` (raises Busy while an intent overlaps);
        not ``durable``: without WAIT (see :meth:`_reinstate`)."""

        def attempt(pipe: Pipe) -> tuple[Lock, list[str]]:
            pipe.watch(self._g.generation_key, *[self._root(x) for x in self_and_ancestors(path)])
            intents = self._intents.keys_for_insert(path)
            pipe.watch(*intents)
            if self._intents.live(self._hashes(intents), now):
                raise Busy(path)
            if include_descendants:
                pipe.watch(self._below(path))
            roots = self._roots(pipe, path, include_descendants)
            if include_descendants:
                pipe.watch(*[self._root(x) for x in roots])
            locks, stale = self._load(pipe, roots, watch=True)
            lock = decide([lock for lock in locks if not lock.is_expired(now)])
            check_inserted_root(lock, path)
            pipe.multi()
            for root in roots if stale else ():
                pipe.srem(self._root(root), *stale)
            self._queue_add(pipe, lock)
            try:
                self._execute(pipe, durable=durable)
            except Unreplicated:
                self._withdraw(lock)
                raise
            return lock, roots if stale else []

        return attempt

    def _withdraw(self, lock: Lock) -> None:
        """Take back a grant the replicas did not confirm (its LOCK is answered 503).

        Removing a lock is always safe — fewer locks, never two — so this does not
        wait for the replicas; if it fails, the lock expires by its timeout.
        """
        try:
            self._remove_token(lock.token, durable=False)
        except StoreError as exc:
            log.warning("could not withdraw an unconfirmed lock (it expires by itself): %s", exc)

    def _reinstate(self, lock: Lock) -> None:
        """Put back a lock whose removal the replicas did not confirm (its UNLOCK is
        answered 503), so that the client's repeated UNLOCK finds it instead of
        answering 409.  Like :meth:`_withdraw` this does not wait for the replicas
        (a lock too many is safe, two holders are not); it is left out when what
        the removal let through since overlaps the lock — a conflicting LOCK, or a
        write in progress — because then the removal has been relied on."""
        request = LockRequest(
            lock.root, lock.scope, lock.depth, lock.owner, lock.principal, lock.timeout
        )

        def decide(active: Sequence[Lock]) -> Lock:
            if any(rules.conflicts(h, request) or rules.freeze_refuses(h, request) for h in active):
                raise _Overtaken
            return lock

        now = time.time()
        if lock.is_expired(now):
            return
        attempt = self._inserting(lock.root, lock.depth is Depth.INFINITY, now, decide, False)
        try:
            self._transact(attempt)
        except (Busy, _Overtaken):
            log.warning("the unconfirmed removal of a lock on %s stays: used since", lock.root)
        except StoreError as exc:
            log.warning("could not put back a lock whose removal went unconfirmed: %s", exc)

    def _hashes(self, keys: Sequence[str]) -> list[dict[str, str]]:
        """Several hashes in one round trip (after they are WATCHed)."""
        with self._r.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(key)
            return list(pipe.execute())

    def _waiting(self, run: Callable[[], T]) -> T:
        """``run`` again while a held write's intent overlaps it (bounded)."""
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                return run()
            except Busy as busy:
                if time.monotonic() >= deadline:
                    raise StoreUnavailable(
                        f"a write in progress on {busy} kept the lock store busy", retry_after=1
                    ) from None
                turns.blocking(time.sleep, POLL_S)

    @contextlib.contextmanager
    def hold_if(self, scopes: Scopes, now: float, check: Check) -> Iterator[_Held]:
        scopes = list(dict.fromkeys(scopes))
        ident = secrets.token_hex(8)

        def attempt(pipe: Pipe) -> None:
            keys = {self._root(x) for path, _ in scopes for x in self_and_ancestors(path)}
            keys |= {self._below(path) for path, below in scopes if below}
            pipe.watch(self._g.generation_key, *sorted(keys))
            roots: dict[str, None] = {}
            for path, below in scopes:
                roots.update(dict.fromkeys(self._roots(pipe, path, below)))
            pipe.watch(*[self._root(x) for x in roots])
            locks, _ = self._load(pipe, list(roots), watch=True)
            check([lock for lock in locks if not lock.is_expired(now)])
            pipe.multi()
            self._intents.queue_add(pipe, ident, scopes, now)
            try:
                self._execute(pipe)
            except Unreplicated:  # answered 503: the write will not run
                self._release(ident, scopes)
                raise

        with self._op():
            self._transact(attempt)
        try:
            yield _Held(self)
        finally:
            self._release(ident, scopes)

    def _release(self, ident: str, scopes: Scopes) -> None:
        """Drop an intent; if Redis cannot take it now, its TTL will."""
        try:
            with self._g.translate(), self._r.pipeline(transaction=True) as pipe:
                self._intents.queue_remove(pipe, ident, scopes)
                pipe.execute()
        except StoreError as exc:
            log.warning("could not release a write intent (it expires by itself): %s", exc)

    def find(self, path: str, include_descendants: bool, now: float) -> list[Lock]:
        with self._op():
            return self._read(self._roots(self._r, path, include_descendants), now)

    def find_below(self, path: str, now: float) -> list[Lock]:
        with self._op():
            # No roots is an answer too: it must pass the generation check.
            (below,) = self._checked(lambda p: p.smembers(self._below(path)))
            return self._read(sorted(below), now) if below else []

    def get(self, token: str, now: float) -> Lock | None:
        with self._op():
            (value,) = self._verified(self._r, self._lock(token))
            lock = None if value is None else lock_from_json(value)
        return None if lock is None or lock.is_expired(now) else lock

    def replace(self, lock: Lock, now: float) -> bool:
        return self.renew(lock.token, now, lambda old: lock) is not None

    def renew(self, token: str, now: float, update: Renew) -> Lock | None:
        def attempt(pipe: Pipe) -> Lock | None:
            pipe.watch(self._lock(token), self._g.generation_key)
            (value,) = self._verified(pipe, self._lock(token))
            old = None if value is None else lock_from_json(value)
            if old is None or old.is_expired(now):
                return None
            lock = update(old)
            check_same_root(old, lock)
            pipe.multi()
            self._queue_set(pipe, lock)
            # A broken lock's tombstone counts for nobody: its token leaves the set.
            self._queue_hold(pipe, lock.token, old, lock)
            self._execute(pipe)
            return lock

        with self._op():
            return self._transact(attempt)

    def remove(
        self, token: str, check: Release | None = None, now: float | None = None
    ) -> Lock | None:
        if check is not None:  # read, check, then remove (as the manager did before)
            found = self.get(token, -math.inf if now is None else now)
            check(found)
            if found is None:
                return None
        with self._op():
            return self._remove_token(token)

    def _stored_below(self, path: str) -> list[Lock]:
        (below,) = self._checked(lambda p: p.smembers(self._below(path)))
        return self._load(self._r, sorted(below), watch=False)[0] if below else []

    def remove_tree(self, path: str) -> list[Lock]:
        with self._op():
            candidates = self._stored_below(path)
            return [lock for c in candidates if (lock := self._remove_token(c.token)) is not None]

    def all_locks(self, now: float) -> list[Lock]:
        return self.find_below("/", now)

    def purge_expired(self, now: float) -> int:
        with self._op():
            expired = [lock for lock in self._stored_below("/") if lock.is_expired(now)]
            removed = (self._remove_token(lock.token, expired_at=now) for lock in expired)
            return sum(lock is not None for lock in removed)

    def count_held(self, holder: str, now: float) -> int:
        key = self._held(holder)
        with self._op():
            if holder.startswith(LEGACY_ANONYMOUS_HOLDER + ":"):
                self._rehome_anonymous()
            (members,) = self._checked(lambda p: p.smembers(key))
            held = sorted(members)
            values = self._verified(self._r, *[self._lock(t) for t in held]) if held else []
            locks = [None if v is None else lock_from_json(v) for v in values]
            counted = [
                lock is not None and quota_holder(lock) == holder and not lock.is_expired(now)
                for lock in locks
            ]
            # Tokens are never reused: a lock that is gone, expired or broken never
            # counts again, so its token may leave the set (without a transaction).
            gone = [t for t, live in zip(held, counted, strict=True) if not live]
            if gone:
                self._r.srem(key, *gone)
        return sum(counted)

    def _rehome_anonymous(self) -> None:
        """Move the tokens of the one set all anonymous clients shared before quotas
        were per address into their address's set (once: the set is empty after)."""
        if self._legacy_rehomed:
            return  # one read per process, not one per anonymous LOCK
        legacy = self._held(LEGACY_ANONYMOUS_HOLDER)
        tokens = sorted(self._r.smembers(legacy))
        if not tokens:
            self._legacy_rehomed = True
            return
        values = self._verified(self._r, *[self._lock(t) for t in tokens])
        for token, value in zip(tokens, values, strict=True):
            holder = None if value is None else quota_holder(lock_from_json(value))
            if holder is not None and holder != LEGACY_ANONYMOUS_HOLDER:
                self._r.sadd(self._held(holder), token)
        self._r.srem(legacy, *tokens)


class _Overtaken(Exception):
    """A lock cannot be put back: one its removal let through conflicts with it."""


class _Held:
    """Inside :meth:`RedisLockStore.hold_if`: the intents keep LOCKs out."""

    def __init__(self, store: RedisLockStore) -> None:
        self._store = store

    def remove_tree(self, path: str) -> list[Lock]:
        return self._store.remove_tree(path)


def ping(client: Client) -> None:
    """Fail now (StoreUnavailable) if Redis cannot be reached."""
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        raise StoreUnavailable(f"redis unavailable: {exc}") from exc
