"""Prometheus metrics (prometheus-client), correct with several worker processes.

With several workers every process counts into its own memory-mapped files in
one directory (prometheus-client's multiprocess mode); a scrape answered by any
worker adds them all up.  ``serve`` creates that directory when it starts,
names it in ``PROMETHEUS_MULTIPROC_DIR`` before prometheus-client is imported
(the library decides its storage at import) and removes it when it stops.
Without the variable (in-process tests, an embedding application) the metrics
live in a private registry of this process.

Exported (names as Prometheus shows them):

* ``davserver_http_requests_total{method,status}``, the latency histogram
  ``davserver_http_request_duration_seconds{method}``,
  ``davserver_http_received_bytes_total``, ``davserver_http_sent_bytes_total``,
  ``davserver_http_requests_in_flight``;
* ``davserver_auth_failures_total{reason}`` (``missing``: no credentials sent,
  ``invalid``: wrong ones);
* ``davserver_lock_events_total{event,precondition}`` (acquired, refreshed,
  released, expired, broken; refused with the RFC 4918 §16 precondition);
* ``davserver_active_locks{scope}`` — read from the lock store at scrape time,
  so it is the same whichever worker (or server sharing a Redis) answers;
* ``davserver_store_operation_duration_seconds{store,operation}``,
  ``davserver_store_errors_total{store,operation,kind}``,
  ``davserver_store_up``;
* each worker's ``process_*`` metrics and the supervisor's
  ``davserver_worker_restarts_total{reason}`` (:mod:`.process`).
"""

from __future__ import annotations

import bisect
import errno
import logging
import os
import shutil
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from davserver import __version__
from davserver.errors import StartupError, StoreError, StoreUnavailable
from davserver.locking.events import LockEvent
from davserver.lockstore.base import LockStore
from davserver.observe.process import ProcessGauges, cached_pid_values, restarts_counter

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
SHM = "/dev/shm"  # a tmpfs even in a read-only container
TMPDIR = "TMPDIR"  # the first place: Python's temporary directory
METHODS = frozenset(
    {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE"}
    | {"LOCK", "UNLOCK", "POST"}
)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5)
WARN_EVERY = 10.0  # seconds between two warnings about a failing store


def create_multiprocess_dir(*fallbacks: str) -> str:
    """A fresh directory for the metric files of this server's processes (set in
    the environment, so forked workers inherit it).

    The temporary directory first; without a writable one (``docker run
    --read-only``, a read-only TMPDIR) ``/dev/shm``, then each of ``fallbacks``.
    """
    problems = []
    for parent in (TMPDIR, SHM, *fallbacks):
        try:
            where = temporary_directory() if parent == TMPDIR else parent
            path = tempfile.mkdtemp(prefix="davserver-metrics-", dir=where)
        except OSError as exc:  # FileNotFoundError: "No usable temporary directory found"
            problems.append(f"{parent}: {exc.strerror or exc}")
            continue
        os.environ[MULTIPROC_ENV] = path
        return path
    raise StartupError("cannot create the metrics folder: " + "; ".join(problems))


def temporary_directory() -> str:
    """Python's temporary directory, but not the working directory it falls back
    to when no other is writable: in a read-only container that is /data, the
    share, whose clients would see (and could delete) the metric files."""
    parent = tempfile.gettempdir()
    named = {os.environ.get(name) for name in ("TMPDIR", "TEMP", "TMP")}
    if parent not in named and os.path.realpath(parent) == os.path.realpath(os.getcwd()):
        raise FileNotFoundError(
            errno.ENOENT, "no writable temporary directory (only the working one)"
        )
    return parent


def remove_multiprocess_dir(path: str) -> None:
    if os.environ.get(MULTIPROC_ENV) == path:
        del os.environ[MULTIPROC_ENV]
    shutil.rmtree(path, ignore_errors=True)


def worker_exited(pid: int) -> None:
    """Forget a dead worker's live gauges (its counters stay counted)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def method_label(method: str) -> str:
    return method if method in METHODS else "other"


class Metrics:
    """The metrics of one server process."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        cached_pid_values()
        self.multiprocess_dir = os.environ.get(MULTIPROC_ENV) or None
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "davserver_http_requests", "HTTP requests answered", ["method", "status"], registry=r
        )
        self.latency = Histogram(
            "davserver_http_request_duration_seconds",
            "Time from the request head to the last byte of the answer",
            ["method"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.received = Counter(
            "davserver_http_received_bytes", "Request body bytes read", registry=r
        )
        self.sent = Counter("davserver_http_sent_bytes", "Response body bytes sent", registry=r)
        self.in_flight = Gauge(
            "davserver_http_requests_in_flight",
            "Requests being answered now",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.auth_failures = Counter(
            "davserver_auth_failures", "Requests answered 401", ["reason"], registry=r
        )
        self.lock_events = Counter(
            "davserver_lock_events", "Lock events", ["event", "precondition"], registry=r
        )
        self.store_latency = Histogram(
            "davserver_store_operation_duration_seconds",
            "Lock and property store calls",
            ["store", "operation"],
            buckets=STORE_BUCKETS,
            registry=r,
        )
        self.store_errors = Counter(
            "davserver_store_errors",
            "Failed store calls",
            ["store", "operation", "kind"],
            registry=r,
        )
        restarts_counter(r)
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}
        self._labelled: dict[tuple[Any, tuple[str, ...]], Any] = {}
        self._warned = 0.0
        self._suppressed = 0
        self._warn_lock = threading.Lock()
        self._process: ProcessGauges | None = None
        self._in_flight_value = self.in_flight._value
        self._received_value = self.received._value
        self._sent_value = self.sent._value
        self._apply = value_updater(self._sent_value)

    def process_gauges(self) -> ProcessGauges:
        """This process's resource gauges, made on first use: a supervisor that
        built an application only to check it must not appear as a worker."""
        with self._warn_lock:
            if self._process is None:
                self._process = ProcessGauges(self.registry)
            return self._process

    # -- recording ---------------------------------------------------------------

    def request_started(self) -> None:
        """One more request in flight."""
        self._apply(((self._in_flight_value, 1.0),))

    def request_done(
        self,
        method: str,
        status: int,
        seconds: float,
        received: int,
        sent: int,
        *,
        finished: bool = False,
    ) -> None:
        """Count one answered request; ``finished``: it was counted in flight
        (:meth:`request_started`) and is no longer.  All its updates are applied
        at once (one lock, one pass; prometheus-client takes its lock per value)."""
        label = method_label(method)  # bounded: unknown methods are "other"
        children = self._children.get((label, status))
        if children is None:  # label lookups take a lock: once per method and status
            children = (self.requests.labels(label, str(status)), self.latency.labels(label))
            self._children[(label, status)] = children
        updates = [(children[0]._value, 1.0), *_observation(children[1], seconds)]
        if finished:
            updates.append((self._in_flight_value, -1.0))
        if received:
            updates.append((self._received_value, float(received)))
        if sent:
            updates.append((self._sent_value, float(sent)))
        self._apply(updates)

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, looked up once: each lookup takes a lock."""
        key = (metric, labels)
        child = self._labelled.get(key)
        if child is None:
            child = self._labelled[key] = metric.labels(*labels)
        return child

    def lock_event(self, event: LockEvent) -> None:
        self._child(self.lock_events, event.kind.value, event.precondition or "").inc()

    def store_call(self, store: str, operation: str, seconds: float) -> None:
        self._apply(_observation(self._child(self.store_latency, store, operation), seconds))

    def store_failed(self, store: str, operation: str, exc: StoreError) -> None:
        kind = "unavailable" if isinstance(exc, StoreUnavailable) else "error"
        self.store_errors.labels(store, operation, kind).inc()
        self._warn(f"{store} store {operation} failed: {exc}")

    def _warn(self, message: str) -> None:
        """One warning per WARN_EVERY seconds: an outage must not flood the log."""
        now = time.monotonic()
        with self._warn_lock:
            if now - self._warned < WARN_EVERY:
                self._suppressed += 1
                return
            suppressed, self._suppressed, self._warned = self._suppressed, 0, now
        more = f" ({suppressed} more store failures in the last {WARN_EVERY:.0f} s)"
        log.warning("%s%s", message, more if suppressed else "")

    # -- scraping ----------------------------------------------------------------

    def render(
        self, locks: LockStore | None, accept: str = "", clock: Callable[[], float] = time.time
    ) -> tuple[bytes, str]:
        """The exposition text (all workers' values) and its content type."""
        from prometheus_client import CollectorRegistry
        from prometheus_client.exposition import choose_encoder

        self.process_gauges().sample()  # the answering worker's numbers are current
        if self.multiprocess_dir:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(  # type: ignore[no-untyped-call]
                registry, path=self.multiprocess_dir
            )
        else:
            registry = CollectorRegistry()
            registry.register(_Forward(self.registry))
        registry.register(StoreCollector(locks, clock))
        encoder, content_type = choose_encoder(accept)
        return encoder(registry), content_type


TWO_DOUBLES = struct.Struct("dd").pack  # a value and its timestamp in a metric file
Update = tuple[Any, float]  # a metric value (prometheus-client's) and the amount to add


def _observation(histogram: Any, seconds: float) -> list[Update]:
    """What ``histogram.observe(seconds)`` adds (to its sum and to one bucket)."""
    bucket = bisect.bisect_left(histogram._upper_bounds, seconds)  # the first bound >= seconds
    return [(histogram._sum, seconds), (histogram._buckets[bucket], 1.0)]


def value_updater(sample: Any) -> Callable[[Sequence[Update]], None]:
    """A function adding amounts to several values of ``sample``'s class at once.

    prometheus-client's multiprocess values share one lock, and each ``inc``
    takes it, asks whether the process forked and writes its mmap file: here
    that lock is taken once for all of a request's values (it is found in the
    closure of their ``inc``; should a prometheus-client release keep it, or
    a value's file, elsewhere, every value is updated alone, as before).  Values of one
    process (no multiprocess mode) each have a lock: they are updated alone."""
    value_class = type(sample)
    inc = getattr(value_class, "inc", None)
    names = getattr(getattr(inc, "__code__", None), "co_freevars", ())
    cells = dict(zip(names, getattr(inc, "__closure__", None) or (), strict=False))
    lock = cells["lock"].cell_contents if "lock" in cells else None
    check_pid = getattr(value_class, "_MmapedValue__check_for_pid_change", None)
    file = getattr(sample, "_file", None)
    known = all(hasattr(file, name) for name in ("_positions", "_m", "write_value")) and all(
        hasattr(sample, name) for name in ("_value", "_timestamp", "_key")
    )
    multiprocess = getattr(value_class, "_multiprocess", False)
    if not (multiprocess and known) or lock is None or check_pid is None:

        def one_by_one(updates: Sequence[Update]) -> None:
            for value, amount in updates:
                value.inc(amount)

        return one_by_one

    def at_once(updates: Sequence[Update]) -> None:
        with lock:
            check_pid(updates[0][0])  # after a fork: this process's own files, for all values
            for value, amount in updates:
                value._value += amount
                value._timestamp = 0.0
                file = value._file
                pos = file._positions.get(value._key)
                if pos is None:  # not in the file yet (prometheus-client adds it)
                    file.write_value(value._key, value._value, 0.0)
                else:  # as its write_value: one slice assignment, never a torn value
                    file._m[pos : pos + 16] = TWO_DOUBLES(value._value, 0.0)

    return at_once


class _Forward:
    """Collects another registry (this process's values, no multiprocess mode)."""

    def __init__(self, registry: Any):
        self._registry = registry

    def collect(self) -> Iterator[Any]:
        yield from self._registry.collect()


class StoreCollector:
    """Metrics read from the lock store at scrape time."""

    def __init__(self, locks: LockStore | None, clock: Callable[[], float] = time.time):
        self._locks = locks
        self._clock = clock

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        info = GaugeMetricFamily("davserver_info", "davserver version", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        up = GaugeMetricFamily("davserver_store_up", "1 when the lock store answers")
        if self._locks is None:
            return
        try:
            held = self._locks.all_locks(self._clock())
        except StoreError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        writes = [lock for lock in held if lock.is_write]
        active = GaugeMetricFamily("davserver_active_locks", "Active locks", labels=["scope"])
        for scope in ("exclusive", "shared"):
            active.add_metric([scope], sum(1 for lock in writes if lock.scope.value == scope))
        yield active
        frozen = sum(1 for lock in held if lock.is_freeze)
        yield GaugeMetricFamily("davserver_active_freezes", "Maintenance freezes", value=frozen)


class TimedStore:
    """A store with every call timed and every failure counted (a transparent proxy)."""

    OPERATIONS = (
        *("insert_if", "find", "find_below", "get", "replace", "renew", "remove", "remove_tree"),
        *("all_locks", "purge_expired", "count_held"),
        *("get_all", "set", "copy_tree", "move_tree"),
    )

    def __init__(self, inner: Any, name: str, metrics: Metrics):
        self._inner = inner
        for operation in self.OPERATIONS:
            method = getattr(inner, operation, None)
            if method is not None:
                setattr(self, operation, self._timed(name, operation, method, metrics))

    @staticmethod
    def _timed(
        name: str, operation: str, method: Callable[..., Any], metrics: Metrics
    ) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            except StoreError as exc:
                metrics.store_failed(name, operation, exc)
                raise
            finally:
                metrics.store_call(name, operation, time.perf_counter() - start)

        return call

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
