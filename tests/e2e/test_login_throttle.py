"""Login throttling across processes (issues 25 and 26): the limit is exactly
``auth_max_failures`` per address whichever worker or server answers, and the
guesses from one address never lock the user out of another."""

from __future__ import annotations

import base64
import http.client
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import USERS
from tests.support.redis import RedisServer
from tests.support.server import ServerProcess, children_of

pytestmark = pytest.mark.e2e

LIMIT = 10  # auth_max_failures' default
ATTACKER = "127.0.0.1"
ALICE = "127.0.0.2"  # loopback too: the server listens on 127.0.0.1, Basic is accepted


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


WRONG = basic("alice", "wrong")
RIGHT = basic("alice", USERS["alice"])


def serving_pid(server_port: int, client_port: int, pids: list[int]) -> int:
    """Which of ``pids`` holds the server side of the connection from ``client_port``
    (found through /proc: its socket inode, then the process with that inode)."""
    wanted = (f"0100007F:{server_port:04X}", f":{client_port:04X}")
    inodes = {
        fields[9]
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if (fields := line.split())[1] == wanted[0] and fields[2].endswith(wanted[1])
    }
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return pid
    return 0


def attempt(server: ServerProcess, auth: str, address: str, pids: list[int]) -> tuple[int, int]:
    """One GET on a fresh connection from ``address``: (status, pid that answered)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.source_address = (address, 0)
    try:
        conn.connect()
        assert conn.sock is not None
        client_port = conn.sock.getsockname()[1]
        deadline = time.monotonic() + 10
        while not (pid := serving_pid(server.port, client_port, pids)):
            if time.monotonic() > deadline:  # no worker accepted it: reported as pid 0
                break
            time.sleep(0.01)
        conn.request("GET", "/", headers={"Authorization": auth, "Connection": "close"})
        return conn.getresponse().status, pid
    finally:
        conn.close()


def refused_everywhere(server: ServerProcess, pids: list[int]) -> set[int]:
    """Attempts with the right password from the guessing address, on fresh
    connections until every process has answered one: each must be 429."""
    answered: set[int] = set()
    for _ in range(60):
        status, pid = attempt(server, RIGHT, ATTACKER, pids)
        assert status == 429, (status, pid)
        answered.add(pid)
        if answered >= set(pids):
            break
    return answered


@pytest.fixture
def two_workers(tmp_path: Path, htpasswd_file: Path) -> Iterator[ServerProcess]:
    args = ["--htpasswd", str(htpasswd_file), "--workers", "2"]
    with ServerProcess(tmp_path / "share", args) as server:
        yield server


def test_two_workers_refuse_the_failure_after_the_limit(two_workers: ServerProcess) -> None:
    assert two_workers.proc is not None
    workers = children_of(two_workers.proc.pid)
    assert len(workers) == 2
    statuses = [attempt(two_workers, WRONG, ATTACKER, workers)[0] for _ in range(LIMIT)]
    assert statuses == [401] * LIMIT
    # Whichever worker answers — including one that saw few of the failures itself.
    assert refused_everywhere(two_workers, workers) == set(workers)
    assert attempt(two_workers, WRONG, ATTACKER, workers)[0] == 429
    # alice, from her own address, logs in on both workers.
    answered = {attempt(two_workers, RIGHT, ALICE, workers) for _ in range(6)}
    assert {status for status, _ in answered} == {200}


def test_two_servers_sharing_redis_count_together(tmp_path: Path, htpasswd_file: Path) -> None:
    root = tmp_path / "share"
    with RedisServer(tmp_path / "redis") as redis:
        args = ["--htpasswd", str(htpasswd_file), "--lock-store", redis.url]
        with ServerProcess(root, args) as first, ServerProcess(root, args) as second:
            servers = [first, second]
            pids = [children_of(s.proc.pid) or [s.proc.pid] for s in servers if s.proc]
            statuses = [
                attempt(servers[n % 2], WRONG, ATTACKER, pids[n % 2])[0] for n in range(LIMIT)
            ]
            assert statuses == [401] * LIMIT  # five on each server
            for server, own in zip(servers, pids, strict=True):
                assert attempt(server, RIGHT, ATTACKER, own)[0] == 429
                assert attempt(server, RIGHT, ALICE, own)[0] == 200
