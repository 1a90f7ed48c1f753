"""Each worker's process metrics and the supervisor's count of replaced workers, on a
real server with two workers."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from tests.e2e.test_observability import config_file, scrape, wait_for
from tests.integration.test_access_log import metric
from tests.support.server import ServerProcess, children_of

pytestmark = pytest.mark.e2e

PROCESS_METRICS = (
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_start_time_seconds",
)


def pids_with(text: str, name: str) -> set[int]:
    """The ``pid`` labels of ``name``'s samples."""
    pattern = rf'^{name}\{{[^}}]*pid="(\d+)"[^}}]*\}} (\S+)$'
    return {int(pid) for pid, value in re.findall(pattern, text, re.M) if float(value) > 0}


def test_a_killed_worker_is_counted_and_each_live_worker_has_process_metrics(
    tmp_path: Path,
) -> None:
    root = tmp_path / "share"
    root.mkdir()
    config = config_file(tmp_path, metrics_on_main_port=True, workers=2)
    with ServerProcess(root, ["--config", config]) as server:
        assert server.proc is not None
        supervisor = server.proc.pid
        workers = wait_for(
            lambda: set(children_of(supervisor)) if len(children_of(supervisor)) == 2 else None,
            "two workers",
        )
        assert metric(scrape(server.url), "davserver_worker_restarts_total") == 0
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)

        def replaced() -> set[int] | None:
            now = set(children_of(supervisor))
            return now if len(now) == 2 and victim not in now else None

        live = wait_for(replaced, "the replacement worker", timeout=30)

        def complete() -> str | None:
            text = scrape(server.url)
            sampled = all(pids_with(text, name) == live for name in PROCESS_METRICS)
            return text if sampled else None

        text = wait_for(
            complete, "process metrics of both live workers (and not the dead one)", timeout=30
        )
        assert metric(text, "davserver_worker_restarts_total", reason="SIGKILL") == 1
        restarts = re.findall(r"^davserver_worker_restarts_total\{.*\} (\S+)$", text, re.M)
        assert sum(float(value) for value in restarts) == 1  # and no other reason
