"""Background upkeep: purging expired locks, reporting the command line's lock events.

Expired locks are already invisible to every lookup (stores filter on
``expires_at``); purging only reclaims space, so it runs in its own thread and
never blocks a request.  The same thread drains the admin outbox
(:mod:`davserver.lockstore.outbox`) every ``admin_outbox_interval`` seconds —
first right at start, so actions taken while no server ran are reported then —
and passes each event to the lock manager's event sink: metrics, event log and
webhooks see a ``davserver locks`` action as they see one of the admin API.
"""

from __future__ import annotations

import logging
import threading
import time

from davserver.errors import StoreError
from davserver.locking.manager import LockManager
from davserver.lockstore.outbox import AdminOutbox, deliver

log = logging.getLogger(__name__)

PURGE_INTERVAL = 60.0
OUTBOX_INTERVAL = 1.0


class Janitor:
    def __init__(
        self,
        manager: LockManager,
        interval: float = PURGE_INTERVAL,
        *,
        outbox: AdminOutbox | None = None,
        outbox_interval: float = OUTBOX_INTERVAL,
    ):
        self.manager = manager
        self.interval = interval
        self.outbox = outbox
        self.outbox_interval = outbox_interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="davserver-janitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        tick = self.interval if self.outbox is None else min(self.interval, self.outbox_interval)
        next_purge = time.monotonic() + self.interval
        self._drain()
        while not self._stop.wait(tick):
            self._drain()
            if time.monotonic() >= next_purge:
                next_purge = time.monotonic() + self.interval
                self._purge()

    def _purge(self) -> None:
        try:
            purged = self.manager.purge_expired()
        except StoreError as exc:
            # The store has already logged the fault once, with what to do
            # (davserver.lockstore.health); one line per purge would repeat it.
            log.debug("purging expired locks failed: %s", exc)
            return
        if purged:
            log.info("purged %d expired locks", purged)

    def _drain(self) -> None:
        sink = self.manager.events
        if self.outbox is None or sink is None:
            return  # without a sink the events stay queued for a server that has one
        try:
            deliver(self.outbox, sink)
        except StoreError as exc:  # logged by the store; tried again next time
            log.debug("reading the admin outbox failed: %s", exc)
