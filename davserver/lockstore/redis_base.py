"""The base of the Redis stores: every operation through the :class:`Guard`.

Reads are one pipelined round trip with the generation check; writes are
WATCH / MULTI / EXEC transactions that verify the generation before deciding
and bump the write counter when they commit (then WAIT for the replicas:
:mod:`davserver.lockstore.redis_replication`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis

from davserver.common import turns
from davserver.errors import StoreUnavailable
from davserver.lockstore.redis_connect import DEFAULT_PREFIX, Client, Pipe
from davserver.lockstore.redis_guard import Guard
from davserver.lockstore.redis_replication import NO_WAIT, pipeline

MAX_ATTEMPTS = 50
T = TypeVar("T")


class RedisBase:
    def __init__(
        self, client: Client, prefix: str = DEFAULT_PREFIX, guard: Guard | None = None
    ) -> None:
        self._r = client
        self._p = prefix
        self._g = guard or Guard(client, prefix, f"redis (prefix {prefix})")

    def _op(self) -> Any:
        """The context of one public operation (see Guard.operation)."""
        return self._g.operation(self._probe)

    def _checked(self, *queue: Callable[[Pipe], object]) -> list[Any]:
        """Run the queued reads in one round trip after the generation check."""
        floor = self._g.floor
        with self._r.pipeline(transaction=False) as pipe:
            self._g.queue_check(pipe)
            for add in queue:
                add(pipe)
            (raw, seq), *results = pipe.execute()
        self._g.verify(raw, seq, floor)
        return list(results)

    def _verified(self, pipe: Pipe, *keys: str) -> list[Any]:
        """MGET the generation, the counter and ``keys``, and verify (``pipe``: a
        WATCHing pipeline, or the client: the last round trip of a read)."""
        floor = self._g.floor
        raw, seq, *values = pipe.mget([*self._g.keys, *keys])
        self._g.verify(raw, seq, floor)
        return list(values)

    def _transact(self, attempt: Callable[[Pipe], T]) -> T:
        """Run a WATCH/MULTI/EXEC ``attempt``, retrying (bounded) when a watched key moved.

        Endless retrying would turn contention into a hung request; past the bound
        the client gets 503 and retries later.
        """
        with self._g.translate():
            for n in range(MAX_ATTEMPTS):
                with pipeline(self._r, NO_WAIT) as pipe:
                    try:
                        return attempt(pipe)
                    except redis.exceptions.WatchError:
                        turns.blocking(time.sleep, random.uniform(0, 0.001 * min(n + 1, 20)))
        raise StoreUnavailable(f"redis transaction kept conflicting ({MAX_ATTEMPTS} attempts)")

    def _execute(self, pipe: Pipe, *, durable: bool = True) -> list[Any]:
        """EXEC a MULTI block that bumps the write counter last, then WAIT for the
        replicas unless not ``durable`` (then the write does not raise the floor:
        see Guard.verify).  Index upkeep that commits without this needs no WAIT:
        losing it leaves entries that read as absent."""
        pipe.incr(self._g.seq_key)
        pipe.replication = self._g.replication if durable else NO_WAIT
        results: list[Any] = pipe.execute()
        if durable or not self._g.replication.min_replicas:
            self._g.written(results)
        return results

    def _probe(self) -> None:
        """A real write with the generation check (also a broken store's re-check)."""

        def attempt(pipe: Pipe) -> None:
            pipe.watch(self._g.generation_key)
            self._verified(pipe)
            pipe.multi()
            self._execute(pipe)

        self._transact(attempt)

    def ensure_writable(self) -> None:
        with self._op():
            self._probe()

    def close(self) -> None:
        with self._g.translate():
            self._r.close()
