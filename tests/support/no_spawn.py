"""The fast tier (tests not marked ``e2e``) starts no processes of its own.

``guard(monkeypatch)`` makes every way of starting a process raise an
AssertionError, except from the external services the tiers are built on
(redis-server, sentinels, slapd, nginx, and openssl for their TLS files): the
design has CI start the real dependency, and those helpers start and stop it
by PID.  serveruser.py is let through too: its chown(1) hands temporary
directories to the servers' user, and walks trees too deep for Python's walk.
A test whose point is a process (a crash, an exec, a mount) belongs in
tests/e2e, or carries ``pytest.mark.e2e``.
"""

from __future__ import annotations

import _posixsubprocess
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

MESSAGE = "the fast tier starts no processes: mark the test e2e or move it to tests/e2e"

# The service helpers, by file: a call made from inside one of them is let through.
SERVICE_HELPERS = frozenset(
    str(Path(__file__).with_name(name))
    for name in ("redis.py", "redis_sentinel.py", "slapd.py", "nginx.py", "tls.py", "serveruser.py")
)

OS_STARTERS = (
    "fork",
    "forkpty",
    "execv",
    "execve",
    "execvp",
    "execvpe",
    "execl",
    "execle",
    "execlp",
    "execlpe",
    "posix_spawn",
    "posix_spawnp",
    "spawnv",
    "spawnve",
    "spawnvp",
    "spawnvpe",
    "system",
    "popen",
)


def _from_a_service_helper() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename in SERVICE_HELPERS:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def _refusing(original: Callable[..., Any]) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        if not _from_a_service_helper():
            raise AssertionError(MESSAGE)
        return original(*args, **kwargs)

    return refuse


def guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse process starts for the rest of this test (undone by ``monkeypatch``)."""
    monkeypatch.setattr(subprocess.Popen, "__init__", _refusing(subprocess.Popen.__init__))
    # What subprocess and multiprocessing's "spawn" and "forkserver" start with.
    monkeypatch.setattr(_posixsubprocess, "fork_exec", _refusing(_posixsubprocess.fork_exec))
    for name in OS_STARTERS:
        if hasattr(os, name):
            monkeypatch.setattr(os, name, _refusing(getattr(os, name)))
