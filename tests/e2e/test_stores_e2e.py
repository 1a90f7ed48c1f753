"""Persistent stores end to end: restarts, several workers, several servers, Redis outages."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from lxml import etree

from tests.e2e import litmus
from tests.support.redis import RedisServer
from tests.support.server import ServerProcess, run_davserver
from tests.support.tools import require_tool

pytestmark = pytest.mark.e2e

LOCKINFO = (
    b'<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
    b"</D:lockscope><D:locktype><D:write/></D:locktype><D:owner>tester</D:owner></D:lockinfo>"
)
PROPPATCH = (
    b'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:test:">'
    b"<D:set><D:prop><Z:color>blue</Z:color></D:prop></D:set></D:propertyupdate>"
)
DAV = "{DAV:}"


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis") as server:
        yield server


def lock(url: str, timeout: str = "Second-600", session: requests.Session | None = None) -> str:
    http = session or requests
    answer = http.request(
        "LOCK", url, data=LOCKINFO, headers={"Timeout": timeout, "Depth": "0"}, timeout=10
    )
    assert answer.status_code in (200, 201), answer.text
    return answer.headers["Lock-Token"].strip("<>")


def discovered_tokens(url: str) -> list[str]:
    body = b'<D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>'
    answer = requests.request("PROPFIND", url, data=body, headers={"Depth": "0"}, timeout=10)
    assert answer.status_code == 207
    tree = etree.fromstring(answer.content)
    return [e.text for e in tree.iter(f"{DAV}locktoken") for e in e.iter(f"{DAV}href")]


def color(url: str) -> str | None:
    body = (
        b'<D:propfind xmlns:D="DAV:"><D:prop><Z:color xmlns:Z="urn:test:"/></D:prop></D:propfind>'
    )
    answer = requests.request("PROPFIND", url, data=body, headers={"Depth": "0"}, timeout=10)
    element = etree.fromstring(answer.content).find(".//{urn:test:}color")
    return None if element is None else element.text


def check_survives_restart(root: Path, args: list[str]) -> None:
    with ServerProcess(root, args) as server:
        url = server.url + "doc.txt"
        token = lock(url)
        assert requests.request("PROPPATCH", url, data=PROPPATCH, timeout=10).status_code == 423
        answer = requests.request(
            "PROPPATCH", url, data=PROPPATCH, headers={"If": f"(<{token}>)"}, timeout=10
        )
        assert answer.status_code == 207
        short = lock(server.url + "short.txt", timeout="Second-1")
    time.sleep(1.2)
    with ServerProcess(root, args) as server:
        url = server.url + "doc.txt"
        assert discovered_tokens(url) == [token]
        assert color(url) == "blue"
        refused = requests.put(url, data=b"new", timeout=10)
        assert refused.status_code == 423
        assert (root / "doc.txt").read_bytes() == b""
        # the short lock expired while the server was down, and stays expired
        assert discovered_tokens(server.url + "short.txt") == []
        assert short
        assert requests.put(server.url + "short.txt", data=b"ok", timeout=10).status_code == 204
        ok = requests.put(url, data=b"new", headers={"If": f"(<{token}>)"}, timeout=10)
        assert ok.status_code == 204
    assert (root / "doc.txt").read_bytes() == b"new"


def test_sqlite_default_store_survives_restart(tmp_path: Path) -> None:
    check_survives_restart(tmp_path / "share", [])
    assert (tmp_path / "share" / ".davserver" / "locks.sqlite").is_file()


def test_redis_store_survives_restart(tmp_path: Path, redis: RedisServer) -> None:
    check_survives_restart(tmp_path / "share", ["--lock-store", redis.url])


def race_round(urls: list[str], clients: int, name: str) -> list[int]:
    """``clients`` threads LOCK the same new file at once, spread over ``urls``."""
    barrier = threading.Barrier(clients)
    statuses: list[int] = []

    def client(index: int) -> None:
        url = urls[index % len(urls)] + name
        barrier.wait()
        with requests.Session() as session:
            answer = session.request("LOCK", url, data=LOCKINFO, timeout=30)
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def assert_one_grant_per_round(urls: list[str], rounds: int = 200, clients: int = 16) -> None:
    for number in range(rounds):
        statuses = race_round(urls, clients, f"race-{number}.txt")
        granted = [s for s in statuses if s in (200, 201)]
        assert len(granted) == 1, f"round {number}: statuses {sorted(statuses)}"
        assert sorted(set(statuses) - {200, 201}) == [423], f"round {number}: {statuses}"


def test_sqlite_two_workers_grant_exactly_one_lock(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "share", ["--workers", "2"]) as server:
        assert "workers=2" in server.start_line
        assert_one_grant_per_round([server.url])


def test_two_servers_sharing_redis_grant_exactly_one_lock(
    tmp_path: Path, redis: RedisServer
) -> None:
    args = ["--lock-store", redis.url]
    root = tmp_path / "share"
    with ServerProcess(root, args) as first, ServerProcess(root, args) as second:
        assert_one_grant_per_round([first.url, second.url])
        token = lock(first.url + "shared.txt")
        assert requests.put(second.url + "shared.txt", data=b"x", timeout=10).status_code == 423
        assert discovered_tokens(second.url + "shared.txt") == [token]


def test_redis_outage_gives_503_then_recovers(tmp_path: Path, redis: RedisServer) -> None:
    root = tmp_path / "share"
    root.mkdir()
    (root / "keep.txt").write_bytes(b"keep")
    with ServerProcess(root, ["--lock-store", redis.url]) as server:
        url = server.url + "keep.txt"
        lock(server.url + "before.txt")
        redis.stop()
        for method, data in (("PUT", b"changed"), ("LOCK", LOCKINFO), ("DELETE", b"")):
            answer = requests.request(method, url, data=data, timeout=30)
            assert answer.status_code == 503, (method, answer.status_code, answer.text)
            assert int(answer.headers["Retry-After"]) > 0
        assert (root / "keep.txt").read_bytes() == b"keep"
        assert requests.get(url, timeout=10).content == b"keep"  # reads need no lock state
        redis.start()
        assert requests.put(url, data=b"after", timeout=30).status_code == 204
        assert lock(server.url + "after.txt")
    assert (root / "keep.txt").read_bytes() == b"after"


def test_redis_unreachable_at_start(tmp_path: Path) -> None:
    from tests.support.redis import free_port

    result = run_davserver(
        "serve",
        str(tmp_path / "r"),
        "--port",
        "0",
        "--lock-store",
        f"redis://127.0.0.1:{free_port()}/0",
    )
    assert result.returncode == 1
    assert "redis" in result.stderr.lower()


def test_admin_cli_lists_and_breaks_locks_of_a_running_server(tmp_path: Path) -> None:
    root = tmp_path / "share"
    store = f"sqlite://{root / '.davserver' / 'locks.sqlite'}"
    with ServerProcess(root) as server:
        token = lock(server.url + "a.txt")

        def admin(*args: str) -> subprocess.CompletedProcess[str]:
            return run_davserver("locks", *args, "--lock-store", store)

        listed = admin("list")
        assert listed.returncode == 0
        assert "/a.txt" in listed.stdout and "exclusive" in listed.stdout
        assert "tester" in listed.stdout
        assert token in admin("list", "--json").stdout
        assert admin("list", "--path", "/other").stdout.strip() == "no active locks"
        broken = admin("break", token, "--reason", "test")
        assert broken.returncode == 0 and token in broken.stdout
        assert requests.put(server.url + "a.txt", data=b"free", timeout=10).status_code == 204
        assert admin("break", token, "--reason", "test").returncode == 1
        lock(server.url + "d1.txt")
        lock(server.url + "d2.txt")
        breaking = admin("break", "--path", "/", "--recursive", "--reason", "test")
        assert breaking.stdout.count("removed") == 2


def test_memory_store_with_workers_is_refused(tmp_path: Path) -> None:
    result = run_davserver(
        "serve",
        str(tmp_path / "r"),
        "--port",
        "0",
        "--workers",
        "2",
        "--lock-store",
        "memory://",
    )
    assert result.returncode == 2
    assert "memory://" in result.stderr


@pytest.mark.parametrize("mode", ["workers", "redis"])
def test_litmus_with_workers_and_with_redis(
    tmp_path: Path, mode: str, request: pytest.FixtureRequest
) -> None:
    binary = require_tool("litmus")
    if mode == "workers":
        args = ["--workers", "2"]
    else:
        args = ["--lock-store", request.getfixturevalue("redis").url]
    with ServerProcess(tmp_path / "share", args) as server:
        report = litmus.run(binary, server.url)
    assert not report.failed, report.failed
    assert not report.warnings, report.warnings
    assert report.suites_passed == list(litmus.SUITES)
