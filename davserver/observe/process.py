"""Resource use of each worker process, and the supervisor's worker replacements.

prometheus-client's process collector reads ``/proc/self`` of whichever process
answers the scrape, and its multiprocess mode does not include it at all; so
each serving process copies its own numbers into gauges of mode ``liveall``
(one series per live process, labelled ``pid``; a dead worker's series go with
it) every :data:`SAMPLE_EVERY` seconds and when it answers a scrape:

* ``process_resident_memory_bytes``, ``process_virtual_memory_bytes``,
  ``process_cpu_seconds_total``, ``process_open_fds``, ``process_max_fds``,
  ``process_start_time_seconds``.

``davserver_worker_restarts_total{reason}`` counts the workers the supervisor
replaced, ``reason`` being the signal that killed one (``SIGKILL``) or its exit
status (``exit_1``).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

from davserver.common import pids

log = logging.getLogger(__name__)

SAMPLE_EVERY = 5.0  # seconds; a scrape also samples the process that answers it
SAMPLED = (
    *("process_resident_memory_bytes", "process_virtual_memory_bytes"),
    *("process_cpu_seconds_total", "process_open_fds", "process_max_fds"),
    "process_start_time_seconds",
)


class ProcessGauges:
    """This process's resource gauges in ``registry``."""

    def __init__(self, registry: Any):
        from prometheus_client import Gauge
        from prometheus_client.process_collector import ProcessCollector

        self._source = ProcessCollector(registry=None)
        self._gauges = {
            name: Gauge(name, _help(name), registry=registry, multiprocess_mode="liveall")
            for name in SAMPLED
        }
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> None:
        """Copy this process's numbers (nothing where /proc is not available)."""
        for family in self._source.collect():
            for sample in family.samples:
                gauge = self._gauges.get(sample.name)
                if gauge is not None:
                    gauge.set(sample.value)

    def start(self) -> None:
        """Sample now and then every SAMPLE_EVERY seconds, in a daemon thread."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="davserver-process-metrics")
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while True:
            try:
                self.sample()
            except Exception:  # a metric must never take the worker down
                log.exception("sampling the process metrics failed")
            if self._stop.wait(SAMPLE_EVERY):
                return


def _help(name: str) -> str:
    what = name.removeprefix("process_").replace("_", " ")
    return f"This worker process's {what}"


_restarts: Any = None
_restarts_lock = threading.Lock()


def restart_reason(status: int) -> str:
    """``SIGKILL`` for a worker killed by a signal, ``exit_N`` for one that exited."""
    if os.WIFSIGNALED(status):
        return signal.Signals(os.WTERMSIG(status)).name
    return f"exit_{os.WEXITSTATUS(status)}"


_cached_pid_lock = threading.Lock()


def cached_pid_values() -> None:
    """Metrics made from now on in multiprocess mode ask :func:`davserver.common.pids.current`,
    not ``os.getpid()``, whether the process forked (prometheus-client asks on every
    update: a system call each).  Once per process, before its first metric, so that
    all its values share one set of files."""
    from prometheus_client import values

    with _cached_pid_lock:
        value_class = values.ValueClass
        if getattr(value_class, "_multiprocess", False) and not getattr(
            value_class, "davserver_cached_pid", False
        ):
            value_class = values.MultiProcessValue(pids.current)  # type: ignore[no-untyped-call]
            value_class.davserver_cached_pid = True
            values.ValueClass = value_class


def restarts_counter(registry: Any) -> Any:
    """``davserver_worker_restarts_total``: a serving process declares it (so a
    single-process server describes it too), the supervisor counts into it."""
    from prometheus_client import Counter

    help_text = "Workers that died while serving and were replaced"
    return Counter("davserver_worker_restarts", help_text, ["reason"], registry=registry)


def worker_replaced(status: int) -> None:
    """Count one worker the supervisor replaces (summed over processes at scrape)."""
    global _restarts
    from prometheus_client import CollectorRegistry

    with _restarts_lock:
        cached_pid_values()
        if _restarts is None:
            _restarts = restarts_counter(CollectorRegistry())
    _restarts.labels(restart_reason(status)).inc()
