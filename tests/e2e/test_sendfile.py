"""GET bodies go out by ``sendfile(2)`` on plain TCP: the bytes a client receives,
the access log's count of them, and what happens when the file shrinks mid-answer."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from davserver.dav.response import FileSpan, Response
from davserver.http.adapter import Streamed
from davserver.http.cheroot_request import DavHTTPRequest
from tests.support.server import ServerProcess
from tests.support.wsgi_server import serving

pytestmark = pytest.mark.e2e

SIZE = 24 * 1024 * 1024 + 7  # many sendfile rounds and socket buffers, one not full


def access_record(server: ServerProcess, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in server.stderr().splitlines():
            if line.startswith("{"):
                data = json.loads(line)
                if (
                    data.get("request_id") == request_id
                    and data.get("logger") == "davserver.access"
                ):
                    return data
        time.sleep(0.05)
    raise AssertionError(f"no access record for {request_id}")


def test_big_file_and_a_range_arrive_byte_exact_and_are_logged(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    content = os.urandom(SIZE)
    (root / "big.bin").write_bytes(content)
    with ServerProcess(root, ["--workers", "1", "--log-format", "json"]) as server:
        session = requests.Session()
        whole = session.get(server.url + "big.bin", timeout=30)
        assert whole.status_code == 200
        assert whole.headers["Content-Length"] == str(SIZE)
        assert hashlib.sha256(whole.content).digest() == hashlib.sha256(content).digest()

        start, end = 1_000_003, 9_437_183
        part = session.get(
            server.url + "big.bin", headers={"Range": f"bytes={start}-{end}"}, timeout=30
        )
        assert part.status_code == 206
        assert part.headers["Content-Range"] == f"bytes {start}-{end}/{SIZE}"
        assert part.content == content[start : end + 1]

        # HEAD: the length, no body; the kept-alive connection goes on after it.
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("HEAD", "/big.bin")
        head = conn.getresponse()
        assert (head.status, head.getheader("Content-Length"), head.read()) == (200, str(SIZE), b"")
        conn.request("GET", "/big.bin", headers={"Range": "bytes=-10"})
        tail = conn.getresponse()
        assert (tail.status, tail.read()) == (206, content[-10:])
        conn.close()
        # The same kept-alive connection goes on with the next request.
        after = session.request("PROPFIND", server.url, headers={"Depth": "1"}, timeout=10)
        assert after.status_code == 207

        logged = access_record(server, whole.headers["X-Request-Id"])
        assert (logged["method"], logged["status"], logged["bytes_out"]) == ("GET", 200, SIZE)
        logged = access_record(server, part.headers["X-Request-Id"])
        assert (logged["status"], logged["bytes_out"]) == (206, end + 1 - start)
    assert (root / "big.bin").read_bytes() == content


class SpanApp:
    """Answers every request with ``count`` bytes of ``path`` from ``offset``,
    announcing ``count`` as the length, the way the GET handler does."""

    def __init__(self, path: Path, count: int, offset: int = 0):
        self.path, self.count, self.offset = path, count, offset
        self.closed = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Streamed:
        reader = open(self.path, "rb")  # noqa: SIM115 (closed with the answer)

        def close() -> None:
            reader.close()
            self.closed.set()

        start_response("200 OK", [("Content-Length", str(self.count))])
        span = FileSpan(reader, self.offset, self.count)
        return Streamed(Response(200, body=span, on_close=close), span)


@pytest.fixture
def sendfile_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many bytes each ``send_file`` call was asked for."""
    calls: list[int] = []
    original = DavHTTPRequest.send_file

    def spy(self: DavHTTPRequest, span: Any) -> None:
        calls.append(span.count)
        original(self, span)

    monkeypatch.setattr(DavHTTPRequest, "send_file", spy)
    return calls


def serve(app: Any) -> Iterator[int]:
    with serving(app, numthreads=2, timeout=10) as port:
        yield port


def read_answer(port: int, request: bytes) -> tuple[bytes, bytes, bool]:
    """Head, body and whether the server closed the connection after the body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, body = data.split(b"\r\n\r\n", 1)
        length = int(next(v for k, v in _headers(head) if k == b"content-length"))
        sock.settimeout(3)
        closed = False
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                closed = True
                break
            body += chunk
        return head, body, closed


def _headers(head: bytes) -> list[tuple[bytes, bytes]]:
    lines = head.split(b"\r\n")[1:]
    return [(k.strip().lower(), v.strip()) for k, v in (line.split(b":", 1) for line in lines)]


def test_file_span_goes_out_by_sendfile(tmp_path: Path, sendfile_calls: list[int]) -> None:
    path = tmp_path / "f.bin"
    content = os.urandom(3 * 1024 * 1024 + 11)
    path.write_bytes(content)
    app = SpanApp(path, count=len(content) - 100, offset=50)
    for port in serve(app):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(2):  # and the connection is kept for the next one
            conn.request("GET", "/f.bin")
            response = conn.getresponse()
            assert response.status == 200
            assert response.read() == content[50:-50]
            assert not response.will_close
        conn.close()
    assert sendfile_calls == [len(content) - 100] * 2
    assert app.closed.is_set()


def test_file_that_shrank_ends_the_connection_short(
    tmp_path: Path, sendfile_calls: list[int]
) -> None:
    """The length was promised before the file shrank: closing the connection is
    the only way to tell the client its copy is short, never padding it."""
    path = tmp_path / "f.bin"
    content = os.urandom(200_000)
    path.write_bytes(content)
    app = SpanApp(path, count=300_000)  # as if it lost 100,000 bytes since the stat
    for port in serve(app):
        head, body, closed = read_answer(port, b"GET /f.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        assert body == content
        assert closed, "the connection stayed open after a short answer"
        # The server goes on serving.
        path.write_bytes(content + os.urandom(100_000))
        head, body, closed = read_answer(port, b"GET /f.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        assert len(body) == 300_000 and body[:200_000] == content and not closed
    assert sendfile_calls == [300_000, 300_000]


def test_http_1_0_gets_the_whole_file_and_the_close(
    tmp_path: Path, sendfile_calls: list[int]
) -> None:
    path = tmp_path / "f.bin"
    content = os.urandom(70_000)
    path.write_bytes(content)
    for port in serve(SpanApp(path, count=len(content))):
        head, body, _ = read_answer(port, b"GET /f.bin HTTP/1.0\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and body == content
    assert sendfile_calls == [len(content)]
