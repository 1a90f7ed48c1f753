"""Background purge of expired locks.

Expired locks are already invisible to every lookup (stores filter on
``expires_at``); purging only reclaims space, so it runs in its own thread and
never blocks a request.
"""

from __future__ import annotations

import logging
import threading

from davserver.errors import StoreError
from davserver.locking.manager import LockManager

log = logging.getLogger(__name__)

PURGE_INTERVAL = 60.0


class Janitor:
    def __init__(self, manager: LockManager, interval: float = PURGE_INTERVAL):
        self.manager = manager
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="davserver-janitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                purged = self.manager.purge_expired()
            except StoreError as exc:
                # The store has already logged the fault once, with what to do
                # (davserver.lockstore.health); one line per purge would repeat it.
                log.debug("purging expired locks failed: %s", exc)
                continue
            if purged:
                log.info("purged %d expired locks", purged)
