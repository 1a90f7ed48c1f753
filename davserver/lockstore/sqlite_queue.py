"""Writers of one SQLite file wait in a kernel queue instead of polling.

SQLite lets one writer in at a time; the others get SQLITE_BUSY, and the busy
handler sleeps 1, 2, 5, 10 … ms before it tries again.  With two worker
processes taking and releasing locks, about one request in seven slept that way
(strace of 20 clients doing LOCK/UNLOCK), each for at least a millisecond
while the transaction it waited for took a tenth of that, and the sleeping
request kept its process's turn (so the whole process waited).  A blocking
``flock(2)`` on a file beside the database wakes the next writer the moment
the previous one is done.

The queue is a courtesy, never a guard: SQLite's own locking still decides who
writes.  A process that cannot open the queue file, or a tool that does not
use it (``davserver locks …``), simply meets SQLite's busy handler as before.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading

SUFFIX = "-writers"


class WriterQueue:
    """``with queue:`` around a write transaction: first in, first served."""

    def __init__(self, database: str):
        self.path = database + SUFFIX
        self._setup = threading.Lock()
        self._pid = -1
        self._fd: int | None = None
        self._threads = threading.Lock()

    def _here(self) -> int | None:
        """This process's descriptor: one inherited through fork shares the parent's
        lock (flock belongs to the open file), so every process opens its own."""
        if self._pid == os.getpid():
            return self._fd
        with self._setup:
            if self._pid != os.getpid():
                if self._fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(self._fd)
                # Threads of one process share the descriptor, so they queue on a
                # thread lock first (a fresh one: a copy taken at fork may be held).
                self._threads = threading.Lock()
                try:
                    flags = os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
                    self._fd = os.open(self.path, flags, 0o644)  # readable: flock needs no more
                except OSError:
                    self._fd = None
                self._pid = os.getpid()
        return self._fd

    def __enter__(self) -> None:
        fd = self._here()
        self._threads.acquire()
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_EX)  # the GIL is released while it waits

    def __exit__(self, *exc: object) -> None:
        fd = self._fd
        if fd is not None and self._pid == os.getpid():
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
        self._threads.release()

    def close(self) -> None:
        with self._setup:
            if self._fd is not None and self._pid == os.getpid():
                with contextlib.suppress(OSError):
                    os.close(self._fd)
            self._fd, self._pid = None, -1
