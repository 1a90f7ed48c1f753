"""Failed-login counters in Redis, shared by every server using the store.

Key layout (``P`` is the prefix, as in :mod:`davserver.lockstore.redis`)::

    P fail:<key>   zset   one member per failure, scored by its Unix time

Recording a failure is one MULTI/EXEC per call (ZADD, drop members older than
the window, keep the newest :data:`~davserver.lockstore.failures.MAX_PER_KEY`,
EXPIRE after the window), so concurrent failures from any server are all
counted.  Counting is one pipelined round trip of ZCOUNTs.  The counters are
not checked against the store's generation: losing them only forgets failures.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence

from davserver.lockstore.failures import MAX_PER_KEY
from davserver.lockstore.redis_base import RedisBase


class RedisFailureCounter(RedisBase):
    """:class:`~davserver.lockstore.failures.FailureCounter` in sorted sets."""

    def _key(self, key: str) -> str:
        return f"{self._p}fail:{key}"

    def add(self, keys: Sequence[str], now: float, window: float) -> None:
        member = f"{now!r}:{secrets.token_hex(6)}"  # distinct per failure
        with self._op(), self._r.pipeline(transaction=True) as pipe:
            for key in map(self._key, keys):
                pipe.zadd(key, {member: now})
                pipe.zremrangebyscore(key, "-inf", now - window)
                pipe.zremrangebyrank(key, 0, -(MAX_PER_KEY + 1))
                pipe.expire(key, math.ceil(window) + 1)
            pipe.execute()

    def counts(self, keys: Sequence[str], now: float, window: float) -> list[int]:
        with self._op(), self._r.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zcount(self._key(key), f"({now - window!r}", "+inf")
            return [int(n) for n in pipe.execute()]

    def times(self, key: str, now: float, window: float) -> list[float]:
        with self._op():
            found = self._r.zrangebyscore(
                self._key(key), f"({now - window!r}", "+inf", withscores=True
            )
        return sorted(float(score) for _, score in found)

    def clear(self, keys: Sequence[str]) -> None:
        with self._op():
            self._r.delete(*map(self._key, keys))
