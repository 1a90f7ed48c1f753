"""WAL checkpoints of the lock database in a background thread, off the request path.

In WAL mode every commit appends pages to the ``-wal`` file, and SQLite copies
them back into the database (a checkpoint, with two fsyncs) whenever the WAL
passes 1,000 pages — inside whichever COMMIT crossed the mark.  For LOCK and
UNLOCK that averaged about 60 µs of every commit's 110 µs here.  A server
process instead checkpoints from its own thread twice a second, only after
writes and never waiting for anyone (``PASSIVE``); request connections keep
SQLite's automatic checkpoint only as a backstop at :data:`BACKSTOP_PAGES`,
for the case this thread does not run.

With ``synchronous = NORMAL`` a commit reaches the disk at the next checkpoint:
a power cut may lose the lock changes of the last half second (a crashed or
killed process loses nothing: its writes are in the operating system).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from davserver.common import pids

log = logging.getLogger(__name__)

INTERVAL = 0.5  # seconds between two checkpoints while locks change
BACKSTOP_PAGES = 10_000  # ~40 MB of WAL: SQLite checkpoints in the COMMIT itself


class Checkpointer:
    """Calls ``checkpoint`` every :data:`INTERVAL` seconds after :meth:`written`."""

    def __init__(self, checkpoint: Callable[[], None], interval: float = INTERVAL):
        self._checkpoint = checkpoint
        self._interval = interval
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._guard = threading.Lock()
        self._pid = -1
        self._thread: threading.Thread | None = None

    def written(self) -> None:
        """A commit happened in this process (a thread is started in each process:
        one started before a fork does not run in the child)."""
        self._dirty.set()
        if self._pid != pids.current():
            self._start()

    def _start(self) -> None:
        with self._guard:
            if self._pid == pids.current() or self._stop.is_set():
                return
            self._pid = pids.current()
            self._thread = threading.Thread(
                target=self._run, name="davserver-checkpoints", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            if not self._dirty.is_set():
                continue
            self._dirty.clear()
            try:
                self._checkpoint()
            except Exception:  # never the end of the thread: the backstop still works
                log.debug("background checkpoint failed", exc_info=True)

    def stop(self) -> None:
        # What is still in the WAL is checkpointed when the last connection closes.
        self._stop.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and self._pid == pids.current():
            thread.join(timeout=5)
