"""The open SQLite connections of one database file, one per thread that used it.

SQLite connections are per thread (each keeps its own page cache, up to 2 MiB).
The HTTP worker pool starts threads under load and retires idle ones a minute
later, so a long-running server sees ever new threads: a connection kept for
every thread that ever asked would stay open, with its cache, until shutdown.
Here the connections of threads that have ended are closed whenever a thread
registers a new one — so the open connections never outnumber the threads
alive at the last registration.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading


class ThreadConnections:
    """Connections by the thread that opened them (closed by :meth:`take_all`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_thread: dict[threading.Thread, sqlite3.Connection] = {}

    def add(self, conn: sqlite3.Connection) -> None:
        """Keep ``conn`` as this thread's; close those of threads that have ended
        (nobody else uses them: a connection lives in its thread's local storage)."""
        with self._lock:
            ended = [thread for thread in self._by_thread if not thread.is_alive()]
            orphans = [self._by_thread.pop(thread) for thread in ended]
            previous = self._by_thread.get(threading.current_thread())
            if previous is not None and previous is not conn:
                orphans.append(previous)
            self._by_thread[threading.current_thread()] = conn
        for orphan in orphans:
            with contextlib.suppress(sqlite3.Error):
                orphan.close()

    def remove(self, conn: sqlite3.Connection) -> None:
        """Forget ``conn`` (the caller closes it)."""
        with self._lock:
            for thread, held in list(self._by_thread.items()):
                if held is conn:
                    del self._by_thread[thread]

    def take_all(self) -> list[sqlite3.Connection]:
        """Every connection, forgotten here (the caller closes them)."""
        with self._lock:
            conns, self._by_thread = list(self._by_thread.values()), {}
        return conns

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_thread)
