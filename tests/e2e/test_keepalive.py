"""Kept-alive connections on our cheroot adaptation (davserver/http.py).

A worker keeps serving a connection whose next request follows quickly; these
tests pin down that this never starves other connections and that pipelined
and idle connections behave as HTTP/1.1 says.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.wsgi_server import serving

pytestmark = pytest.mark.e2e


def echo_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = environ["wsgi.input"].read()
    answer = f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']} {len(body)}".encode()
    start_response("200 OK", [("Content-Length", str(len(answer)))])
    return [answer]


@pytest.fixture
def one_thread_server() -> Iterator[int]:
    """One worker thread: any connection hogging it would starve the others."""
    with serving(echo_app, numthreads=1, timeout=10) as port:
        yield port


def test_busy_connection_does_not_starve_another(one_thread_server: int) -> None:
    stop = threading.Event()
    busy_count = [0]

    def busy() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", one_thread_server, timeout=10)
        while not stop.is_set():
            conn.request("PUT", "/busy", body=b"x" * 100)
            assert conn.getresponse().read() == b"PUT /busy 100"
            busy_count[0] += 1
        conn.close()

    hog = threading.Thread(target=busy)
    hog.start()
    try:
        time.sleep(0.2)
        other = http.client.HTTPConnection("127.0.0.1", one_thread_server, timeout=10)
        latencies = []
        for i in range(5):
            started = time.monotonic()
            other.request("GET", f"/other{i}")
            assert other.getresponse().read() == f"GET /other{i} 0".encode()
            latencies.append(time.monotonic() - started)
            time.sleep(0.05)  # idle between requests: the worker must not wait for us
        other.close()
    finally:
        stop.set()
        hog.join(10)
    assert busy_count[0] > 0
    assert max(latencies) < 2.0, latencies


def test_pipelined_requests_are_all_answered_in_order(one_thread_server: int) -> None:
    with socket.create_connection(("127.0.0.1", one_thread_server), timeout=10) as sock:
        requests = (
            b"".join(f"GET /p{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(5))
            + b"PUT /last HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
        )
        sock.sendall(requests)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    bodies = [part.split(b"\r\n\r\n", 1)[1][:20] for part in received.split(b"HTTP/1.1 200 OK")[1:]]
    assert [b.split(b"HTTP")[0] for b in bodies] == [
        *(f"GET /p{i} 0".encode() for i in range(5)),
        b"PUT /last 3",
    ]


def test_idle_keep_alive_connection_is_served_again_later(one_thread_server: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", one_thread_server, timeout=10)
    conn.request("GET", "/first")
    assert conn.getresponse().read() == b"GET /first 0"
    time.sleep(0.3)  # longer than the follow-up wait: back to cheroot's selector
    conn.request("GET", "/second")
    assert conn.getresponse().read() == b"GET /second 0"
    conn.close()
