"""The process id is read once per process: metric updates and SQLite
transactions make no ``getpid`` system call, and a forked child still writes
its metrics into files of its own (named with its pid)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from prometheus_client import values

from davserver.common import pids
from davserver.lockstore.sqlite_db import Database
from davserver.observe import metrics


@pytest.fixture
def multiprocess(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """prometheus-client in multiprocess mode, as ``serve`` runs it."""
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(tmp_path))
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue())  # type: ignore[no-untyped-call]
    return tmp_path


def getpid_calls(work: Callable[[], None]) -> int:
    """How often ``work`` calls ``os.getpid`` (a C function: seen by a profiler,
    however the caller holds it)."""
    calls = 0

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal calls
        if event == "c_call" and arg is os.getpid:
            calls += 1

    sys.setprofile(profile)
    try:
        work()
    finally:
        sys.setprofile(None)
    return calls


def test_metric_updates_make_no_getpid_call(multiprocess: Path) -> None:
    recorder = metrics.Metrics()
    recorder.request_done("PUT", 204, 0.003, 4096, 0)  # label children made

    def requests() -> None:
        for _ in range(10):
            recorder.in_flight.inc()
            recorder.request_done("PUT", 204, 0.003, 4096, 10)
            recorder.in_flight.dec()

    assert getpid_calls(requests) == 0
    assert (multiprocess / f"counter_{os.getpid()}.db").exists()


@pytest.mark.e2e
def test_a_forked_child_records_its_own_pid_in_the_metrics_files(multiprocess: Path) -> None:
    recorder = metrics.Metrics()
    recorder.request_done("GET", 200, 0.001, 0, 5)
    child = os.fork()
    if child == 0:  # the child: count one request, say which pid it believes it has
        code = 1
        try:
            recorder.request_done("GET", 200, 0.001, 0, 5)
            code = 0 if pids.current() == os.getpid() else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert (multiprocess / f"counter_{child}.db").exists()
    assert pids.current() == os.getpid()
    text, _ = recorder.render(None)
    assert b'davserver_http_requests_total{method="GET",status="200"} 2.0' in text


def test_sqlite_transactions_make_no_getpid_call(tmp_path: Path) -> None:
    db = Database(tmp_path / "locks.sqlite")
    try:

        def transactions() -> None:
            for _ in range(5):
                with db.write() as conn:
                    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('m', 'x')")
                with db.read() as conn:
                    conn.execute("SELECT value FROM meta WHERE key = 'm'").fetchall()

        transactions()  # connections and the queue's descriptor made
        assert getpid_calls(transactions) == 0
    finally:
        db.close()
