"""No SIGBUS from the lock database's memory-mapped WAL index.

SQLite maps the ``-shm`` file of a WAL database into every process that uses
it: cut that file short (``truncate``) and the next access past its new end
killed the worker with SIGBUS, the request in flight dropped.  Now it is a store
fault: 503 with Retry-After and one WARNING per process, then the server
extends the file again, SQLite rebuilds the index, and locks work as before —
no worker dies, and a restart finds every lock.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import requests

from tests.backends.faults import immutable
from tests.support.server import ServerProcess, children_of

pytestmark = pytest.mark.e2e

LOCKINFO = (
    b'<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
    b"</D:lockscope><D:locktype><D:write/></D:locktype><D:owner>shm</D:owner></D:lockinfo>"
)
DEATHS = ("killed by", "exited with", "Fatal Python error", "died")


def lock(url: str) -> requests.Response:
    headers = {"Timeout": "Second-600", "Content-Type": "application/xml"}
    return requests.request("LOCK", url, data=LOCKINFO, headers=headers, timeout=10)


def workers(server: ServerProcess) -> set[int]:
    assert server.proc is not None
    return set(children_of(server.proc.pid))


def new_locks(server: ServerProcess, prefix: str, count: int) -> list[int]:
    """LOCK ``count`` unmapped URLs on fresh connections (both workers get some)."""
    return [lock(server.url + f"{prefix}-{n}.txt").status_code for n in range(count)]


def wait_until_locks_work(server: ServerProcess, prefix: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        answers = new_locks(server, f"{prefix}-{n}", 6)
        if answers == [201] * 6:
            return
        assert set(answers) <= {201, 503}, answers
        n += 1
        time.sleep(0.1)
    raise AssertionError(f"locks still refused after {seconds} s:\n{server.stderr()}")


def start(root: Path) -> ServerProcess:
    server = ServerProcess(root, ["--workers", "2"]).start()
    deadline = time.monotonic() + 10
    while len(workers(server)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    return server


def test_a_cut_shm_file_is_a_store_fault_not_a_dead_worker(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    (root / "doc.txt").write_bytes(b"v1")
    shm = root / ".davserver" / "locks.sqlite-shm"
    server = start(root)
    try:
        assert lock(server.url + "doc.txt").status_code == 200
        assert new_locks(server, "before", 6) == [201] * 6
        pids = workers(server)
        assert len(pids) == 2 and shm.stat().st_size > 0
        os.truncate(shm, 0)
        answers = new_locks(server, "cut", 6)
        assert 503 in answers and set(answers) <= {201, 503}, answers
        wait_until_locks_work(server, "after")
        put = requests.put(server.url + "doc.txt", data=b"bob", timeout=10)
        assert put.status_code == 423  # the lock taken before the cut holds
        assert workers(server) == pids
        log = server.stderr()
    finally:
        server.stop()
    assert not any(death in log for death in DEATHS), log
    assert 1 <= log.count("WARNING davserver.lockstore") <= 2, log  # one per worker
    assert "was cut to 0 bytes" in log
    assert (root / "doc.txt").read_bytes() == b"v1"
    with ServerProcess(root, ["--workers", "2"]) as again:
        put = requests.put(again.url + "doc.txt", data=b"bob", timeout=10)
        assert put.status_code == 423
        assert lock(again.url + "cut-again.txt").status_code == 201


def test_an_immutable_shm_file_kills_no_worker(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    shm = root / ".davserver" / "locks.sqlite-shm"
    server = start(root)
    try:
        assert new_locks(server, "before", 4) == [201] * 4
        pids = workers(server)
        with immutable(shm):
            answers = new_locks(server, "frozen", 6)
            assert answers == [503] * 6, answers
        wait_until_locks_work(server, "after")
        assert workers(server) == pids
        log = server.stderr()
    finally:
        server.stop()
    assert not any(death in log for death in DEATHS), log
    assert "immutable" in log
