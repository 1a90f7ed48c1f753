"""External tools: a missing tool fails the run in CI and skips locally."""

from __future__ import annotations

import os
import shutil

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require_tool(name: str) -> str:
    """Path of an executable; fail under CI=true, skip otherwise, when it is missing."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (scripts/test installs it when run as root)"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)
    raise AssertionError("unreachable")


def require_root(reason: str) -> None:
    if os.geteuid() == 0:
        return
    if in_ci():
        pytest.fail(f"{reason} needs root")
    pytest.skip(f"{reason} needs root")
