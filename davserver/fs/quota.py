"""RFC 4331 quota properties for collections, at a bounded cost.

* ``quota-available-bytes``: ``fstatvfs`` of the collection's file system,
  ``f_bavail * f_frsize`` — what an unprivileged writer can still store.
* ``quota-used-bytes``: the sum of the sizes of the regular files below the
  collection (not following symlinks, skipping the state directory and
  temporary uploads) — the number a client can relate to what it uploaded.

A full walk of a large share on every PROPFIND would be too slow, so a walk
stops after :data:`WALK_BUDGET` entries and then reports the file system's used
bytes instead (an upper bound); results are cached for :data:`CACHE_SECONDS`
per collection.  Finder asks for both on every mount.  Walks go by open
directories (:class:`~davserver.fs.containment.DirStack`), like every walk.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from davserver.fs.containment import DirStack
from davserver.fs.uploads import is_temp_name

USED = "{DAV:}quota-used-bytes"
AVAILABLE = "{DAV:}quota-available-bytes"
NAMES = (AVAILABLE, USED)
WALK_BUDGET = 20_000
CACHE_SECONDS = 10.0
CACHE_ENTRIES = 256


def available_bytes(fd: int) -> int:
    st = os.fstatvfs(fd)
    return st.f_bavail * st.f_frsize


def filesystem_used_bytes(fd: int) -> int:
    st = os.fstatvfs(fd)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def _sizes(fd: int, skip: Callable[[os.DirEntry[str]], bool]) -> tuple[int, list[str], int]:
    """Bytes of the files in one directory, its directories, and how many entries."""
    total = 0
    folders = []
    with os.scandir(fd) as scan:
        entries = list(scan)
    for entry in entries:
        if is_temp_name(entry.name):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                if not skip(entry):
                    folders.append(entry.name)
            elif entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
        except OSError:
            continue  # vanished meanwhile: it holds nothing we can serve
    return total, folders, len(entries)


def walk_used_bytes(
    top_fd: int, skip: Callable[[os.DirEntry[str]], bool], budget: int
) -> int | None:
    """Sum of regular file sizes below the open directory ``top_fd``; None once
    ``budget`` entries were seen."""
    total = seen = 0
    with DirStack(top_fd, owned=False) as stack:
        levels: list[list[str]] = []
        fd: int | None = stack.fd
        while True:
            if fd is not None:
                try:
                    size, folders, count = _sizes(fd, skip)
                except OSError:
                    size, folders, count = 0, [], 0  # unreadable: nothing we can serve
                total += size
                seen += count
                if seen > budget:
                    return None
                levels.append(folders)
            fd = None
            if levels[-1]:
                try:
                    if stack.enter(levels[-1].pop()):
                        fd = stack.fd
                except PermissionError:
                    pass  # another user's folder (lost+found): nothing we can serve
                continue
            levels.pop()
            if not levels:
                return total
            stack.leave()


class UsedBytesCache:
    """Per-process cache of ``quota-used-bytes`` by share path, with a time limit."""

    def __init__(self, skip: Callable[[os.DirEntry[str]], bool], *, budget: int = WALK_BUDGET):
        self._skip = skip
        self._budget = budget
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def used_bytes(self, path: str, open_dir: Callable[[], int]) -> int:
        """``path``'s used bytes; ``open_dir`` opens it (a fresh descriptor) on a miss."""
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(path)
            if hit and now - hit[0] < CACHE_SECONDS:
                return hit[1]
        fd = open_dir()
        try:
            used = walk_used_bytes(fd, self._skip, self._budget)
            if used is None:
                used = filesystem_used_bytes(fd)
        finally:
            os.close(fd)
        with self._lock:
            self._entries[path] = (now, used)
            self._entries.move_to_end(path)
            while len(self._entries) > CACHE_ENTRIES:
                self._entries.popitem(last=False)
        return used
