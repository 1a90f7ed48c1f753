"""Slow and idle clients (davserver/http/connection_manager.py): timeouts, the per-address cap,
and other clients served meanwhile.  Small timeouts via config keys keep this fast.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path

import pytest
import requests

from tests.e2e.test_http_framing import (
    OLD,
    assert_refused,
    connect,
    read_until_closed,
    request,
    start_server,
)
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

HEADER_TIMEOUT = 2
BODY_TIMEOUT = 0.5  # timeouts take fractions: a stalled body costs half a second
KEEPALIVE_TIMEOUT = 3
CONFIG = f"""
http:
  header_timeout: {HEADER_TIMEOUT}
  body_timeout: {BODY_TIMEOUT}
  keepalive_timeout: {KEEPALIVE_TIMEOUT}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("slow") / "share"
    root.mkdir()
    (root / "file.txt").write_bytes(OLD)
    running = start_server(root, CONFIG)
    try:
        yield running
    finally:
        running.stop()


@contextlib.contextmanager
def open_connections(
    server: ServerProcess, count: int, first: bytes = b""
) -> Iterator[list[socket.socket]]:
    """``count`` connections that sent ``first`` (maybe nothing) and then stay silent."""
    socks = []
    try:
        for _ in range(count):
            sock = connect(server)
            if first:
                sock.sendall(first)
            socks.append(sock)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def timed_get(server: ServerProcess, path: str = "file.txt") -> float:
    started = time.monotonic()
    response = requests.get(server.url + path, timeout=10)
    assert response.status_code == 200
    assert response.content == OLD
    return time.monotonic() - started


def get_when_slot_frees(server: ServerProcess, within: float) -> int:
    """The status of a GET, retried while the server still answers 503 (it frees a
    slot when its selector sees the client's close, a moment after it happens)."""
    deadline = time.monotonic() + within
    while True:
        try:
            status = requests.get(server.url + "file.txt", timeout=10).status_code
        except requests.ConnectionError:  # refused before the request was read
            status = 503
        if status != 503 or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def test_stalled_body_is_408_and_the_file_is_intact(server: ServerProcess) -> None:
    path = server.root / "stalled.txt"
    path.write_bytes(OLD)
    with connect(server) as sock:
        sock.sendall(request("PUT", "stalled.txt", "Host: x", "Content-Length: 100") + b"x" * 10)
        started = time.monotonic()
        answer = read_until_closed(sock, within=BODY_TIMEOUT + 5)
    assert_refused(answer, 408)
    assert BODY_TIMEOUT - 0.2 < time.monotonic() - started < BODY_TIMEOUT + 3
    assert path.read_bytes() == OLD


def test_stalled_chunked_body_is_408(server: ServerProcess) -> None:
    path = server.root / "stalled-chunked.txt"
    path.write_bytes(OLD)
    with connect(server) as sock:
        head = request("PUT", "stalled-chunked.txt", "Host: x", "Transfer-Encoding: chunked")
        sock.sendall(head + b"10\r\nabc")
        answer = read_until_closed(sock, within=BODY_TIMEOUT + 5)
    assert_refused(answer, 408)
    assert path.read_bytes() == OLD


def test_slow_head_is_408_after_the_header_timeout(server: ServerProcess) -> None:
    """A byte every half second does not extend the deadline (slowloris)."""
    with connect(server) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /file.txt HTTP/1.1\r\n")
        for byte in b"Host: x\r\nX-Slow: " + b"a" * 20:
            sock.sendall(bytes([byte]))
            if select.select([sock], [], [], 0.5)[0]:
                break  # the answer
        elapsed = time.monotonic() - started
        answer = read_until_closed(sock, within=3)
    assert_refused(answer, 408)
    assert HEADER_TIMEOUT - 0.5 < elapsed < HEADER_TIMEOUT + 1.5


def test_silent_new_connection_is_closed_after_the_header_timeout(server: ServerProcess) -> None:
    with connect(server) as sock:
        started = time.monotonic()
        answer = read_until_closed(sock, within=HEADER_TIMEOUT + 3)
    assert answer.closed and answer.data == b""  # nothing started: closed without an answer
    assert HEADER_TIMEOUT - 0.5 < time.monotonic() - started < HEADER_TIMEOUT + 2


def test_idle_keep_alive_connection_is_closed_after_its_timeout(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(request("GET", "file.txt", "Host: x"))
        buffer = b""
        while not buffer.endswith(OLD):
            buffer += sock.recv(65536)
        started = time.monotonic()
        answer = read_until_closed(sock, within=KEEPALIVE_TIMEOUT + 3)
    assert answer.closed and answer.data == b""
    assert KEEPALIVE_TIMEOUT - 0.5 < time.monotonic() - started < KEEPALIVE_TIMEOUT + 2


def test_keep_alive_connection_is_served_before_its_timeout(server: ServerProcess) -> None:
    with connect(server) as sock:
        for _ in range(2):
            sock.sendall(request("GET", "file.txt", "Host: x"))
            buffer = b""
            while not buffer.endswith(OLD):
                buffer += sock.recv(65536)
            time.sleep(HEADER_TIMEOUT + 0.5)  # longer than a head may take, shorter than idle


def test_40_idle_connections_do_not_block_others(server: ServerProcess) -> None:
    with open_connections(server, 40):
        time.sleep(0.3)
        assert timed_get(server) < 2


def test_40_slow_heads_do_not_block_others(server: ServerProcess) -> None:
    with open_connections(server, 40, b"GET /file.txt HTTP/1.1\r\nHost: x\r\n"):
        time.sleep(0.3)
        assert timed_get(server) < 2


def test_40_slow_bodies_do_not_block_others(server: ServerProcess) -> None:
    """Each holds a worker thread (16 at rest): the pool grows."""
    head = request("PUT", "slow-body.txt", "Host: x", "Content-Length: 1000")
    with open_connections(server, 40, head + b"x"):
        time.sleep(0.5)
        assert timed_get(server) < 2


def test_connections_per_address_are_capped(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    (root / "file.txt").write_bytes(OLD)
    running = start_server(root, "http: {max_connections_per_address: 8, keepalive_timeout: 120}\n")
    try:
        with answered_connections(running, 8) as held:
            # The server has counted all eight (each was answered and is kept alive),
            # so the ninth is refused whatever the machine's load.
            with connect(running) as extra:
                answer = read_until_closed(extra, within=10)
            assert_refused(answer, 503)
            held[0].close()  # one slot free again, once the server has seen the close
            assert get_when_slot_frees(running, within=10) == 200
    finally:
        running.stop()


@contextlib.contextmanager
def answered_connections(server: ServerProcess, count: int) -> Iterator[list[HTTPConnection]]:
    """``count`` kept-alive connections, each answered once: each is open and counted
    by the server from its answer on (unlike a silent connection, which the server
    may not have accepted yet).  A 503 means a connection the test closed before
    (the start-up probe's) was not yet seen closed: that slot is retried."""
    held: list[HTTPConnection] = []
    deadline = time.monotonic() + 10
    try:
        while len(held) < count:
            conn = HTTPConnection("127.0.0.1", server.port, timeout=10)
            conn.request("GET", "/file.txt")
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                held.append(conn)
                continue
            conn.close()
            assert response.status == 503 and time.monotonic() < deadline, response.status
            time.sleep(0.05)  # poll: the server frees the slot once it sees the close
        yield held
    finally:
        for conn in held:
            conn.close()


def test_server_stops_promptly_with_waiting_connections(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    running = start_server(root, CONFIG)
    with open_connections(running, 20), open_connections(running, 5, b"GET / HTTP/1.1\r\n"):
        time.sleep(0.3)
        started = time.monotonic()
        assert running.stop() == 0
        assert time.monotonic() - started < 5


def test_concurrent_gets_while_slow_heads_wait(server: ServerProcess) -> None:
    """Many clients at once, with slow heads around: every GET answered."""
    failures: list[BaseException] = []

    def client() -> None:
        try:
            for _ in range(5):
                timed_get(server)
        except BaseException as exc:  # reported below
            failures.append(exc)

    with open_connections(server, 30, b"PROPFIND / HTTP/1.1\r\n"):
        threads = [threading.Thread(target=client) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert not failures, failures
