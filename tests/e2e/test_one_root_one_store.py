"""One root, one lock store.

A second server on a root that running servers serve with another lock store
(another ``--state-dir``, ``memory://``, another Redis key prefix) used to log
one INFO line and then ignore their locks: LOCK on A 201, PUT on B 204 over
the locked file.  Now it refuses to start (exit 1) and names the running
servers' store; servers with the same store start together, a read-only server
(which takes no locks) starts beside any, and once every server has stopped a
server may switch the root to another store.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from tests.support.redis import RedisServer
from tests.support.server import ServerProcess, run_davserver

pytestmark = pytest.mark.e2e

LOCKINFO = (
    b'<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
    b"</D:lockscope><D:locktype><D:write/></D:locktype><D:owner>a</D:owner></D:lockinfo>"
)
XATTR = "user.davserver.lock-store"


def lock(url: str) -> requests.Response:
    headers = {"Timeout": "Second-600", "Content-Type": "application/xml"}
    return requests.request("LOCK", url, data=LOCKINFO, headers=headers, timeout=10)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    share = tmp_path / "share"
    share.mkdir()
    (share / "doc.txt").write_bytes(b"v1")
    return share


def refused(root: Path, *args: str) -> str:
    """Start a server that must refuse; its stderr."""
    result = run_davserver("serve", str(root), "--port", "0", "--workers", "1", *args)
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "is served by running davservers whose lock store is" in result.stderr
    return result.stderr


def test_another_state_dir_on_a_served_root_is_refused(root: Path, tmp_path: Path) -> None:
    with ServerProcess(root, ["--workers", "1"]) as a:
        assert lock(a.url + "doc.txt").status_code == 200
        message = refused(root, "--state-dir", str(tmp_path / "elsewhere"))
        assert f"sqlite://{root / '.davserver' / 'locks.sqlite'}" in message
        assert "stop every server of this root" in message
        refused(root, "--lock-store", "memory://")
        assert requests.put(a.url + "doc.txt", data=b"bob", timeout=10).status_code == 423
    assert (root / "doc.txt").read_bytes() == b"v1"


def test_a_memory_server_and_a_sqlite_server_exclude_each_other(root: Path) -> None:
    with ServerProcess(root, ["--lock-store", "memory://"]) as a:
        assert lock(a.url + "doc.txt").status_code == 200
        assert "memory://" in refused(root)
        assert "memory://" in refused(root, "--lock-store", "memory://")


def test_servers_with_one_store_run_together(root: Path) -> None:
    with (
        ServerProcess(root, ["--workers", "1"]) as a,
        ServerProcess(root, ["--workers", "1"]) as b,
    ):
        assert lock(a.url + "doc.txt").status_code == 200
        assert requests.put(b.url + "doc.txt", data=b"bob", timeout=10).status_code == 423


def test_a_read_only_server_starts_beside_any(root: Path, tmp_path: Path) -> None:
    with ServerProcess(root, ["--lock-store", "memory://"]) as a:
        recorded = os.getxattr(root, XATTR)
        with ServerProcess(root, ["--readonly"]) as reader:
            assert requests.get(reader.url + "doc.txt", timeout=10).content == b"v1"
        assert os.getxattr(root, XATTR) == recorded  # it recorded nothing
        assert requests.get(a.url, timeout=10).status_code == 200


def test_stopping_every_server_switches_the_store(root: Path, tmp_path: Path) -> None:
    with ServerProcess(root, ["--lock-store", "memory://"]):
        pass
    other = ["--state-dir", str(tmp_path / "elsewhere"), "--workers", "1"]
    with ServerProcess(root, other) as b:
        assert "replaces memory://" in b.stderr()
        assert lock(b.url + "doc.txt").status_code == 200
        refused(root)  # the default state directory is now the other store


def test_check_config_reports_it(root: Path, tmp_path: Path) -> None:
    config = tmp_path / "davserver.yaml"
    config.write_text(f"root: {root}\nlock_store: 'memory://'\n")
    with ServerProcess(root, ["--workers", "1"]):
        result = run_davserver("check-config", str(config))
        assert result.returncode != 0
        assert "is served by running davservers whose lock store is" in result.stderr
    assert run_davserver("check-config", str(config)).returncode == 0


def test_redis_servers_share_a_root_and_another_prefix_is_refused(
    root: Path, tmp_path: Path
) -> None:
    with RedisServer(tmp_path / "redis") as redis:
        store = ["--lock-store", redis.url, "--workers", "1"]
        with ServerProcess(root, store) as a, ServerProcess(root, store) as b:
            assert lock(a.url + "doc.txt").status_code == 200
            assert requests.put(b.url + "doc.txt", data=b"x", timeout=10).status_code == 423
            refused(root, "--lock-store", redis.url + "?prefix=other:")
            refused(root)  # SQLite beside Redis
