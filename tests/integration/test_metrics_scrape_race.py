"""A scrape that meets a worker's metric file half made answers 200 (read again), never 500.

With several workers, prometheus-client's multiprocess files are read while a
worker creates its own: a file that exists but has no header yet makes the
reader fail (``struct.error``).  Seen as a 500 from ``/metrics`` right after a
start with two workers.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.exposition import generate_latest

from davserver.observe.endpoints import metrics_app


class FilesMetrics:
    """The part of Metrics the endpoint uses, rendering a real multiprocess folder."""

    def __init__(self, folder: Path, fill_after: int | None):
        self.folder = folder
        self.fill_after = fill_after
        self.calls = 0

    def render(self, locks: Any, accept: str, clock: Any) -> tuple[bytes, str]:
        self.calls += 1
        if self.fill_after is not None and self.calls > self.fill_after:
            (self.folder / "counter_4242.db").unlink(missing_ok=True)  # the worker got on
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(self.folder))  # type: ignore[no-untyped-call]
        return generate_latest(registry), "text/plain; version=0.0.4"


def scrape(metrics: Any) -> tuple[str, dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(metrics_app(metrics, None)({"HTTP_ACCEPT": ""}, start_response))
    return seen["status"], seen["headers"], body


def test_a_half_made_worker_file_is_read_again(tmp_path: Path) -> None:
    (tmp_path / "counter_4242.db").write_bytes(b"")  # created, header not yet written
    metrics = FilesMetrics(tmp_path, fill_after=1)
    status, headers, _ = scrape(metrics)
    assert status == "200 OK"
    assert metrics.calls == 2
    assert headers["Cache-Control"] == "no-store"


def test_files_that_stay_unreadable_answer_503_with_retry_after(tmp_path: Path) -> None:
    (tmp_path / "counter_4242.db").write_bytes(b"\x10\x00\x00\x00abc")
    metrics = FilesMetrics(tmp_path, fill_after=None)
    status, headers, body = scrape(metrics)
    assert status.startswith("503")
    assert headers["Retry-After"] == "1"
    assert b"retry" in body
    assert metrics.calls > 1


def test_struct_error_is_what_a_half_made_file_raises(tmp_path: Path) -> None:
    # The premise of the retry: prometheus-client's reader fails this way.
    (tmp_path / "counter_4242.db").write_bytes(b"")
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(tmp_path))  # type: ignore[no-untyped-call]
    try:
        generate_latest(registry)
    except struct.error:
        return
    raise AssertionError("a file without its header was read")
