"""Usage for quotas in Redis (:mod:`davserver.lockstore.usage`), shared by every
server of the store.

Key layout (``P`` is the prefix, as in :mod:`davserver.lockstore.redis`)::

    P usage:files     hash   path -> JSON [owner, size]
    P usage:paths     zset   every path of usage:files, score 0 (lexicographic index)
    P usage:totals    hash   owner -> bytes
    P usage:journal   hash   ticket -> JSON journal entry

Every change is one Lua script (:mod:`davserver.lockstore.usage_redis_script`):
the quota check of every server is serialised by Redis itself, and many writes
at once never conflict.  The script is sent by SHA (redis-py loads it when
Redis does not know it) in a MULTI/EXEC block that WAITs for the replicas like
every other write of the stores (:mod:`davserver.lockstore.redis_replication`).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from davserver.errors import QuotaExceeded, StoreUnavailable
from davserver.lockstore.paths import subtree_bounds
from davserver.lockstore.redis_base import RedisBase
from davserver.lockstore.redis_connect import Client
from davserver.lockstore.redis_guard import Guard
from davserver.lockstore.redis_replication import pipeline
from davserver.lockstore.usage import Install, Pending, Reader, Row, pending_of
from davserver.lockstore.usage_redis_script import SCRIPT

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


# A script finds the generation record changed (or the counter behind) only when
# Redis lost data or an administrator confirmed a new record: after the guard
# has judged what it found, one more run settles it.
STALE_RUNS = 3


def _spec(install: Install) -> str:
    """``install`` for the script, with the bounds of every subtree it reads."""
    drop = [[top, *subtree_bounds(top)] for top in install.drop]
    move: list[str] = []
    if install.move is not None:
        src, dest = install.move
        move = [src, *subtree_bounds(src), dest]
    limit = -1 if install.limit is None else install.limit
    add = [[path, size] for path, size in install.add]
    return json.dumps(
        {"owner": install.owner, "limit": limit, "drop": drop, "add": add, "move": move}
    )


def _wrote(results: list[Any]) -> bool:
    return bool(results) and isinstance(results[-1], list) and results[-1][:1] == ["ok"]


class RedisBackend(RedisBase):
    def __init__(self, client: Client, prefix: str, guard: Guard) -> None:
        super().__init__(client, prefix, guard)
        self._script = client.register_script(SCRIPT)

    @property
    def keys(self) -> _Keys:
        return _Keys(self._p)

    def run(self, op: str, *args: str) -> list[Any]:
        """One usage change by the script (replies: see its module), WAITed for."""
        keys = [*self._g.keys, *self.keys.all()]
        with self._op():
            expected, floor = self._g.expected, self._g.floor
            for _ in range(STALE_RUNS):
                present = "0" if expected is None else "1"
                with pipeline(self._r, self._g.replication, _wrote) as pipe:
                    self._script(keys, [present, expected or "", floor, op, *args], client=pipe)
                    (reply,) = pipe.execute()
                if reply[0] == "ok":
                    self._g.written(reply)
                if reply[0] != "stale":
                    return list(reply)
                expected, seq = (reply[1] if reply[2] == "1" else None), reply[3] or None
                self._g.verify(expected, seq, floor)  # raises unless the guard adopts it
                floor = self._g.floor
        raise StoreUnavailable("the usage store's generation kept changing", retry_after=1)

    def read(self, body: Callable[[Reader], T]) -> T:
        with self._op():
            self._verified(self._r)
            return body(_RedisReader(self.keys, self._r))

    def hash(self, key: str) -> dict[str, str]:
        with self._op():
            return {str(k): str(v) for k, v in self._r.hgetall(key).items()}


class RedisUsageStore:
    """:class:`~davserver.lockstore.usage.UsageStore` whose changes are scripts."""

    def __init__(self, backend: RedisBackend) -> None:
        self._redis = backend

    def used(self, owner: str) -> int:
        return self._redis.read(lambda read: read.used(owner))

    def row(self, path: str) -> Row | None:
        return self._redis.read(lambda read: read.rows([path]).get(path))

    def apply(self, install: Install, tag: str) -> str:
        ticket = secrets.token_hex(8)
        head = json.dumps({"tag": tag, "at": time.time(), "check": list(install.check)})
        reply = self._redis.run("apply", ticket, _spec(install), head[:-1])
        if reply[0] == "quota":
            assert install.limit is not None
            used, needed = int(reply[1]), int(reply[2])
            raise QuotaExceeded(install.owner, install.limit, used, needed, install.what)
        return ticket

    def settle(self, ticket: str) -> None:
        self._redis.run("settle", ticket)

    def revert(self, ticket: str) -> None:
        self._redis.run("revert", ticket)

    def correct(self, path: str, seen: Row, size: int | None) -> None:
        after = "" if size is None else str(size)
        self._redis.run("correct", path, seen.owner, str(seen.size), after)

    def pending(self) -> list[Pending]:
        entries = self._redis.hash(self._redis.keys.journal)
        return [pending_of(t, raw) for t, raw in entries.items()]

    def all_rows(self) -> dict[str, Row]:
        return {p: _row(raw) for p, raw in self._redis.hash(self._redis.keys.files).items()}

    def close(self) -> None:
        pass  # the client belongs to the lock store
