"""A Redis primary dies under davserver: Sentinel promotes a replica and davserver follows.

A primary, two replicas and three sentinels (quorum 2) on 127.0.0.1; davserver
with two workers on ``redis+sentinel://`` (so every lock change waits for one
replica).  Locks are taken, the primary is SIGKILLed while several clients race
for other resources, and after the failover every lock still holds, the
holders write and unlock with their tokens, no resource was ever granted
twice, and a restarted davserver starts on the new primary.  In between,
requests get 503 with Retry-After (they are repeated until a deadline).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from lxml import etree

from tests.support.redis_sentinel import SentinelDeployment
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

DEADLINE_S = 45.0  # a failover here takes seconds; this bounds a broken one
RACERS = 6
RACED = [f"race{n}.txt" for n in range(4)]


def lockinfo(scope: str) -> bytes:
    return (
        f'<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:{scope}/>'
        "</D:lockscope><D:locktype><D:write/></D:locktype><D:owner>t</D:owner></D:lockinfo>"
    ).encode()


def request(method: str, url: str, **kwargs: object) -> requests.Response:
    """``method`` on ``url``, repeated while the lock store is failing over (503,
    which must carry Retry-After), until :data:`DEADLINE_S`."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        answer = requests.request(method, url, timeout=15, **kwargs)  # type: ignore[arg-type]
        if answer.status_code != 503:
            return answer
        assert answer.headers.get("Retry-After", "").isdigit(), answer.headers
        assert time.monotonic() < deadline, f"{method} {url}: still 503: {answer.text}"
        time.sleep(0.05)


def lock(url: str, scope: str = "exclusive", depth: str = "0") -> str:
    answer = request("LOCK", url, data=lockinfo(scope), headers={"Depth": depth})
    assert answer.status_code in (200, 201), answer.text
    return answer.headers["Lock-Token"].strip("<>")


def discovered(url: str) -> set[str]:
    body = b'<D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>'
    answer = request("PROPFIND", url, data=body, headers={"Depth": "0"})
    assert answer.status_code == 207, answer.text
    tree = etree.fromstring(answer.content)
    return {h.text for t in tree.iter("{DAV:}locktoken") for h in t.iter("{DAV:}href")}


def assert_locked(answer: requests.Response, precondition: str) -> None:
    assert answer.status_code == 423, (answer.status_code, answer.text)
    assert precondition in answer.text


class Race:
    """Clients that each LOCK every raced resource once (exclusive) until answered
    200 or 423; they record every grant."""

    def __init__(self, base: str):
        self.base = base
        self.grants: dict[str, list[str]] = {name: [] for name in RACED}
        self.errors: list[BaseException] = []
        self._mutex = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(RACERS)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join(DEADLINE_S + 20)
            assert not thread.is_alive(), "a racing client hung"
        assert not self.errors, self.errors

    def _run(self) -> None:
        try:
            for name in random.sample(RACED, len(RACED)):
                answer = request("LOCK", self.base + name, data=lockinfo("exclusive"))
                assert answer.status_code in (200, 201, 423), (answer.status_code, answer.text)
                if answer.status_code != 423:
                    with self._mutex:
                        self.grants[name].append(answer.headers["Lock-Token"].strip("<>"))
        except BaseException as exc:  # reported by join()
            self.errors.append(exc)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[SentinelDeployment]:
    with SentinelDeployment(tmp_path / "redis") as nodes:
        yield nodes


def share(root: Path) -> Path:
    (root / "folder").mkdir(parents=True)
    (root / "doc.txt").write_bytes(b"v1")
    (root / "folder" / "a.txt").write_bytes(b"a1")
    (root / "shared.txt").write_bytes(b"s1")
    for name in RACED:
        (root / name).write_bytes(b"r")
    return root


def test_locks_hold_across_a_failover_and_none_is_granted_twice(
    tmp_path: Path, deployment: SentinelDeployment
) -> None:
    root = share(tmp_path / "share")
    args = ["--lock-store", deployment.url, "--workers", "2"]
    with ServerProcess(root, args) as server:
        base = server.url
        doc = lock(base + "doc.txt")
        folder = lock(base + "folder/", depth="infinity")
        shared = lock(base + "shared.txt", scope="shared")
        race = Race(base)
        old = deployment.kill_primary()
        race.start()  # the clients race while the sentinels notice and fail over
        during = requests.put(base + "unlocked.txt", data=b"u", timeout=15)
        if during.status_code != 503:  # only if the failover was quicker than this PUT
            assert deployment.primary_port() != old.port, during.status_code
        assert during.status_code in (503, 201), during.text
        assert during.status_code == 201 or during.headers["Retry-After"].isdigit()
        deployment.await_failover(old)
        race.join()

        for name, tokens in race.grants.items():
            assert len(tokens) == 1, f"{name} granted {len(tokens)} times"
            assert discovered(base + name) == set(tokens)
        assert_locked(request("PUT", base + "doc.txt", data=b"x"), "lock-token-submitted")
        assert_locked(request("PUT", base + "folder/new.txt", data=b"x"), "lock-token-submitted")
        assert_locked(request("DELETE", base + "folder/a.txt"), "lock-token-submitted")
        for name, scope in (("doc.txt", "exclusive"), ("shared.txt", "exclusive")):
            refused = request("LOCK", base + name, data=lockinfo(scope))
            assert_locked(refused, "no-conflicting-lock")
        assert discovered(base + "shared.txt") == {shared}

        put = request("PUT", base + "doc.txt", data=b"v2", headers={"If": f"(<{doc}>)"})
        assert put.status_code == 204, put.text
        assert (root / "doc.txt").read_bytes() == b"v2"
        put = request("PUT", base + "folder/new.txt", data=b"n", headers={"If": f"(<{folder}>)"})
        assert put.status_code == 201, put.text
        assert (root / "folder" / "new.txt").read_bytes() == b"n"
        unlock = request("UNLOCK", base + "doc.txt", headers={"Lock-Token": f"<{doc}>"})
        assert unlock.status_code == 204, unlock.text
        assert request("PUT", base + "doc.txt", data=b"v3").status_code == 204
        assert (root / "doc.txt").read_bytes() == b"v3"

    with ServerProcess(root, args) as server:  # a restart on the new primary
        assert discovered(server.url + "folder/") == {folder}
        unlock = request("UNLOCK", server.url + "folder/", headers={"Lock-Token": f"<{folder}>"})
        assert unlock.status_code == 204, unlock.text
        assert request("PUT", server.url + "folder/new.txt", data=b"m").status_code == 204
