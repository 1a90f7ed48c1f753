"""Where lock events go: metrics, a JSON-lines event log, webhooks, listeners.

:class:`EventHub` is the ``events`` callback of the lock manager
(:mod:`davserver.locking.events`); the access middleware reports ``refused``
events through it too.  It never raises into a request: a failing sink is
logged.  The event log is appended with one ``write`` per line (O_APPEND), so
the workers of one server can share it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Sequence
from typing import Any

from davserver.common.dates import log_time
from davserver.dav.lock_xml import owner_text
from davserver.errors import StartupError
from davserver.locking.events import EventSink, LockEvent
from davserver.locking.model import Depth, Lock
from davserver.observe.metrics import Metrics
from davserver.observe.webhooks import WebhookSender

log = logging.getLogger(__name__)


def lock_fields(lock: Lock) -> dict[str, Any]:
    return {
        "token": lock.token,
        "root": lock.root,
        "scope": lock.scope.value,
        "depth": "infinity" if lock.depth is Depth.INFINITY else "0",
        "owner": owner_text(lock),
        "principal": lock.principal,
        "timeout": lock.timeout,
        "expires_at": None if lock.expires_at is None else log_time(lock.expires_at),
    }


def event_payload(event: LockEvent) -> dict[str, Any]:
    """The JSON object of one event (event log line and webhook body)."""
    data: dict[str, Any] = {
        "event": event.kind.value,
        "time": log_time(event.at),
        "path": event.path,
        "actor": event.actor,
        "lock": lock_fields(event.lock) if event.lock else None,
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    if event.precondition:
        data["precondition"] = event.precondition
    if event.blocking:
        data["blocking"] = [lock_fields(lock) for lock in event.blocking]
    return data


def open_append(path: str, what: str) -> int:
    """A file descriptor for appending lines; a clear StartupError otherwise."""
    try:
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise StartupError(f"{what}: cannot open {path}: {exc.strerror}") from exc


class EventHub:
    """The lock manager's event sink: counts, writes, posts, tells listeners."""

    def __init__(
        self,
        metrics: Metrics | None,
        log_path: str | None = None,
        webhooks: Sequence[str] = (),
        queue_size: int = 1000,
        retries: int = 5,
    ):
        self.metrics = metrics
        self.listeners: list[EventSink] = []
        self._fd: int | None = None
        self._senders: list[WebhookSender] = []
        self._lock = threading.Lock()
        self.reconfigure(log_path, webhooks, queue_size, retries)

    def reconfigure(
        self, log_path: str | None, webhooks: Sequence[str], queue_size: int, retries: int
    ) -> None:
        """Switch the event log and the webhooks (SIGHUP); raises StartupError."""
        fd = open_append(log_path, "logs.lock_events") if log_path else None
        senders = [WebhookSender(url, queue_size, retries) for url in webhooks]
        with self._lock:
            old_fd, old_senders = self._fd, self._senders
            self._fd, self._senders = fd, senders
        if old_fd is not None:
            os.close(old_fd)
        for sender in old_senders:
            sender.stop(timeout=0.5)

    def __call__(self, event: LockEvent) -> None:
        try:
            if self.metrics is not None:
                self.metrics.lock_event(event)
            fd, senders = self._fd, self._senders
            if fd is not None or senders:
                payload = event_payload(event)
                if fd is not None:
                    os.write(fd, (json.dumps(payload) + "\n").encode("utf-8"))
                for sender in senders:
                    sender.submit(payload)
            for listener in list(self.listeners):
                listener(event)
        except Exception:  # an event must never fail the request that caused it
            log.exception("reporting lock event %s failed", event.kind.value)

    def close(self, timeout: float = 2.0) -> None:
        with self._lock:
            fd, senders = self._fd, self._senders
            self._fd, self._senders = None, []
        for sender in senders:
            sender.stop(timeout)
        if fd is not None:
            os.close(fd)
