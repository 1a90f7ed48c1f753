"""Our read_request_headers gives cheroot's verdicts (with its 100 Continue
held back and any ``close`` token closing): the same for every head here."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from cheroot import server as cheroot_server

from davserver.http.cheroot_request import CONTINUE_SUFFIX, DavHTTPRequest
from tests.integration.test_request_line import _Server, parse_head


def former(self: DavHTTPRequest) -> bool:
    """The former read_request_headers: cheroot's, its eager 100 Continue swallowed."""
    wfile = self.conn.wfile
    real_write = wfile.write

    def swallow_continue(data: bytes) -> Any:
        if data.endswith(CONTINUE_SUFFIX):
            self.continue_pending = True
            return len(data)
        return real_write(data)

    wfile.write = swallow_continue
    self.header_reader = self._read_headers  # type: ignore[assignment]  # cheroot calls it
    try:
        ok = bool(cheroot_server.HTTPRequest.read_request_headers(self))  # type: ignore[no-untyped-call]
    finally:
        del wfile.write
    tokens = self.inheaders.get(b"Connection", b"").lower().replace(b" ", b"").split(b",")
    if b"close" in tokens:
        self.close_connection = True
    return ok


FIELDS = [
    [],
    [b"Content-Length: 5"],
    [b"Content-Length: 5x"],
    [b"Content-Length: 99999999999"],
    [b"Transfer-Encoding: chunked"],
    [b"Transfer-Encoding: gzip, chunked"],
    [b"Transfer-Encoding: chunked, gzip"],
    [b"Transfer-Encoding: Chunked"],
    [b"Transfer-Encoding: chunked", b"Content-Length: 5"],
    [b"Connection: close"],
    [b"Connection: Keep-Alive"],
    [b"Connection: keep-alive"],
    [b"Connection: TE, close"],
    [b"Connection: Close"],
    [b"Expect: 100-continue", b"Content-Length: 5"],
    [b"Expect: 100-Continue", b"Content-Length: 5"],
    [b"Expect: 100-continue", b"Transfer-Encoding: chunked"],
    [b"Expect: 100-continue", b"Content-Length: 5", b"Connection: close"],
]
CASES = list(itertools.product([b"HTTP/1.1", b"HTTP/1.0"], FIELDS, [0, 4]))


def verdict(
    protocol: bytes, fields: list[bytes], most: int, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    monkeypatch.setattr(_Server, "max_request_body_size", most)
    head = b"PUT /a HTTP/1.1\r\nHost: x\r\n".replace(b"HTTP/1.1", protocol)
    head += b"".join(field + b"\r\n" for field in fields) + b"\r\n"
    request, server, conn = parse_head(head)
    seen = {
        name: getattr(request, name, None)
        for name in ("ready", "close_connection", "chunked_read", "continue_pending")
    }
    seen["inheaders"] = dict(request.inheaders)
    seen["answer"] = conn.wfile.getvalue().split(b"\r\n", 1)[0]
    seen["refusals"] = server.refusals
    return seen


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_the_same_verdict_as_cheroots(
    case: tuple[bytes, list[bytes], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = verdict(*case, monkeypatch)
    monkeypatch.setattr(DavHTTPRequest, "read_request_headers", former)
    assert ours == verdict(*case, monkeypatch)
