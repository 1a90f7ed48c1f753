"""External tools and root: a test that needs one and lacks it fails, never skips."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest


def unavailable(message: str) -> NoReturn:
    """The one place a test gives up for lack of a tool or of root: it fails.

    A skipped test would hide a missing install step (in CI and anywhere else).
    ``scripts/test`` run as root installs every tool; without them, deselect the
    slow tests with ``-m "not e2e"``.
    """
    pytest.fail(f"{message} (run scripts/test as root to install it, or use -m 'not e2e')")


def require_tool(name: str) -> str:
    """Path of an executable (see :func:`unavailable` when it is missing)."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed (scripts/test installs it when run as root)")
    return path


def require_root(reason: str) -> None:
    if os.geteuid() != 0:
        unavailable(f"{reason} needs root")


@contextlib.contextmanager
def small_tmpfs(mount_point: Path, size: str) -> Iterator[Path]:
    """A size-limited tmpfs, for real full-disk tests (root only; fails in CI without)."""
    require_root("mounting a tmpfs")
    mount_point.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)], check=True
    )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)
