"""Redis stores: locks shared by every process of every server using one Redis.

Key layout (``P`` is the prefix, default ``davserver:``)::

    P lock:<token>     string   the lock as codec JSON; PEXPIREAT expiry + grace
    P root:<path>      set      tokens of the locks rooted at <path>
    P below:<path>     set      every lock root at or below <path> (itself included)
    P props:<path>     hash     dead properties of <path>: Clark name -> XML
    P proppaths        zset     every path with properties (score 0, ZRANGEBYLEX)

Why this shape: ancestors are known from the path itself, so their ``root:``
sets are read directly; descendants come from one ``below:`` set, so no query
ever needs KEYS or SCAN.  ``insert_if`` WATCHes exactly the keys its answer
depends on (ancestor ``root:`` sets, the ``below:`` set and the ``root:`` sets it
lists, the lock keys read) and commits with MULTI/EXEC, so two processes racing
for the same resource cannot both win.  Redis is a cache of truth for expiry:
``now`` decides, and the key TTL (with a grace for clock skew between servers)
only collects garbage.  Index entries whose lock key has expired are treated as
absent and removed lazily.  ``now`` must therefore be Unix time (``time.time``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from davserver.errors import StoreError, StoreUnavailable
from davserver.locking.model import Lock
from davserver.lockstore.base import Decide
from davserver.lockstore.codec import lock_from_json, lock_to_json
from davserver.lockstore.paths import (
    check_inserted_root,
    check_same_root,
    rebase,
    self_and_ancestors,
    subtree_bounds,
)

DEFAULT_PREFIX = "davserver:"
SOCKET_TIMEOUT_S = 5.0
TTL_GRACE_S = 60.0
MAX_ATTEMPTS = 50

T = TypeVar("T")
# redis-py's annotations are partial (untyped ``watch``) and cannot know that
# ``decode_responses=True`` makes every reply a str, so the client and its
# pipelines are ``Any`` at this boundary; the codec validates what comes back.
Client = Any
_Pipe = Any


def connect(url: str) -> tuple[Client, str]:
    """A client for ``url`` (without connecting) and the key prefix from ``?prefix=``.

    redis-py's default retry policy backs off for seconds; a request thread should
    instead fail fast with 503 when Redis is down, so retries are short and few.
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    prefix = next((v for k, v in query if k == "prefix"), DEFAULT_PREFIX)
    rest = urlencode([(k, v) for k, v in query if k != "prefix"])
    client = redis.Redis.from_url(
        urlunsplit(parts._replace(query=rest)),
        decode_responses=True,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=SOCKET_TIMEOUT_S,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.2), retries=1),
    )
    return client, prefix


@contextmanager
def _translate_errors() -> Iterator[None]:
    """Unreachable Redis -> 503 + Retry-After upstream; other failures are store errors."""
    try:
        yield
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        raise StoreUnavailable(f"redis unavailable: {exc}") from exc
    except redis.exceptions.RedisError as exc:
        raise StoreError(f"redis error: {exc}") from exc


class _RedisBase:
    def __init__(self, client: Client, prefix: str = DEFAULT_PREFIX) -> None:
        self._r = client
        self._p = prefix

    def _transact(self, attempt: Callable[[_Pipe], T]) -> T:
        """Run a WATCH/MULTI/EXEC ``attempt``, retrying (bounded) when a watched key moved.

        Endless retrying would turn contention into a hung request; past the bound
        the client gets 503 and retries later.
        """
        with _translate_errors():
            for n in range(MAX_ATTEMPTS):
                with self._r.pipeline() as pipe:
                    try:
                        return attempt(pipe)
                    except redis.exceptions.WatchError:
                        time.sleep(random.uniform(0, 0.001 * min(n + 1, 20)))
        raise StoreUnavailable(f"redis transaction kept conflicting ({MAX_ATTEMPTS} attempts)")

    def close(self) -> None:
        with _translate_errors():
            self._r.close()


class RedisLockStore(_RedisBase):
    """Locks in Redis; see the module docstring for the key layout."""

    def _lock(self, token: str) -> str:
        return f"{self._p}lock:{token}"

    def _root(self, path: str) -> str:
        return f"{self._p}root:{path}"

    def _below(self, path: str) -> str:
        return f"{self._p}below:{path}"

    # -- reading ------------------------------------------------------------

    def _roots(self, r: Any, path: str, include_descendants: bool) -> list[str]:
        """Roots relevant to ``path``; ``r`` is the client or a watching pipeline."""
        roots = list(self_and_ancestors(path))
        if include_descendants:
            roots += [x for x in r.smembers(self._below(path)) if x != path]
        return roots

    def _load(self, r: Any, roots: Sequence[str], watch: bool) -> tuple[list[Lock], list[str]]:
        """All stored locks rooted at ``roots`` (expired included) and the stale tokens."""
        if not roots:
            return [], []
        tokens = sorted(r.sunion([self._root(x) for x in roots]))
        if not tokens:
            return [], []
        keys = [self._lock(t) for t in tokens]
        if watch:
            r.watch(*keys)
        values = r.mget(keys)
        locks = [lock_from_json(v) for v in values if v is not None]
        stale = [t for t, v in zip(tokens, values, strict=True) if v is None]
        return locks, stale

    def _read(self, roots: Sequence[str], now: float) -> list[Lock]:
        """Active locks at ``roots`` outside a transaction, cleaning stale entries."""
        with _translate_errors():
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

        def attempt(pipe: _Pipe) -> None:
            pipe.watch(self._root(root))
            if pipe.scard(self._root(root)):
                return
            pipe.multi()
            for ancestor in self_and_ancestors(root):
                pipe.srem(self._below(ancestor), root)
            pipe.execute()

        self._transact(attempt)

    # -- writing ------------------------------------------------------------

    def _queue_set(self, pipe: _Pipe, lock: Lock) -> None:
        key = self._lock(lock.token)
        pipe.set(key, lock_to_json(lock))
        if lock.expires_at is not None:
            pipe.pexpireat(key, int((lock.expires_at + TTL_GRACE_S) * 1000))

    def _queue_add(self, pipe: _Pipe, lock: Lock) -> None:
        self._queue_set(pipe, lock)
        pipe.sadd(self._root(lock.root), lock.token)
        for ancestor in self_and_ancestors(lock.root):
            pipe.sadd(self._below(ancestor), lock.root)

    def _remove_token(self, token: str, expired_at: float | None = None) -> Lock | None:
        """Delete one lock atomically; with ``expired_at``, only if expired by then."""

        def attempt(pipe: _Pipe) -> Lock | None:
            pipe.watch(self._lock(token))
            value = pipe.get(self._lock(token))
            lock = None if value is None else lock_from_json(value)
            if lock is None or (expired_at is not None and not lock.is_expired(expired_at)):
                return None
            pipe.multi()
            pipe.delete(self._lock(token))
            pipe.srem(self._root(lock.root), token)
            pipe.execute()
            return lock

        lock = self._transact(attempt)
        if lock is not None:
            self._prune(lock.root)
        return lock

    # -- LockStore ------------------------------------------------------------

    def insert_if(self, path: str, include_descendants: bool, now: float, decide: Decide) -> Lock:
        def attempt(pipe: _Pipe) -> tuple[Lock, list[str]]:
            pipe.watch(*[self._root(x) for x in self_and_ancestors(path)])
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
            pipe.execute()
            return lock, roots if stale else []

        lock, emptied = self._transact(attempt)
        for root in emptied:
            self._prune(root)
        return lock

    def find(self, path: str, include_descendants: bool, now: float) -> list[Lock]:
        with _translate_errors():
            roots = self._roots(self._r, path, include_descendants)
        return self._read(roots, now)

    def find_below(self, path: str, now: float) -> list[Lock]:
        with _translate_errors():
            roots = sorted(self._r.smembers(self._below(path)))
        return self._read(roots, now)

    def get(self, token: str, now: float) -> Lock | None:
        with _translate_errors():
            value = self._r.get(self._lock(token))
        lock = None if value is None else lock_from_json(value)
        return None if lock is None or lock.is_expired(now) else lock

    def replace(self, lock: Lock, now: float) -> bool:
        def attempt(pipe: _Pipe) -> bool:
            pipe.watch(self._lock(lock.token))
            value = pipe.get(self._lock(lock.token))
            old = None if value is None else lock_from_json(value)
            if old is None or old.is_expired(now):
                return False
            check_same_root(old, lock)
            pipe.multi()
            self._queue_set(pipe, lock)
            pipe.execute()
            return True

        return self._transact(attempt)

    def remove(self, token: str) -> Lock | None:
        return self._remove_token(token)

    def _stored_below(self, path: str) -> list[Lock]:
        with _translate_errors():
            roots = sorted(self._r.smembers(self._below(path)))
            return self._load(self._r, roots, watch=False)[0]

    def remove_tree(self, path: str) -> list[Lock]:
        candidates = self._stored_below(path)
        return [lock for c in candidates if (lock := self._remove_token(c.token)) is not None]

    def all_locks(self, now: float) -> list[Lock]:
        return self.find_below("/", now)

    def purge_expired(self, now: float) -> int:
        expired = [lock for lock in self._stored_below("/") if lock.is_expired(now)]
        return sum(self._remove_token(lock.token, expired_at=now) is not None for lock in expired)


class RedisPropertyStore(_RedisBase):
    """Dead properties in one hash per path plus a lexicographic index of paths."""

    def _props(self, path: str) -> str:
        return f"{self._p}props:{path}"

    @property
    def _paths(self) -> str:
        return f"{self._p}proppaths"

    def _tree(self, r: Any, path: str) -> list[str]:
        lo, hi = subtree_bounds(path)
        return [path, *r.zrangebylex(self._paths, "(" + lo, "(" + hi)]

    def get_all(self, path: str) -> dict[str, str]:
        with _translate_errors():
            return dict(self._r.hgetall(self._props(path)))

    def get(self, path: str, name: str) -> str | None:
        with _translate_errors():
            value = self._r.hget(self._props(path), name)
        return None if value is None else str(value)

    def set(self, path: str, name: str, value: str) -> None:
        with _translate_errors(), self._r.pipeline(transaction=True) as pipe:
            pipe.hset(self._props(path), name, value)
            pipe.zadd(self._paths, {path: 0})
            pipe.execute()

    def remove(self, path: str, name: str) -> None:
        # The path stays in the index: a stale entry is harmless (an empty hash
        # reads as no properties) and removing it here would race with set().
        with _translate_errors():
            self._r.hdel(self._props(path), name)

    def _rewrite(self, src: str, dest: str | None, keep_src: bool) -> None:
        """Delete the tree at ``src`` (unless ``keep_src``) and ``dest``, then write
        ``src``'s properties under ``dest``, all in one watched transaction."""

        def attempt(pipe: _Pipe) -> None:
            pipe.watch(self._paths)
            sources = self._tree(pipe, src)
            pipe.watch(*[self._props(p) for p in sources])
            values = [pipe.hgetall(self._props(p)) for p in sources]
            doomed = ([] if keep_src else sources) + (self._tree(pipe, dest) if dest else [])
            pipe.multi()
            self._queue_forget(pipe, doomed)
            for path, props in zip(sources, values, strict=True):
                if dest is not None and props:
                    pipe.hset(self._props(rebase(path, src, dest)), mapping=props)
                    pipe.zadd(self._paths, {rebase(path, src, dest): 0})
            pipe.execute()

        self._transact(attempt)

    def _queue_forget(self, pipe: _Pipe, paths: Iterable[str]) -> None:
        paths = list(paths)
        if paths:
            pipe.delete(*[self._props(p) for p in paths])
            pipe.zrem(self._paths, *paths)

    def remove_tree(self, path: str) -> None:
        self._rewrite(path, None, keep_src=False)

    def copy_tree(self, src: str, dest: str) -> None:
        self._rewrite(src, dest, keep_src=True)

    def move_tree(self, src: str, dest: str) -> None:
        self._rewrite(src, dest, keep_src=False)


def ping(client: Client) -> None:
    """Fail now (as a store error) if Redis cannot be reached."""
    with _translate_errors():
        client.ping()
