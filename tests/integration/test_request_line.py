"""The request line's fast path (one regular expression) and cheroot's parser agree.

Most request lines are taken apart by ``FAST_REQUEST_LINE``; the others go to
cheroot's ``read_request_line``.  Whatever the line, the request must come out
the same (method, target, path, query, protocols) or be refused the same way.
"""

from __future__ import annotations

import io
import re
import socket
from typing import Any

import pytest
from cheroot import wsgi
from hypothesis import given, settings
from hypothesis import strategies as st

from davserver.http import HttpLimits
from davserver.http import cheroot_request as http_request
from davserver.http.cheroot_request import DavHTTPRequest
from davserver.http.gateway import DavGateway
from davserver.http.reader import SocketReader

NEVER = re.compile(rb"(?!)")  # matches nothing: every line goes to cheroot's parser


class _Server:
    limits = HttpLimits()
    tls_context = None
    ssl_adapter = None
    protocol = "HTTP/1.1"
    server_name = "test"
    software = "davserver-test"
    bind_addr = ("127.0.0.1", 8080)
    max_request_body_size = 0

    def __init__(self) -> None:
        self.refusals: list[tuple[str, str]] = []

    def refused(self, client: str, method: str, target: str, status: str, reason: str) -> None:
        self.refusals.append((status, reason))


class _Conn:
    remote_addr = "127.0.0.1"
    remote_port = 40000
    ssl_env = None
    linger = False
    environ_base = None

    def __init__(self, rfile: SocketReader):
        self.rfile = rfile
        self.wfile = io.BytesIO()


def parse_head(head: bytes, *, eof: bool = False) -> tuple[DavHTTPRequest, _Server, _Conn]:
    """``head`` sent over a socket pair and parsed by ``DavHTTPRequest.parse_request``;
    ``eof``: the client closes after it (the whole stream is buffered first)."""
    client, server_end = socket.socketpair()
    with client, server_end:
        client.sendall(head)
        if eof:
            client.shutdown(socket.SHUT_WR)
        reader = SocketReader(server_end)
        reader.fill()
        while eof and not reader.eof:
            reader.fill()
        server, conn = _Server(), _Conn(reader)
        request = DavHTTPRequest(server, conn)
        request.parse_request()
    return request, server, conn


def parsed(head: bytes, fast: bool, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What ``parse_request`` made of ``head``: the request's attributes, or the refusal."""
    if not fast:
        monkeypatch.setattr(http_request, "FAST_REQUEST_LINE", NEVER)
        monkeypatch.setattr(http_request, "FAST_HEAD", NEVER)
    try:
        request, server, conn = parse_head(head, eof=True)
        names = ("method", "uri", "path", "qs", "request_protocol", "response_protocol")
        seen: dict[str, Any] = {"ready": request.ready, "refusals": server.refusals}
        answer = conn.wfile.getvalue()
        seen["answer"] = answer.split(b"\r\n", 1)[0]  # the status line (the Date varies)
        if request.ready:
            seen.update((name, getattr(request, name)) for name in names)
            seen["authority"] = getattr(request, "authority", b"")
            seen["headers"] = dict(request.inheaders)
        return seen
    finally:
        monkeypatch.undo()


@pytest.mark.parametrize(
    "line",
    [
        b"GET / HTTP/1.1",
        b"PROPFIND /a/b%20c/ HTTP/1.1",
        b"PUT /a%2Fb/%2fc%41 HTTP/1.1",
        b"GET /x?y=1&z=%20?w HTTP/1.0",
        b"GET /x? HTTP/1.1",
        b"OPTIONS * HTTP/1.1",
        b"GET //evil/x HTTP/1.1",
        b"GET /a#frag HTTP/1.1",
        b"get / HTTP/1.1",
        b"VERSION-CONTROL /a HTTP/1.1",
        b"GET http://localhost/a HTTP/1.1",
        b"GET /a HTTP/1.2",
        b"GET /a HTTP/2.0",
        b"GET /a\xe9 HTTP/1.1",
        b"GET  /a HTTP/1.1",
        b"GET /a HTTP/1.1 ",
    ],
)
def test_fast_and_cheroot_parsers_agree(line: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    head = line + b"\r\nHost: localhost\r\n\r\n"
    assert parsed(head, True, monkeypatch) == parsed(head, False, monkeypatch)


def test_common_lines_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path is taken (cheroot's parser is not called) and gives the usual
    values: the path percent-decoded except for an encoded slash, the query as is."""
    called: list[bool] = []
    original = http_request.cheroot_server.HTTPRequest.read_request_line

    def spy(self: Any) -> Any:
        called.append(True)
        return original(self)

    monkeypatch.setattr(http_request.cheroot_server.HTTPRequest, "read_request_line", spy)
    request, _, _ = parse_head(b"LOCK /a%20b/%2Fc?x=%20 HTTP/1.1\r\nHost: h\r\n\r\n")
    assert request.ready and not called
    assert (request.method, request.path, request.qs) == (b"LOCK", b"/a b/%2Fc", b"x=%20")
    assert (request.uri, request.response_protocol) == (b"/a%20b/%2Fc?x=%20", "HTTP/1.1")


LINE_BYTES = st.sampled_from(
    [b"G", b"e", b"/", b"//", b"%", b"%2F", b"%41", b"?", b"#", b" ", b"\t", b":", b"*", b"\xff"]
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([b"GET", b"PUT", b"get", b"M-X", b""]),
    st.lists(LINE_BYTES, max_size=10).map(b"".join),
    st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/1.9", b"HTTP/0.9", b"HTTP/1", b"http/1.1"]),
)
def test_any_request_line_parses_the_same(method: bytes, target: bytes, protocol: bytes) -> None:
    head = method + b" " + target + b" " + protocol + b"\r\nHost: h\r\n\r\n"
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast = parsed(head, True, monkeypatch)
        slow = parsed(head, False, monkeypatch)
    assert fast == slow


def test_environ_is_cheroots() -> None:
    """The gateway's own environ has exactly cheroot's keys and values, except that a
    header name with an underscore is dropped (it would pass for the hyphenated one)."""
    head = (
        b"PROPFIND /a%20b/c?q=1 HTTP/1.1\r\nHost: h:1\r\nContent-Type: text/xml\r\n"
        b"Content-Length: 0\r\nDepth: 1\r\nX-Odd_Name: v\xe9\r\nIf-Match: *\r\n\r\n"
    )
    request, _, _ = parse_head(head)
    assert request.ready
    ours, cheroots = DavGateway(request).env, wsgi.Gateway_10(request).env
    assert cheroots.pop("HTTP_X_ODD_NAME") == "v\xe9"
    assert ours == cheroots
    assert ours["PATH_INFO"] == "/a b/c" and "HTTP_X_ODD_NAME" not in ours
    assert ours["CONTENT_TYPE"] == "text/xml" and "HTTP_CONTENT_TYPE" not in ours
