"""RFC 4331 quota properties for collections, at a bounded cost.

* ``quota-available-bytes``: ``statvfs`` of the collection's file system,
  ``f_bavail * f_frsize`` — what an unprivileged writer can still store.
* ``quota-used-bytes``: the sum of the sizes of the regular files below the
  collection (not following symlinks, skipping the state directory and
  temporary uploads) — the number a client can relate to what it uploaded.

A full walk of a large share on every PROPFIND would be too slow, so a walk
stops after :data:`WALK_BUDGET` entries and then reports the file system's used
bytes from ``statvfs`` instead (an upper bound); results are cached for
:data:`CACHE_SECONDS` per collection.  Finder asks for both on every mount.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from davserver.dav.uploads import is_temp_name

USED = "{DAV:}quota-used-bytes"
AVAILABLE = "{DAV:}quota-available-bytes"
NAMES = (AVAILABLE, USED)
WALK_BUDGET = 20_000
CACHE_SECONDS = 10.0
CACHE_ENTRIES = 256


def available_bytes(path: str) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def filesystem_used_bytes(path: str) -> int:
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def walk_used_bytes(path: str, skip: Callable[[str], bool], budget: int) -> int | None:
    """Sum of regular file sizes below ``path``; None once ``budget`` entries were seen."""
    total = 0
    seen = 0
    pending = [path]
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except OSError:
            continue  # vanished or unreadable: it holds nothing we can serve
        for entry in entries:
            seen += 1
            if seen > budget:
                return None
            if is_temp_name(entry.name) or skip(entry.path):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total


class UsedBytesCache:
    """Per-process cache of ``quota-used-bytes`` by directory, with a time limit."""

    def __init__(self, skip: Callable[[str], bool], *, budget: int = WALK_BUDGET):
        self._skip = skip
        self._budget = budget
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def used_bytes(self, path: str) -> int:
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(path)
            if hit and now - hit[0] < CACHE_SECONDS:
                return hit[1]
        used = walk_used_bytes(path, self._skip, self._budget)
        if used is None:
            used = filesystem_used_bytes(path)
        with self._lock:
            self._entries[path] = (now, used)
            self._entries.move_to_end(path)
            while len(self._entries) > CACHE_ENTRIES:
                self._entries.popitem(last=False)
        return used
