"""The reason label of davserver_worker_restarts_total, from a wait status.

e2e: the wait statuses come from real children that are killed or exit.
"""

from __future__ import annotations

import os
import sys

import pytest

from davserver.observe.process import restart_reason

pytestmark = pytest.mark.e2e


def status_of(code: str) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execv(sys.executable, [sys.executable, "-c", code])
    return os.waitpid(pid, 0)[1]


def test_a_killed_worker_is_named_by_its_signal() -> None:
    status = status_of("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    assert restart_reason(status) == "SIGKILL"


def test_a_worker_that_exited_is_named_by_its_status() -> None:
    assert restart_reason(status_of("raise SystemExit(3)")) == "exit_3"
