"""The fast tier's guard: a test not marked e2e cannot start a process."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys

import pytest

from tests.support.no_spawn import MESSAGE


def test_subprocess_is_refused() -> None:
    with pytest.raises(AssertionError, match="mark the test e2e"):
        subprocess.run([sys.executable, "-c", "pass"], check=False)


def _fork_and_leave() -> None:
    if os.fork() == 0:  # pragma: no cover - only without the guard
        os._exit(0)


def test_fork_exec_and_spawn_are_refused() -> None:
    # Harmless should the guard be missing: the child leaves at once, the exec
    # names no program, the spawned command does nothing.
    for start in (
        _fork_and_leave,
        lambda: os.execv("/nonexistent/program", ["program"]),
        lambda: os.posix_spawn(sys.executable, [sys.executable, "-c", "pass"], {}),
        lambda: os.system("true"),
    ):
        with pytest.raises(AssertionError) as refused:
            start()
        assert str(refused.value) == MESSAGE


def test_multiprocessing_is_refused() -> None:
    for process in (
        multiprocessing.get_context("spawn").Process(target=print),
        multiprocessing.get_context("fork").Process(target=print),
    ):
        with pytest.raises(AssertionError, match="the fast tier starts no processes"):
            process.start()


@pytest.mark.e2e
def test_an_e2e_test_may_start_processes() -> None:
    assert subprocess.run([sys.executable, "-c", "pass"], check=False).returncode == 0
