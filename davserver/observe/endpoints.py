"""Health and metrics endpoints as WSGI applications.

* ``/healthz`` — liveness: 200 while the process answers at all.
* ``/readyz`` — readiness for everything: 200 when the lock store answers a
  cheap call and the server is not draining (SIGTERM); otherwise 503 with the
  reason (text).
* ``/readyz?reads`` — readiness for reads: 200 while the server is not
  draining, also when the lock store is down (reads need no lock state; writes
  get 503), with a JSON body saying which: ``{"status": "ready" | "degraded" |
  "draining", "reads": bool, "writes": bool, "reason": "..."}`` (no reason
  when ready).  For a load balancer that should keep readers on a replica
  whose lock store is away.
* ``/metrics`` — Prometheus exposition (:mod:`.metrics`), all workers' values.

An admin listener mounts the apps from :func:`metrics_app`, :func:`healthz_app`
and :func:`readyz_app`.  On the main port :class:`Endpoints` answers
``/healthz`` and ``/readyz`` (and ``/metrics`` with ``metrics_on_main_port``)
before authentication, so probes need no credentials; WebDAV resources with
those names at the root of the share are shadowed.
"""

from __future__ import annotations

import json
import logging
import mmap
import struct
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from davserver.errors import StoreError
from davserver.lockstore.base import LockStore
from davserver.observe.metrics import Metrics

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
PROBE_TOKEN = "opaquelocktoken:00000000-0000-0000-0000-000000000000"
# Set once /readyz was asked, in any process of the server: an anonymous shared
# mapping made at import, before the supervisor forks its workers, so every
# worker sees a probe any of them answered (a stop then keeps answering
# "draining" for drain_ready_grace: someone routes by it).
_ASKED = mmap.mmap(-1, 1)


def readiness_asked() -> bool:
    """Whether /readyz was asked since the server started (any worker)."""
    return _ASKED[0] == 1


def _plain(start_response: StartResponse, status: str, text: str) -> list[bytes]:
    body = (text + "\n").encode("utf-8")
    start_response(
        status,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [body]


class _Probe:
    """One call of ``ask`` in a thread of its own: a store that hangs holds the
    thread, not the probe's answer (every probe meanwhile waits for this one)."""

    def __init__(self, ask: Callable[[], str | None]):
        self.done = threading.Event()
        self.problem: str | None = "the lock store check failed"
        threading.Thread(target=self._run, args=(ask,), name="davserver-probe", daemon=True).start()

    def _run(self, ask: Callable[[], str | None]) -> None:
        try:
            self.problem = ask()
        finally:
            self.done.set()


class Readiness:
    """Ready = the lock store answers (within ``timeout`` seconds) and the
    server is not draining."""

    def __init__(self, locks: LockStore | None, clock: Callable[[], float], timeout: float = 2.0):
        self.locks = locks
        self.clock = clock
        self.timeout = timeout
        self.draining = threading.Event()
        self._last: str | None = None
        self._probe: _Probe | None = None
        self._mutex = threading.Lock()

    def problem(self) -> str | None:
        """None when ready, otherwise why not (state changes are logged once)."""
        if self.draining.is_set():
            problem: str | None = "draining: the server is stopping"
        else:
            problem = self._store_problem()
        if problem != self._last:
            self._last = problem
            if problem:
                log.warning("not ready: %s", problem)
            else:
                log.info("ready")
        return problem

    def report(self) -> tuple[bool, dict[str, object]]:
        """For ``/readyz?reads``: (reads work, what works and why not)."""
        problem = self.problem()
        if problem is None:
            return True, {"status": "ready", "reads": True, "writes": True}
        if self.draining.is_set():
            return False, {"status": "draining", "reads": False, "writes": False, "reason": problem}
        return True, {"status": "degraded", "reads": True, "writes": False, "reason": problem}

    def _store_problem(self) -> str | None:
        if self.locks is None:
            return None
        with self._mutex:
            probe = self._probe
            if probe is None or probe.done.is_set():
                probe = self._probe = _Probe(self._ask_store)
        if not probe.done.wait(self.timeout):
            return f"lock store unreachable: no answer within {self.timeout:g} s"
        return probe.problem

    def _ask_store(self) -> str | None:
        assert self.locks is not None
        try:
            self.locks.get(PROBE_TOKEN, self.clock())
        except StoreError as exc:
            return f"lock store unreachable: {exc}"
        return None


def healthz_app() -> WSGIApp:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        return _plain(start_response, "200 OK", "ok")

    return app


def readyz_app(readiness: Readiness) -> WSGIApp:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        _ASKED[0] = 1
        query = parse_qs(str(environ.get("QUERY_STRING") or ""), keep_blank_values=True)
        if "reads" in query:
            return _reads(readiness, start_response)
        problem = readiness.problem()
        if problem:
            return _plain(start_response, "503 Service Unavailable", f"not ready: {problem}")
        return _plain(start_response, "200 OK", "ready")

    return app


def _reads(readiness: Readiness, start_response: StartResponse) -> list[bytes]:
    serving, state = readiness.report()
    body = (json.dumps(state) + "\n").encode("utf-8")
    start_response(
        "200 OK" if serving else "503 Service Unavailable",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [body]


# The workers' metric files are read while workers write, start (a file being
# initialised) and end (their gauge files removed): a read can meet a file half
# made or gone.  That is a moment, not a fault: read again, and only when the
# files stay unreadable answer 503 (Prometheus retries), never a 500.
RENDER_ATTEMPTS = 5
RENDER_PAUSE = 0.02  # seconds between two attempts
UNREADABLE = (OSError, ValueError, struct.error)


def render_metrics(
    metrics: Metrics, locks: LockStore | None, accept: str, clock: Callable[[], float]
) -> tuple[bytes, str] | None:
    """The exposition, read again while workers' files change under it; None if
    they stayed unreadable (logged once per scrape)."""
    for attempt in range(RENDER_ATTEMPTS):
        try:
            return metrics.render(locks, accept, clock)
        except UNREADABLE as exc:
            if attempt == RENDER_ATTEMPTS - 1:
                log.warning("metrics files unreadable, scrape answered 503: %s", exc)
                return None
            time.sleep(RENDER_PAUSE)
    return None


def metrics_app(
    metrics: Metrics, locks: LockStore | None, clock: Callable[[], float] = time.time
) -> WSGIApp:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        rendered = render_metrics(metrics, locks, environ.get("HTTP_ACCEPT", ""), clock)
        if rendered is None:
            text = b"metrics files are being rewritten by a worker; retry\n"
            start_response(
                "503 Service Unavailable",
                [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(text))),
                    ("Retry-After", "1"),
                    ("Cache-Control", "no-store"),
                ],
            )
            return [text]
        body, content_type = rendered
        start_response(
            "200 OK",
            [
                ("Content-Type", content_type),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [body]

    return app


class Endpoints:
    """Middleware answering a few exact paths itself (GET/HEAD), before the rest."""

    def __init__(self, app: WSGIApp, routes: dict[str, WSGIApp]):
        self.app = app
        self.routes = routes

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        route = self.routes.get(environ.get("PATH_INFO", ""))
        if route is None or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return self.app(environ, start_response)
        answer = route(environ, start_response)
        return [b""] if environ["REQUEST_METHOD"] == "HEAD" else answer
