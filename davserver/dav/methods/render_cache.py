"""A cache of rendered XML text, bounded in entries and in bytes.

PROPFIND keeps what it rendered between requests (see
:mod:`davserver.dav.methods.propfind_props`).  A count alone does not bound the
memory: an entry of a 4,000-byte path with long names costs forty times one of
a short name (measured: 1 KiB for a short name and three properties, 10 KiB
for 255-byte names three folders deep and every live property), so 20,000 of
them would be 200 MiB a worker.  Each entry is charged what it holds — the
value, the strings of its key, and a fixed overhead for the key tuple, its
numbers and the dict slot — and the cache is emptied whole when either bound
would be passed: cheap, and a full cache means the listings are too varied for
it to help anyway.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Hashable, Mapping
from typing import Generic, TypeVar

ENTRY_OVERHEAD = 600  # bytes: a key tuple of seven fields with their ints, a dict slot

V = TypeVar("V")


class RenderCache(Generic[V]):
    """Rendered text (or a value holding it) by (kind, key); a kind groups keys
    that share most fields."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._kinds: dict[Hashable, dict[Hashable, V]] = {}
        self._lock = threading.Lock()  # misses only: hits read without it
        self.entries = 0
        self.bytes = 0

    def get(self, kind: Hashable, key: Hashable) -> V | None:
        found = self._kinds.get(kind)
        return None if found is None else found.get(key)

    def of_kind(self, kind: Hashable) -> Mapping[Hashable, V]:
        """The entries of ``kind`` for lookups of one request (one dict lookup each).
        Once the cache is emptied it is no longer updated, but what it holds stays
        right: a key is everything its value is made of."""
        return self._kinds.get(kind) or {}

    def put(self, kind: Hashable, key: Hashable, value: V, *held: str) -> None:
        """Keep ``value``; ``held``: the strings of ``key`` and inside ``value``
        (charged with it).  A key kept again is charged again: the bounds hold,
        with a little less in the cache."""
        cost = ENTRY_OVERHEAD + sys.getsizeof(value) + sum(map(sys.getsizeof, held))
        if cost > self.max_bytes:
            return
        with self._lock:
            if self.entries >= self.max_entries or self.bytes + cost > self.max_bytes:
                self._kinds.clear()
                self.entries = self.bytes = 0
            self._kinds.setdefault(kind, {})[key] = value
            self.entries += 1
            self.bytes += cost

    def clear(self) -> None:
        with self._lock:
            self._kinds.clear()
            self.entries = self.bytes = 0

    def __len__(self) -> int:
        return sum(map(len, self._kinds.values()))
