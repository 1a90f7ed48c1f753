"""A request's metric updates are applied at once (one lock, one pass) and
give the same /metrics numbers as prometheus-client's own calls, in the
multiprocess mode ``serve`` runs."""

from __future__ import annotations

import sys
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest, multiprocess, values

from davserver.observe import metrics


def use_folder(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh multiprocess value class writing into ``folder``."""
    folder.mkdir()
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(folder))
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue())  # type: ignore[no-untyped-call]


def exposition(folder: Path) -> bytes:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(folder))  # type: ignore[no-untyped-call]
    return generate_latest(registry)


REQUESTS = [
    ("PUT", 201, 0.003, 4096, 0),
    ("GET", 200, 0.0004, 0, 100_000),
    ("PROPFIND", 207, 0.25, 120, 5000),  # on a bucket's bound
    ("BREW", 405, 75.0, 0, 12),  # beyond the last bound: +Inf
    ("PUT", 201, 0.004, 10, 0),
]


def test_the_same_numbers_as_prometheus_clients_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_folder(tmp_path / "theirs", monkeypatch)
    theirs = metrics.Metrics()
    for method, status, seconds, received, sent in REQUESTS:
        label = metrics.method_label(method)
        theirs.in_flight.inc()
        theirs.requests.labels(label, str(status)).inc()
        theirs.latency.labels(label).observe(seconds)
        if received:
            theirs.received.inc(received)
        if sent:
            theirs.sent.inc(sent)
        theirs.in_flight.dec()
    theirs.in_flight.inc()  # one still in flight
    theirs.store_latency.labels("sqlite", "find").observe(0.002)

    use_folder(tmp_path / "ours", monkeypatch)
    ours = metrics.Metrics()
    for method, status, seconds, received, sent in REQUESTS:
        ours.request_started()
        ours.request_done(method, status, seconds, received, sent, finished=True)
    ours.request_started()
    ours.store_call("sqlite", "find", 0.002)

    expected = exposition(tmp_path / "theirs")
    assert b"davserver_http_requests_in_flight 1.0" in expected
    assert exposition(tmp_path / "ours") == expected


def test_a_request_takes_the_shared_lock_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_folder(tmp_path / "m", monkeypatch)
    recorder = metrics.Metrics()
    recorder.request_done("PUT", 201, 0.003, 4096, 10)  # label children made
    incs = 0

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal incs
        code = frame.f_code
        if event == "call" and code.co_name == "inc" and code.co_filename == values.__file__:
            incs += 1

    sys.setprofile(profile)
    try:
        recorder.request_started()
        recorder.request_done("PUT", 201, 0.003, 4096, 10, finished=True)
    finally:
        sys.setprofile(None)
    assert incs == 0  # not one lock (and pid check, and mmap write call) per value


def test_without_the_shared_lock_each_value_is_updated_alone() -> None:
    class Value:
        _multiprocess = True

        def __init__(self) -> None:
            self.total = 0.0

        def inc(self, amount: float) -> None:
            self.total += amount

    value = Value()
    metrics.value_updater(value)([(value, 2.0), (value, 3.0)])
    assert value.total == 5.0


def test_a_value_kept_otherwise_is_updated_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_folder(tmp_path / "m", monkeypatch)
    value = metrics.Metrics().sent._value
    monkeypatch.delattr(value._file, "_positions")  # as if a release renamed it
    calls: list[float] = []
    monkeypatch.setattr(type(value), "inc", lambda self, amount: calls.append(amount))
    metrics.value_updater(value)([(value, 2.0), (value, 3.0)])
    assert calls == [2.0, 3.0]
