"""Quotas on the real server: two workers (SQLite, then Redis) take concurrent
PUTs of one user; together they never store more than the quota, because the
check is made in one store transaction with the install."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from lxml import etree

from tests.support.redis import RedisServer
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

FILE = 100_000
FITS = 10  # files of FILE bytes within the quota
UPLOADS = 40
QUOTA_PROPS = (
    b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>'
    b"<D:quota-available-bytes/><D:quota-used-bytes/></D:prop></D:propfind>"
)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis") as server:
        yield server


def concurrent_puts(url: str) -> list[int]:
    """UPLOADS PUTs of FILE bytes, released together; their statuses."""
    start = threading.Barrier(UPLOADS)
    statuses: list[int] = []
    lock = threading.Lock()

    def upload(n: int) -> None:
        with requests.Session() as session:  # a connection of its own: any worker
            start.wait(timeout=30)
            answer = session.put(f"{url}f{n:02d}.bin", data=b"q" * FILE, timeout=60)
        with lock:
            statuses.append(answer.status_code)

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(UPLOADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return statuses


def quota_props(url: str) -> tuple[int, int]:
    answer = requests.request("PROPFIND", url, data=QUOTA_PROPS, headers={"Depth": "0"}, timeout=10)
    assert answer.status_code == 207
    tree = etree.fromstring(answer.content)
    available = tree.findtext(".//{DAV:}quota-available-bytes")
    used = tree.findtext(".//{DAV:}quota-used-bytes")
    assert available is not None and used is not None
    return int(available), int(used)


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_two_workers_cannot_overshoot_the_quota(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    root = tmp_path / "share"
    config = tmp_path / "davserver.yaml"
    lines = [f"quota_bytes: {FITS * FILE}"]
    if backend == "redis":
        redis: RedisServer = request.getfixturevalue("redis")
        lines.append(f"lock_store: {redis.url}")
    config.write_text("\n".join(lines) + "\n")
    with ServerProcess(root, ["--config", str(config), "--workers", "2"]) as server:
        assert "workers=2" in server.start_line
        statuses = concurrent_puts(server.url)
        assert sorted(set(statuses)) == [201, 507], statuses
        assert statuses.count(201) == FITS
        stored = sorted(root.glob("f*.bin"))
        assert len(stored) == FITS
        assert sum(path.stat().st_size for path in stored) == FITS * FILE
        assert quota_props(server.url) == (0, FITS * FILE)
        refused = requests.put(server.url + "one-more.bin", data=b"1", timeout=10)
        assert refused.status_code == 507
        assert f"quota of {FITS * FILE} bytes for anonymous: {FITS * FILE} used" in refused.text
        assert requests.delete(server.url + stored[0].name, timeout=10).status_code == 204
        assert requests.put(server.url + "one-more.bin", data=b"1", timeout=10).status_code == 201
    # A restart (with its reconcile) keeps the usage.
    with ServerProcess(root, ["--config", str(config), "--workers", "2"]) as server:
        assert quota_props(server.url) == (FILE - 1, (FITS - 1) * FILE + 1)
