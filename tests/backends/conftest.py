"""Fixtures running one contract suite against every store backend.

Redis is a real ``redis-server`` started once per session on a free port, with
persistence off, and stopped by PID.  Without the binary the Redis cases skip
locally but *fail* in CI (CI=true): a silently skipped backend is a defect.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from davserver.lockstore import Stores, open_stores

BACKENDS = ["memory", "sqlite", "redis"]
PERSISTENT = ["sqlite", "redis"]
MULTIPROCESS = ["sqlite", "redis"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_ping(port: int, proc: subprocess.Popen[bytes], deadline: float) -> bool:
    import redis

    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if client.ping():
                    return True
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        return False
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a private redis-server for this test session."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    workdir = tmp_path_factory.mktemp("redis")
    port = _free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    proc = subprocess.Popen(
        [*args, "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        if not _wait_for_ping(port, proc, time.monotonic() + 10):
            pytest.fail(f"redis-server on port {port} did not answer PING")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Harness:
    """One backend under test: its URL, its open stores, and a way to reopen them."""

    name: str
    url: str
    state_dir: Path
    opened: list[Stores] = field(default_factory=list)

    def open(self) -> Stores:
        stores = open_stores(self.url, state_dir=self.state_dir)
        self.opened.append(stores)
        return stores

    def reopen(self) -> Stores:
        """Close what is open and open the same URL again (a server restart)."""
        self.close()
        return self.open()

    def close(self) -> None:
        while self.opened:
            self.opened.pop().close()


def _backend_url(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if name == "memory":
        return "memory://"
    if name == "sqlite":
        return f"sqlite://{tmp_path / 'stores.sqlite'}"
    base: str = request.getfixturevalue("redis_url")
    # A fresh key prefix per test isolates tests sharing the session's server.
    return f"{base}?prefix=t{uuid.uuid4().hex[:12]}:"


@pytest.fixture(params=BACKENDS)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    h = Harness(request.param, _backend_url(request.param, request, tmp_path), tmp_path)
    h.open()
    yield h
    h.close()


@pytest.fixture(params=PERSISTENT)
def persistent_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    h = Harness(request.param, _backend_url(request.param, request, tmp_path), tmp_path)
    h.open()
    yield h
    h.close()


@pytest.fixture(params=MULTIPROCESS)
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path]:
    """URL (and state dir) of a store several processes can open at once."""
    return _backend_url(request.param, request, tmp_path), tmp_path
