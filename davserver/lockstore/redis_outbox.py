"""The admin outbox (:mod:`davserver.lockstore.outbox`) in Redis, shared by every
server using the store.

Key layout (``P`` is the prefix, as in :mod:`davserver.lockstore.redis`)::

    P admin-outbox   list   encoded events, oldest first

Posting is RPUSH and LTRIM in one MULTI/EXEC; claiming is LRANGE and LTRIM in
one MULTI/EXEC, so concurrent claims (workers, servers) never take the same
record.  Not checked against the store's generation: losing the outbox only
loses reports of actions the audit trail has already recorded.
"""

from __future__ import annotations

from davserver.lockstore.redis_base import RedisBase


class RedisOutbox(RedisBase):
    """:class:`~davserver.lockstore.outbox.AdminOutbox` in a Redis list."""

    @property
    def _key(self) -> str:
        return f"{self._p}admin-outbox"

    def post(self, record: str, limit: int) -> int:
        with self._op(), self._r.pipeline(transaction=True) as pipe:
            pipe.rpush(self._key, record)
            pipe.ltrim(self._key, -limit, -1)
            length, _ = pipe.execute()
        return max(0, int(length) - limit)

    def claim(self, limit: int) -> list[str]:
        with self._op(), self._r.pipeline(transaction=True) as pipe:
            pipe.lrange(self._key, 0, limit - 1)
            pipe.ltrim(self._key, limit, -1)
            records, _ = pipe.execute()
        return [str(record) for record in records]
