"""Taking over a port at once from the server that used it before.

A server that closes connections first leaves them in TIME_WAIT on its port for
a minute; davserver must bind the port anyway (SO_REUSEADDR), whether the
previous server was another program (no SO_REUSEPORT) or a davserver.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
import requests

from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

TIME_WAIT = "06"  # the state column of /proc/net/tcp


def time_wait_on(port: int) -> int:
    """TCP sockets in TIME_WAIT whose local (server) side is 127.0.0.1:port."""
    local = f"0100007F:{port:04X}"
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        count += fields[1] == local and fields[3] == TIME_WAIT
    return count


def other_server_leaving_time_wait(connections: int = 3) -> int:
    """An HTTP/1.0 server like most (SO_REUSEADDR, no SO_REUSEPORT) that answers and
    closes first, as HTTP/1.0 says; its port is returned once it has stopped."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = int(listener.getsockname()[1])

    def serve() -> None:
        for _ in range(connections):
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")

    thread = threading.Thread(target=serve)
    thread.start()
    for _ in range(connections):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(b"GET / HTTP/1.0\r\n\r\n")
            while client.recv(65536):  # until the server has closed
                pass
    thread.join(10)
    listener.close()
    return port


def test_davserver_takes_the_port_of_another_server_at_once(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    port = other_server_leaving_time_wait()
    assert time_wait_on(port) > 0, "the test needs TIME_WAIT sockets on the server side"
    with ServerProcess(root, ["--port", str(port)]) as server:
        assert server.port == port
        assert requests.get(server.url, timeout=10).status_code == 200


def test_davserver_takes_the_port_of_a_stopped_davserver_at_once(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    (root / "f.txt").write_bytes(b"hello")
    with ServerProcess(root, ["--workers", "1"]) as first:
        port = first.port
        for _ in range(3):
            # HTTP/1.0 without keep-alive, read to the end: the server closes first, so
            # the TIME_WAIT is on its side (a client that closes first keeps it).
            with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
                client.sendall(b"GET /f.txt HTTP/1.0\r\n\r\n")
                answer = b""
                while chunk := client.recv(65536):
                    answer += chunk
            assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"hello")
    assert time_wait_on(port) > 0, "the test needs TIME_WAIT sockets on the server side"
    with ServerProcess(root, ["--port", str(port), "--workers", "1"]) as second:
        assert requests.get(second.url + "f.txt", timeout=10).content == b"hello"
