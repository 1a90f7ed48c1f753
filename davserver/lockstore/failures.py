"""Failed-login counters, kept where the locks are so that every worker and
every server sharing a lock store counts the same failures.

A counter is a set of timestamps per key; a failure at ``t`` counts at ``now``
while ``now - t < window``.  Keys are opaque strings (the login throttle,
:mod:`davserver.dav.logins.throttle`, chooses them).  Failures are rare and written;
counting happens once per login attempt and is a read, so it must stay cheap
(one query or one round trip for all keys of an attempt).

Implementations: :class:`MemoryFailureCounter` here (``memory://``, and the
per-process fallback of the throttle while a shared store is unavailable),
:mod:`davserver.lockstore.sqlite_failures`, :mod:`davserver.lockstore.redis_failures`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

# Timestamps kept per key (newest win): a count never exceeds it, so every limit
# the throttle applies must stay below (the config schema bounds them).
MAX_PER_KEY = 1000
# Keys a memory counter remembers at most (least recently failed dropped first).
MAX_KEYS = 10_000


class FailureCounter(Protocol):
    """Failures per key within a sliding window; shared as widely as the store."""

    def add(self, keys: Sequence[str], now: float, window: float) -> None:
        """Record one failure at ``now`` under each key (atomically per key);
        failures older than ``window`` may be dropped."""
        ...

    def counts(self, keys: Sequence[str], now: float, window: float) -> list[int]:
        """How many failures each key has within ``window`` before ``now``
        (capped at :data:`MAX_PER_KEY`), in the order of ``keys``."""
        ...

    def times(self, key: str, now: float, window: float) -> list[float]:
        """The timestamps of those failures, oldest first (for Retry-After)."""
        ...

    def clear(self, keys: Sequence[str]) -> None:
        """Forget every failure of these keys."""
        ...


class MemoryFailureCounter:
    """Counters of one process, bounded in keys and in timestamps per key."""

    def __init__(self) -> None:
        self._times: OrderedDict[str, list[float]] = OrderedDict()
        self._mutex = threading.Lock()

    def _recent(self, key: str, now: float, window: float) -> list[float]:
        return [t for t in self._times.get(key, ()) if now - t < window]

    def add(self, keys: Sequence[str], now: float, window: float) -> None:
        with self._mutex:
            for key in keys:
                times = self._recent(key, now, window)
                times.append(now)
                self._times[key] = times[-MAX_PER_KEY:]
                self._times.move_to_end(key)
            while len(self._times) > MAX_KEYS:
                self._times.popitem(last=False)

    def counts(self, keys: Sequence[str], now: float, window: float) -> list[int]:
        with self._mutex:
            return [len(self._recent(key, now, window)) for key in keys]

    def times(self, key: str, now: float, window: float) -> list[float]:
        with self._mutex:
            return sorted(self._recent(key, now, window))

    def clear(self, keys: Sequence[str]) -> None:
        with self._mutex:
            for key in keys:
                self._times.pop(key, None)
