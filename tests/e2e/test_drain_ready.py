"""SIGTERM with ``drain_ready_grace``: the server says "draining" on
``/readyz`` while it goes on serving, then its port closes and what was in flight
finishes.

What an operator relies on: a load balancer probing ``/readyz`` sees 503 from
every worker as soon as the stop begins, while requests it still sends are
served for the grace period; the port closes only then, an upload in flight
completes, and the process exits 0.  A second SIGTERM ends the grace at once.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

import pytest
import requests
import yaml

from tests.e2e.test_observability import wait_for
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

BODY = b"0123456789" * 10_000


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def serve(tmp_path: Path, workers: int, grace: float) -> ServerProcess:
    root = tmp_path / "share"
    root.mkdir()
    (root / "file.txt").write_bytes(b"still served")
    config = tmp_path / "davserver.yaml"
    config.write_text(yaml.safe_dump({"workers": workers, "drain_ready_grace": grace}))
    return ServerProcess(root, ["--config", str(config)]).start()


def upload_in_flight(port: int) -> socket.socket:
    """A PUT whose handler is reading its body (the server asked for it with
    ``100 Continue``), half of which has been sent."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    head = (
        f"PUT /slow.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(BODY)}\r\n"
        "Expect: 100-continue\r\n\r\n"
    )
    sock.sendall(head.encode())
    interim = sock.recv(1024)
    assert interim.startswith(b"HTTP/1.1 100"), interim
    sock.sendall(BODY[: len(BODY) // 2])
    return sock


def finish_upload(sock: socket.socket) -> str:
    sock.sendall(BODY[len(BODY) // 2 :])
    answer = sock.recv(65536).decode()
    sock.close()
    return answer


def readyz(url: str, query: str = "") -> requests.Response:
    # A new connection each time: with workers, any of them may answer.
    with requests.Session() as session:
        return session.get(url + "readyz" + query, timeout=10, headers={"Connection": "close"})


def test_sigterm_says_draining_serves_on_for_the_grace_then_closes(tmp_path: Path) -> None:
    grace = 3.5
    server = serve(tmp_path, workers=1, grace=grace)
    try:
        assert readyz(server.url).text == "ready\n"  # a load balancer probes it
        upload = upload_in_flight(server.port)
        assert server.proc is not None
        signalled = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: "serving on for 3.5 s" in server.stderr(), "the stop log line")
        answer = readyz(server.url)
        assert (answer.status_code, answer.text) == (
            503,
            "not ready: draining: the server is stopping\n",
        )
        reads = readyz(server.url, "?reads")
        assert reads.status_code == 503 and json.loads(reads.text)["status"] == "draining"
        served = requests.get(server.url + "file.txt", timeout=10)  # a new request: served
        assert (served.status_code, served.content) == (200, b"still served")
        assert time.monotonic() - signalled < grace, "the checks took longer than the grace"
        wait_for(lambda: refused(server.port), "the port to close", timeout=grace + 10)
        assert time.monotonic() - signalled >= grace - 0.2  # not before the grace ended
        assert finish_upload(upload).startswith("HTTP/1.1 201"), "the upload in flight finished"
        assert server.proc.wait(15) == 0
    finally:
        server.stop()
    assert (tmp_path / "share" / "slow.bin").read_bytes() == BODY
    assert "stopped (SIGTERM)" in server.stderr()


def test_every_worker_says_draining_and_a_second_sigterm_ends_the_grace(tmp_path: Path) -> None:
    server = serve(tmp_path, workers=3, grace=120)
    try:
        assert readyz(server.url).status_code == 200
        assert server.proc is not None
        signalled = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: server.stderr().count("serving on for 120 s") == 3, "every worker")
        answers = [readyz(server.url) for _ in range(30)]  # spread over the workers
        assert {a.status_code for a in answers} == {503}
        assert {a.text for a in answers} == {"not ready: draining: the server is stopping\n"}
        for _ in range(6):
            served = requests.get(server.url + "file.txt", timeout=10)
            assert served.status_code == 200
        server.proc.send_signal(signal.SIGTERM)  # the operator does not want to wait
        wait_for(lambda: refused(server.port), "the port to close", timeout=20)
        assert server.proc.wait(20) == 0
        assert time.monotonic() - signalled < 60
    finally:
        server.stop()
