"""Usage for quotas in Redis (:mod:`davserver.lockstore.usage`), shared by every
server of the store.

Key layout (``P`` is the prefix, as in :mod:`davserver.lockstore.redis`)::

    P usage:files     hash   path -> JSON [owner, size]
    P usage:paths     zset   every path of usage:files, score 0 (lexicographic index)
    P usage:totals    hash   owner -> bytes
    P usage:journal   hash   ticket -> JSON journal entry

A transaction WATCHes all four keys (and the generation) and retries when any
moved: the quota check of every server is serialised by that, at the price of
retries when many writes land at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from davserver.lockstore.paths import subtree_bounds
from davserver.lockstore.redis_guard import Pipe, RedisBase
from davserver.lockstore.usage import (
    Pending,
    Reader,
    Row,
    TransactionalUsage,
    Writes,
    pending_of,
)

T = TypeVar("T")


def _row(raw: Any) -> Row:
    owner, size = json.loads(raw)
    return Row(str(owner), int(size))


class _RedisReader:
    def __init__(self, keys: _Keys, pipe: Any) -> None:
        self._k, self._p = keys, pipe

    def tree(self, path: str) -> dict[str, Row]:
        lo, hi = subtree_bounds(path)
        paths = [path, *self._p.zrangebylex(self._k.paths, "(" + lo, "(" + hi)]
        return self.rows(paths)

    def rows(self, paths: Iterable[str]) -> dict[str, Row]:
        paths = list(paths)
        if not paths:
            return {}
        values = self._p.hmget(self._k.files, paths)
        return {p: _row(v) for p, v in zip(paths, values, strict=True) if v is not None}

    def used(self, owner: str) -> int:
        value = self._p.hget(self._k.totals, owner)
        return int(value) if value is not None else 0

    def journal(self, ticket: str) -> str | None:
        value = self._p.hget(self._k.journal, ticket)
        return None if value is None else str(value)


class _Keys:
    def __init__(self, prefix: str) -> None:
        self.files = f"{prefix}usage:files"
        self.paths = f"{prefix}usage:paths"
        self.totals = f"{prefix}usage:totals"
        self.journal = f"{prefix}usage:journal"

    def all(self) -> tuple[str, ...]:
        return (self.files, self.paths, self.totals, self.journal)


def _queue(pipe: Pipe, keys: _Keys, writes: Writes) -> None:
    if writes.delete:
        pipe.hdel(keys.files, *writes.delete)
        pipe.zrem(keys.paths, *writes.delete)
    if writes.put:
        rows = {p: json.dumps([r.owner, r.size]) for p, r in writes.put.items()}
        pipe.hset(keys.files, mapping=rows)
        pipe.zadd(keys.paths, dict.fromkeys(rows, 0))
    for owner, delta in writes.deltas.items():
        if delta:
            pipe.hincrby(keys.totals, owner, delta)
    if writes.journal_set:
        pipe.hset(keys.journal, mapping=writes.journal_set)
    if writes.journal_del:
        pipe.hdel(keys.journal, *writes.journal_del)


class RedisBackend(RedisBase):
    @property
    def keys(self) -> _Keys:
        return _Keys(self._p)

    def transact(self, body: Callable[[Reader], tuple[Writes, T]]) -> T:
        keys = self.keys

        def attempt(pipe: Pipe) -> T:
            pipe.watch(self._g.generation_key, *keys.all())
            self._verified(pipe)
            writes, result = body(_RedisReader(keys, pipe))
            pipe.multi()
            _queue(pipe, keys, writes)
            self._execute(pipe)
            return result

        with self._op():
            return self._transact(attempt)

    def read(self, body: Callable[[Reader], T]) -> T:
        with self._op():
            self._verified(self._r)
            return body(_RedisReader(self.keys, self._r))

    def hash(self, key: str) -> dict[str, str]:
        with self._op():
            return {str(k): str(v) for k, v in self._r.hgetall(key).items()}


class RedisUsageStore(TransactionalUsage):
    def __init__(self, backend: RedisBackend) -> None:
        self._redis = backend
        super().__init__(backend)

    def pending(self) -> list[Pending]:
        entries = self._redis.hash(self._redis.keys.journal)
        return [pending_of(t, raw) for t, raw in entries.items()]

    def all_rows(self) -> dict[str, Row]:
        return {p: _row(raw) for p, raw in self._redis.hash(self._redis.keys.files).items()}

    def close(self) -> None:
        pass  # the client belongs to the lock store
