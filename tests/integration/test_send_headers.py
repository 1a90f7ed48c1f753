"""The answer's head made in one pass is the head cheroot's ``send_headers``
made (after our own rules), byte for byte, with the same connection verdicts."""

from __future__ import annotations

import io
import itertools
from typing import Any

import pytest
from cheroot import server as cheroot_server

from davserver.http import HttpLimits
from davserver.http import cheroot_request as http_request
from davserver.http.body import BodyError
from davserver.http.cheroot_request import DavHTTPRequest

DATE = b"Tue, 08 Dec 2026 02:00:00 GMT"


class _Server:
    limits = HttpLimits()
    tls_context = None
    ssl_adapter = None
    max_request_body_size = 0
    protocol = "HTTP/1.1"
    server_name = "test-server"
    timeout = 30

    def __init__(self, keep: bool):
        self.can_add_keepalive_connection = keep


class _Conn:
    linger = False

    def __init__(self) -> None:
        self.wfile = io.BytesIO()


class _Rest:
    """A request body cheroot would read to keep the connection (``remaining``)."""

    def __init__(self, remaining: int):
        self.remaining = remaining
        self.reads: list[int] = []

    def read(self, size: int) -> bytes:
        self.reads.append(size)
        self.remaining -= size
        return b"x" * size


def former(request: DavHTTPRequest) -> None:
    """The former send_headers: our rules, the Date, then cheroot's."""
    if request.body_error is not None:
        request._replace_answer(request.body_error)
    if any(
        name.lower() == b"connection" and b"close" in value.lower()
        for name, value in request.outheaders
    ):
        request.close_connection = True
    if not any(name.lower() == b"date" for name, _ in request.outheaders):
        request.outheaders.append((b"Date", http_request.http_date()))
    cheroot_server.HTTPRequest.send_headers(request)  # type: ignore[no-untyped-call]
    if request.replaced and request.method != b"HEAD":
        request.conn.wfile.write(request.body_error.reason.encode("utf-8") + b"\n")  # type: ignore[union-attr]


HEADERS = {
    "length": [(b"Content-Type", b"text/plain"), (b"Content-Length", b"5")],
    "none": [(b"Content-Type", b"text/plain")],
    "close": [(b"Content-Length", b"5"), (b"Connection", b"Close")],
    "keep": [(b"Connection", b"Keep-Alive")],
    "own date and server": [
        (b"Content-Length", b"0"),
        (b"date", b"Mon, 01 Jan 2024 00:00:00 GMT"),
        (b"Server", b"app"),
    ],
}
CASES = list(
    itertools.product(
        ("HTTP/1.1", "HTTP/1.0"),
        (b"GET", b"HEAD"),
        (b"200 OK", b"204 No Content", b"304 Not Modified", b"413 Too Large", b"101 Up"),
        sorted(HEADERS),
        (True, False),  # the manager has room for a kept-alive connection
        (None, 7),  # a body cheroot would read to keep the connection
        (False, True),  # the body broke: our answer replaces the application's
    )
)


def made(case: tuple[Any, ...], send: Any) -> tuple[Any, ...]:
    protocol, method, status, headers, keep, rest, broken = case
    conn = _Conn()
    request = DavHTTPRequest(_Server(keep), conn)
    request.response_protocol = protocol
    request.method = method
    request.status = status
    request.outheaders = list(HEADERS[headers])
    request.rfile = None if rest is None else _Rest(rest)  # type: ignore[assignment]
    if broken:
        request.body_error = BodyError("408 Request Timeout", "the body stalled")
    send(request)
    reads = request.rfile.reads if rest is not None else None  # type: ignore[attr-defined]
    return (
        conn.wfile.getvalue(),
        request.close_connection,
        request.chunked_write,
        request.conn.linger,
        reads,
    )


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_the_same_head_as_cheroots(case: tuple[Any, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_request, "http_date", lambda: DATE)
    assert made(case, DavHTTPRequest.send_headers) == made(case, former)
