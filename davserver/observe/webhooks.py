"""Lock-event webhooks: POST each event as JSON, never blocking a request.

One sender per URL: a bounded queue and one daemon thread.  A request only puts
the event in the queue; when the queue is full the event is dropped with a
warning (at most one per ten seconds).  Delivery is retried with exponential
backoff (0.5 s, 1 s, 2 s, ...) on a network error or a 5xx/429 answer; other
answers are final.  The thread starts with the first event, so a parent
process that forks workers never holds one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from davserver import __version__

log = logging.getLogger(__name__)

POST_TIMEOUT = 5.0
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 30.0
WARN_EVERY = 10.0
_STOP = object()


class WebhookSender:
    def __init__(self, url: str, queue_size: int = 1000, retries: int = 5):
        self.url = url
        self.retries = retries
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._stopping = threading.Event()
        self._dropped = 0
        self._warned = 0.0

    def submit(self, payload: Mapping[str, Any]) -> bool:
        """Queue one event; False (and a rate-limited warning) when the queue is full."""
        self._ensure_thread()
        try:
            self._queue.put_nowait(json.dumps(payload).encode("utf-8"))
        except queue.Full:
            self._dropped += 1
            now = time.monotonic()
            if now - self._warned >= WARN_EVERY:
                self._warned = now
                log.warning(
                    "webhook %s: queue full (%d), %d lock events dropped so far",
                    self.url,
                    self._queue.maxsize,
                    self._dropped,
                )
            return False
        return True

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="davserver-webhook", daemon=True)
                thread.start()
                self._thread = thread

    def _run(self) -> None:
        while True:
            body = self._queue.get()
            if body is _STOP:
                return
            self._deliver(body)

    def _deliver(self, body: bytes) -> None:
        delay = FIRST_BACKOFF
        for attempt in range(1, self.retries + 2):
            problem = self._post(body)
            if problem is None:
                return
            if attempt > self.retries or self._stopping.is_set():
                log.warning(
                    "webhook %s: giving up after %d attempts: %s", self.url, attempt, problem
                )
                return
            log.info("webhook %s: %s; retrying in %.1f s", self.url, problem, delay)
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, MAX_BACKOFF)

    def _post(self, body: bytes) -> str | None:
        """None when delivered; otherwise why not (retried)."""
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": f"davserver/{__version__}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=POST_TIMEOUT) as answer:
                answer.read()
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code == 429:
                return f"answered {exc.code}"
            log.warning("webhook %s answered %d; event not delivered", self.url, exc.code)
            return None
        except (OSError, ValueError) as exc:
            return str(getattr(exc, "reason", exc))
        return None

    def stop(self, timeout: float = 2.0) -> None:
        """Deliver what is queued within ``timeout`` seconds, then stop retrying."""
        thread = self._thread
        if thread is None:
            return
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=timeout)
        thread.join(timeout)
        self._stopping.set()
        thread.join(0.5)
