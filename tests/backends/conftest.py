"""Fixtures running one contract suite against every store backend.

Redis is a real ``redis-server`` started once per session on a free port, with
append-only persistence (davserver refuses a Redis that persists nothing), and
stopped by PID.  Without the binary the Redis cases fail
(``tests.support.tools.unavailable``): a silently skipped backend is a defect.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from davserver.lockstore import Stores, open_stores
from tests.support.redis import RedisServer

BACKENDS = ["memory", "sqlite", "redis"]
PERSISTENT = ["sqlite", "redis"]
MULTIPROCESS = ["sqlite", "redis"]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a private redis-server for this test session."""
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


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
