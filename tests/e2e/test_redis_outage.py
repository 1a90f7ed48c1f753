"""A Redis outage under running servers: reads go on, writes wait.

What an operator relies on, with real processes (davserver with its workers,
redis-server killed by its PID and started again on its data):

* while Redis is away, PROPFIND allprop (Depth 1) answers 207 with every live
  property 200 and ``DAV:lockdiscovery`` in a 503 propstat, the browser listing
  answers 200 saying the lock state is unknown, GET of a file works;
* writes answer 503 with Retry-After and change nothing on disk;
* ``/readyz`` answers 503 while ``/readyz?reads`` answers 200 saying writes are off;
* Redis back: the lock holder's PUT works, the lock shows again, ``/readyz`` is
  200; a restart of the server then succeeds and still knows the lock;
* a Redis that hangs (SIGSTOP) is waited for by one request, not by every read:
  ``/readyz?reads`` answers within ``ready_probe_timeout``, the next reads and
  the refused writes at once.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from lxml import etree

from tests.e2e.test_observability import wait_for
from tests.support.redis import RedisServer
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

D = "{DAV:}"
OK = "HTTP/1.1 200 OK"
UNAVAILABLE = "HTTP/1.1 503 Service Unavailable"
OWNER = "outage-owner@example.org"
LOCKINFO = (
    '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
    "</D:lockscope><D:locktype><D:write/></D:locktype>"
    f"<D:owner><D:href>{OWNER}</D:href></D:owner></D:lockinfo>"
).encode()


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


def lock(url: str) -> str:
    answer = requests.request(
        "LOCK", url, data=LOCKINFO, headers={"Timeout": "Second-600", "Depth": "0"}, timeout=10
    )
    assert answer.status_code in (200, 201), answer.text
    return answer.headers["Lock-Token"].strip("<>")


def allprop(url: str) -> dict[str, dict[str, list[str]]]:
    """Depth 1 allprop: for each href, the property names by propstat status."""
    answer = requests.request("PROPFIND", url, headers={"Depth": "1"}, timeout=30)
    assert answer.status_code == 207, (answer.status_code, answer.text)
    found: dict[str, dict[str, list[str]]] = {}
    for response in etree.fromstring(answer.content).iter(D + "response"):
        assert response.find(D + "status") is None, etree.tostring(response)
        statuses = found.setdefault(response.findtext(D + "href"), {})
        for propstat in response.iter(D + "propstat"):
            names = [child.tag for child in propstat.find(D + "prop")]
            statuses.setdefault(propstat.findtext(D + "status"), []).extend(names)
    return found


def tokens(url: str) -> list[str]:
    body = (
        b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/>'
        b"</D:prop></D:propfind>"
    )
    answer = requests.request("PROPFIND", url, data=body, headers={"Depth": "0"}, timeout=30)
    assert answer.status_code == 207, answer.text
    tree: Any = etree.fromstring(answer.content)
    return [href.text for href in tree.iterfind(f".//{D}locktoken/{D}href")]


def readyz(url: str, query: str = "") -> requests.Response:
    return requests.get(url + "readyz" + query, timeout=30)


def check_reads_while_down(server: ServerProcess, root: Path) -> None:
    listed = allprop(server.url)
    assert set(listed) == {"/", "/doc.txt", "/sub/"}
    for href, statuses in listed.items():
        assert set(statuses) == {OK, UNAVAILABLE}, (href, statuses)
        assert D + "getlastmodified" in statuses[OK], href
        assert statuses[UNAVAILABLE] == [D + "lockdiscovery"], href
    page = requests.get(server.url, timeout=30)
    assert page.status_code == 200, page.text
    assert "Lock state unknown" in page.text and OWNER not in page.text
    assert page.text.count("lock state unknown") == 2  # one per row
    file = requests.get(server.url + "doc.txt", timeout=30)
    assert (file.status_code, file.content) == (200, b"v1")


def check_writes_refused(server: ServerProcess, root: Path, token: str) -> None:
    for headers in ({}, {"If": f"(<{token}>)"}):
        answer = requests.put(server.url + "doc.txt", data=b"v2", headers=headers, timeout=30)
        assert answer.status_code == 503, (answer.status_code, answer.text)
        assert int(answer.headers["Retry-After"]) > 0
        assert "lock store" in answer.text
    assert (root / "doc.txt").read_bytes() == b"v1"


def test_redis_outage_reads_work_writes_wait(tmp_path: Path, redis: RedisServer) -> None:
    root = tmp_path / "share"
    root.mkdir()
    (root / "doc.txt").write_bytes(b"v1")
    (root / "sub").mkdir()
    args = ["--lock-store", redis.url]
    with ServerProcess(root, args, foreign_entries=False) as server:
        # A pristine root: the listing's rows are exactly doc.txt and sub/.
        token = lock(server.url + "doc.txt")
        assert OWNER in requests.get(server.url, timeout=10).text
        redis.kill()  # by its PID, as a crash
        check_reads_while_down(server, root)
        check_writes_refused(server, root, token)
        strict = readyz(server.url)
        assert strict.status_code == 503 and "lock store unreachable" in strict.text
        reads = readyz(server.url, "?reads")
        assert reads.status_code == 200
        state = json.loads(reads.text)
        assert (state["status"], state["reads"], state["writes"]) == ("degraded", True, False)
        assert "lock store unreachable" in state["reason"]

        redis.start()  # on its data: the lock is still there
        put = requests.put(
            server.url + "doc.txt", data=b"v2", headers={"If": f"(<{token}>)"}, timeout=30
        )
        assert put.status_code == 204, put.text
        assert (root / "doc.txt").read_bytes() == b"v2"
        assert OWNER in requests.get(server.url, timeout=10).text
        assert tokens(server.url + "doc.txt") == [token]
        assert readyz(server.url).status_code == 200
        assert json.loads(readyz(server.url, "?reads").text)["writes"] is True
    assert server.proc is not None and server.proc.returncode == 0
    with ServerProcess(root, args, foreign_entries=False) as again:
        assert tokens(again.url + "doc.txt") == [token]
        assert requests.put(again.url + "doc.txt", data=b"v3", timeout=10).status_code == 423
    assert (root / "doc.txt").read_bytes() == b"v2"


def timed(call: Callable[[], requests.Response]) -> tuple[requests.Response, float]:
    began = time.monotonic()
    answer = call()
    return answer, time.monotonic() - began


def test_a_hanging_redis_is_waited_for_once_not_by_every_read(
    tmp_path: Path, redis: RedisServer
) -> None:
    """SIGSTOP: connections open but nothing answers (the client's timeout is 2 x 5 s)."""
    root = tmp_path / "share"
    root.mkdir()
    (root / "doc.txt").write_bytes(b"v1")
    config = tmp_path / "davserver.yaml"
    settings = {"workers": 1, "lock_store": redis.url, "ready_probe_timeout": 1}
    config.write_text(yaml.safe_dump(settings))
    with ServerProcess(root, ["--config", str(config)], foreign_entries=False) as server:
        token = lock(server.url + "doc.txt")
        assert redis.proc is not None
        os.kill(redis.proc.pid, signal.SIGSTOP)
        try:
            reads, took = timed(lambda: readyz(server.url, "?reads"))
            assert took < 3, f"/readyz?reads took {took:.1f} s"  # not the client's 10 s
            assert (reads.status_code, json.loads(reads.text)["writes"]) == (200, False)
            assert "no answer within 1 s" in json.loads(reads.text)["reason"]
            assert allprop(server.url)["/doc.txt"][UNAVAILABLE] == [D + "lockdiscovery"]
            # That read waited for the store and found it hanging: the next ones do not.
            listing, took = timed(lambda: requests.get(server.url, timeout=30))
            assert listing.status_code == 200 and "Lock state unknown" in listing.text
            assert took < 1, f"the listing took {took:.1f} s"
            put, took = timed(lambda: requests.put(server.url + "doc.txt", data=b"x", timeout=30))
            assert put.status_code == 503 and int(put.headers["Retry-After"]) > 0
            assert took < 1, f"the refused PUT took {took:.1f} s"
        finally:
            os.kill(redis.proc.pid, signal.SIGCONT)

        def holder_writes() -> bool:
            headers = {"If": f"(<{token}>)"}
            put = requests.put(server.url + "doc.txt", data=b"v2", headers=headers, timeout=30)
            return put.status_code == 204

        wait_for(holder_writes, "a write once Redis answers again", timeout=30)
        assert tokens(server.url + "doc.txt") == [token]
    assert (root / "doc.txt").read_bytes() == b"v2"
