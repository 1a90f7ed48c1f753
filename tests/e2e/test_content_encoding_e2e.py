"""A PUT in a content coding is refused before its body is sent."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e


def test_gzip_put_gets_415_without_100_continue(live_server: ServerProcess) -> None:
    url = urlsplit(live_server.url)
    head = (
        "PUT /big.txt.gz HTTP/1.1\r\n"
        f"Host: {url.netloc}\r\n"
        "Content-Encoding: gzip\r\n"
        "Content-Length: 10000000\r\n"
        "Expect: 100-continue\r\n\r\n"
    )
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(head.encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    status_line, _, headers = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 415 "), answer
    assert b"\r\naccept-encoding: identity" in b"\r\n" + headers.lower()
    assert not (live_server.root / "big.txt.gz").exists()
