"""Opening the usage store beside a lock store.

Apart from :mod:`davserver.lockstore.usage` (the protocol and base types) because it
names the backends, which themselves build on those base types.
"""

from __future__ import annotations

from typing import Any

from davserver.lockstore.usage import MemoryUsageStore, UsageStore


def open_usage(locks: object) -> UsageStore:
    """The usage store beside the lock store ``locks`` (same backend, same sharing)."""
    from davserver.lockstore.sqlite import SqliteLockStore

    if isinstance(locks, SqliteLockStore):
        from davserver.lockstore.usage_sqlite import SqliteUsageStore, usage_path

        return SqliteUsageStore(usage_path(locks.database_path))
    if type(locks).__name__ == "RedisLockStore":  # imported lazily: redis is optional
        from davserver.lockstore.usage_redis import RedisBackend, RedisUsageStore

        base: Any = locks
        return RedisUsageStore(RedisBackend(base._r, base._p, base._g))
    return MemoryUsageStore()
