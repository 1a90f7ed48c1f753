"""The lock keys of :mod:`davserver.lockstore.redis` and the index sets beside
them (``root:``, ``below:``, ``held:``; see the key layout there): reading the
locks relevant to a path, cleaning index entries whose lock expired, and queueing
a lock's keys and index entries into a transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from davserver.locking.model import Lock
from davserver.lockstore.base import quota_holder
from davserver.lockstore.codec import lock_from_json, lock_to_json
from davserver.lockstore.paths import self_and_ancestors
from davserver.lockstore.redis_base import RedisBase
from davserver.lockstore.redis_connect import Pipe

# Redis only collects garbage by TTL: expiry is decided by ``now``, and servers'
# clocks may differ by this much.
TTL_GRACE_S = 60.0


class LockIndex(RedisBase):
    """Lock keys and their index sets; the base of the Redis lock store."""

    def _lock(self, token: str) -> str:
        return f"{self._p}lock:{token}"

    def _root(self, path: str) -> str:
        return f"{self._p}root:{path}"

    def _below(self, path: str) -> str:
        return f"{self._p}below:{path}"

    def _held(self, holder: str) -> str:
        return f"{self._p}held:{holder}"

    # -- reading ------------------------------------------------------------

    def _roots(self, r: Any, path: str, include_descendants: bool) -> list[str]:
        """Roots relevant to ``path``; ``r`` is the client or a watching pipeline."""
        roots = list(self_and_ancestors(path))
        if include_descendants:
            roots += [x for x in r.smembers(self._below(path)) if x != path]
        return roots

    def _load(self, r: Any, roots: Sequence[str], watch: bool) -> tuple[list[Lock], list[str]]:
        """All stored locks rooted at ``roots`` (expired included) and the stale tokens;
        ``r`` is a watching pipeline (``watch``) or the client.  The generation is
        checked in the last round trip, whatever it finds."""
        if watch:
            tokens = sorted(r.sunion([self._root(x) for x in roots])) if roots else []
            keys = [self._lock(t) for t in tokens]
            if keys:
                r.watch(*keys)
            values = self._verified(r, *keys)
        else:
            root_keys = [self._root(x) for x in roots]
            found = self._checked(*([lambda p: p.sunion(root_keys)] if root_keys else []))
            tokens = sorted(found[0]) if found else []
            keys = [self._lock(t) for t in tokens]
            values = self._verified(r, *keys) if keys else []
        locks = [lock_from_json(v) for v in values if v is not None]
        stale = [t for t, v in zip(tokens, values, strict=True) if v is None]
        return locks, stale

    def _read(self, roots: Sequence[str], now: float) -> list[Lock]:
        """Active locks at ``roots`` outside a transaction, cleaning stale entries."""
        locks, stale = self._load(self._r, roots, watch=False)
        if stale:
            self._clean(roots, stale)
        return [lock for lock in locks if not lock.is_expired(now)]

    def _clean(self, roots: Sequence[str], stale: Sequence[str]) -> None:
        """Drop tokens whose lock key expired; tokens are never reused, so this is safe."""
        with self._r.pipeline(transaction=True) as pipe:
            for root in roots:
                pipe.srem(self._root(root), *stale)
            pipe.execute()
        for root in roots:
            self._prune(root)

    def _prune(self, root: str) -> None:
        """Remove ``root`` from the ``below:`` sets once no lock is rooted there."""

        def attempt(pipe: Pipe) -> None:
            pipe.watch(self._root(root))
            if pipe.scard(self._root(root)):
                return
            pipe.multi()
            for ancestor in self_and_ancestors(root):
                pipe.srem(self._below(ancestor), root)
            pipe.execute()

        self._transact(attempt)

    # -- writing ------------------------------------------------------------

    def _queue_set(self, pipe: Pipe, lock: Lock) -> None:
        key = self._lock(lock.token)
        pipe.set(key, lock_to_json(lock))
        if lock.expires_at is not None:
            pipe.pexpireat(key, int((lock.expires_at + TTL_GRACE_S) * 1000))

    def _queue_add(self, pipe: Pipe, lock: Lock) -> None:
        self._queue_set(pipe, lock)
        pipe.sadd(self._root(lock.root), lock.token)
        for ancestor in self_and_ancestors(lock.root):
            pipe.sadd(self._below(ancestor), lock.root)
        self._queue_hold(pipe, lock.token, None, lock)

    def _queue_hold(self, pipe: Pipe, token: str, old: Lock | None, new: Lock | None) -> None:
        """Move ``token`` between ``held:`` sets as ``old`` becomes ``new`` (None:
        absent).  Re-adding on every write heals a token a count pruned early (a
        server whose clock is behind refreshed it)."""
        before = None if old is None else quota_holder(old)
        after = None if new is None else quota_holder(new)
        if before is not None and before != after:
            pipe.srem(self._held(before), token)
        if after is not None:
            pipe.sadd(self._held(after), token)
