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

The wait is bounded (``lock_store_write_wait``): a writer stuck inside its
transaction (a hung process, a stopped ``davserver locks`` command) must not
hold every write of every worker for ever.  After the wait the write gives up
with the store's busy fault (503 with Retry-After, one WARNING per episode) and
nothing was written.  ``flock`` itself has no timeout, so a contended wait
runs in a helper thread the caller waits for with one; a wait given up stays
in the kernel's queue for the next writer of the process, or lets go of the
lock at once when nobody wants it any more.  The helper thread is started once
per process and kept: under load about three writes in four met a busy queue,
and a thread started for each such wait (its stack mapped and unmapped) cost
more than the transaction it waited for.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import threading
import time

from davserver.common import pids
from davserver.lockstore.health import Fault, FaultKind, StoreHealth

SUFFIX = "-writers"
DEFAULT_WAIT = 10.0  # seconds (lock_store_write_wait)


class _Waiter:
    """One blocking ``flock`` in a helper thread; ``wanted``: somebody still waits
    for it (changed under the queue's state lock only)."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.wanted = True


class WriterQueue:
    """``with queue:`` around a write transaction: first in, first served, for at
    most ``wait`` seconds (then :class:`~davserver.errors.StoreUnavailable`)."""

    def __init__(
        self, database: str, *, wait: float = DEFAULT_WAIT, health: StoreHealth | None = None
    ):
        self.path = database + SUFFIX
        self.wait = wait
        self.health = health or StoreHealth(f"sqlite://{database}")
        self._setup = threading.Lock()
        self._pid = -1
        self._fd: int | None = None
        self._threads = threading.Lock()
        self._state = threading.Lock()
        self._waiter: _Waiter | None = None
        self._waits: queue.SimpleQueue[_Waiter | None] = queue.SimpleQueue()
        self._helper: threading.Thread | None = None

    def _here(self) -> int | None:
        """This process's descriptor: one inherited through fork shares the parent's
        lock (flock belongs to the open file), so every process opens its own."""
        if self._pid == pids.current():
            return self._fd
        with self._setup:
            if self._pid != pids.current():
                if self._fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(self._fd)
                # Threads of one process share the descriptor, so they queue on a
                # thread lock first (fresh ones: a copy taken at fork may be held,
                # and the parent's helper thread does not exist here).
                self._threads, self._state, self._waiter = threading.Lock(), threading.Lock(), None
                self._waits, self._helper = queue.SimpleQueue(), None
                try:
                    flags = os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
                    self._fd = os.open(self.path, flags, 0o644)  # readable: flock needs no more
                except OSError:
                    self._fd = None
                self._pid = pids.current()
        return self._fd

    def __enter__(self) -> None:
        deadline = time.monotonic() + self.wait
        fd = self._here()
        if not self._threads.acquire(timeout=self.wait):
            raise self._gave_up()
        try:
            if fd is not None and not self._flock(fd, deadline):
                raise self._gave_up()
        except BaseException:
            self._threads.release()
            raise

    def _flock(self, fd: int, deadline: float) -> bool:
        """Hold the file lock (True), or False when the wait ran out."""
        with self._state:
            waiter = self._waiter
            if waiter is not None:  # a wait given up earlier is still queued: take it over
                waiter.wanted = True
        if waiter is None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                waiter = self._start(fd)
            except OSError:
                return True  # only the courtesy is lost
        if waiter.done.wait(max(0.0, deadline - time.monotonic())):
            return True
        with self._state:
            if waiter.done.is_set():  # got it just now
                return True
            waiter.wanted = False
        return False

    def _start(self, fd: int) -> _Waiter:
        """Hand a blocking ``flock`` of ``fd`` to this process's helper thread."""
        waiter = self._waiter = _Waiter()
        if self._helper is None or not self._helper.is_alive():
            self._helper = threading.Thread(
                target=self._serve, args=(fd, self._waits), name="sqlite-writers-queue", daemon=True
            )
            self._helper.start()
        self._waits.put(waiter)
        return waiter

    def _serve(self, fd: int, waits: queue.SimpleQueue[_Waiter | None]) -> None:
        """The helper thread: one blocking ``flock`` per waiter, until :meth:`close`."""
        while (waiter := waits.get()) is not None:
            with contextlib.suppress(OSError):  # an error only costs the courtesy
                fcntl.flock(fd, fcntl.LOCK_EX)  # the GIL is released while it waits
            with self._state:
                self._waiter = None
                if waiter.wanted:
                    waiter.done.set()
                else:  # given up by everyone: let the other processes in
                    with contextlib.suppress(OSError):
                        fcntl.flock(fd, fcntl.LOCK_UN)

    def _gave_up(self) -> Exception:
        return self.health.fail(
            Fault(
                FaultKind.BUSY,
                f"{self.path}: a write waited {self.wait:g} s (store.write_wait) in "
                "the writers' queue and gave up",
                "Another process has been writing for that long or is stuck inside a "
                "write (a hung worker, a stopped `davserver locks` command?): find it "
                "with `fuser` on that file",
            )
        )

    def __exit__(self, *exc: object) -> None:
        fd = self._fd
        if fd is not None and self._pid == pids.current():
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
        self._threads.release()

    def close(self) -> None:
        with self._setup:
            if self._helper is not None and self._pid == pids.current():
                self._waits.put(None)  # the helper thread ends after any wait it has
                self._helper = None
            if self._fd is not None and self._pid == pids.current():
                with contextlib.suppress(OSError):
                    os.close(self._fd)
            self._fd, self._pid = None, -1
