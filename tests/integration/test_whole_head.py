"""A head buffered whole is taken in one pass (``FAST_HEAD``: one match, one
``findall``), with the verdicts of the line-by-line reading: the same request,
the same refusal, the same bytes left for the next request."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from davserver.http import HttpLimits
from davserver.http import cheroot_request as http_request
from davserver.http.framing import (
    HeadReader,
    Refusal,
    _check_collected,
    check_request,
    parse_field,
)
from tests.integration.test_request_line import NEVER, _Server, parse_head

NEXT = b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"  # a pipelined request behind the head
SMALL = HttpLimits.model_construct(  # below the configurable minimums: not validated
    max_request_line=40, max_header_bytes=120, max_header_count=4, max_if_header_bytes=20
)


def parsed(head: bytes, one_pass: bool, limits: HttpLimits) -> dict[str, Any]:
    """What ``parse_request`` made of ``head`` (followed by a pipelined request)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(_Server, "limits", limits)
        if not one_pass:
            monkeypatch.setattr(http_request, "FAST_HEAD", NEVER)
        request, server, conn = parse_head(head + NEXT)
    seen: dict[str, Any] = {"ready": request.ready, "refusals": server.refusals}
    seen["answer"] = conn.wfile.getvalue().split(b"\r\n", 1)[0]
    if request.ready:
        names = ("method", "uri", "path", "qs", "request_protocol", "response_protocol")
        seen.update((name, getattr(request, name)) for name in names)
        flags = ("close_connection", "chunked_read", "continue_pending")
        seen.update((name, getattr(request, name)) for name in flags)
        seen["headers"] = dict(request.inheaders)
        seen["left"] = conn.rfile.pending()
    return seen


def test_a_common_head_is_taken_in_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """No line-by-line reading, and the pipelined request behind it stays buffered."""

    def line_by_line(*args: Any) -> Any:
        raise AssertionError("the head was read line by line")

    monkeypatch.setattr(HeadReader, "readline", line_by_line)
    monkeypatch.setattr(HeadReader, "header_block", line_by_line)
    head = (
        b"PUT /a%20b?x=1 HTTP/1.1\r\nHost: h:80\r\nIf: (<urn:uuid:1>)\r\n"
        b"Content-Length: 007\r\nExpect: 100-continue\r\nX-Pad:  a b\t \r\n\r\n"
    )
    request, _, conn = parse_head(head + NEXT)
    assert request.ready and request.continue_pending and not request.chunked_read
    assert (request.method, request.uri, request.path, request.qs) == (
        b"PUT",
        b"/a%20b?x=1",
        b"/a b",
        b"x=1",
    )
    assert request.inheaders == {
        b"Host": b"h:80",
        b"If": b"(<urn:uuid:1>)",
        b"Content-Length": b"7",
        b"Expect": b"100-continue",
        b"X-Pad": b"a b",
    }
    assert conn.rfile.pending() == len(NEXT)


FIELDS = [
    b"Host: h",
    b"Host: h",
    b"host:other",
    b"Host: bad host",
    b"Content-Length: 5",
    b"Content-Length: 5",
    b"Content-Length: 6",
    b"Content-Length: 5, 5",
    b"Content-Length: 0005",
    b"Content-Length: -1",
    b"Content-Length: 1234567890123456789",
    b"Content-Length: 0000000000000000000001",
    b"Content-Length: 2000",
    b"Transfer-Encoding: chunked",
    b"Transfer-Encoding: gzip, chunked",
    b"Transfer-Encoding: chunked, chunked",
    b"transfer-encoding: ,chunked",
    b"Transfer-Encoding: identity",
    b"Transfer-Encoding:",
    b"Connection: close",
    b"Connection: keep-alive, TE",
    b"Expect: 100-continue",
    b"Authorization: Basic a",
    b"Authorization: Basic b",
    b"If: (<urn:uuid:123456789012345>)",
    b"Accept: a",
    b"Accept: b",
    b"X-Empty:",
    b"X-Spaces: \t v \t",
    b" folded",
    b"\tfolded",
    b"Name : v",
    b"Na me: v",
    b"No colon",
    b"X-Ctl: a\x01b",
    b"X-Del: a\x7fb",
    b"X-Latin: caf\xe9",
    b"X-Long: " + b"v" * 70,
]
LINES = [b"PUT /a HTTP/1.1", b"GET /x?q=1 HTTP/1.0", b"GET //a HTTP/1.1", b"LOCK /" + b"p" * 40]
LINES[3] += b" HTTP/1.1"  # longer than SMALL's request line
ENDS = [b"\r\n", b"\n"]  # the end of the last field line (a bare LF: refused either way)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(LINES),
    st.lists(st.sampled_from(FIELDS), max_size=7),
    st.sampled_from(ENDS),
    st.sampled_from([HttpLimits(max_upload_bytes=1000), SMALL]),
)
def test_any_head_gets_the_line_by_line_verdict(
    line: bytes, fields: list[bytes], end: bytes, limits: HttpLimits
) -> None:
    head = line + b"\r\n" + b"".join(field + b"\r\n" for field in fields)
    head = head[:-2] + end + b"\r\n" if fields else head + b"\r\n"
    assert parsed(head, True, limits) == parsed(head, False, limits)


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_the_limits_are_the_same_at_their_edges(extra: int) -> None:
    """Request line, header bytes and header count exactly at, under and over SMALL."""
    line = b"GET /" + b"a" * (40 - 16 + extra) + b" HTTP/1.1\r\n"
    assert len(line) == 40 + extra
    assert parsed(line + b"Host: h\r\n\r\n", True, SMALL) == parsed(
        line + b"Host: h\r\n\r\n", False, SMALL
    )
    fields = b"Host: h\r\nX: " + b"v" * (120 - 16 + extra) + b"\r\n\r\n"
    assert len(fields) == 120 + extra
    head = b"GET / HTTP/1.1\r\n" + fields
    assert parsed(head, True, SMALL) == parsed(head, False, SMALL)
    head = b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X: v\r\n" * (3 + extra) + b"\r\n"
    assert parsed(head, True, SMALL) == parsed(head, False, SMALL)


def checked(check: Any, fields: list[tuple[bytes, bytes]], version: tuple[int, int]) -> object:
    try:
        return check(fields, version, SMALL_UPLOADS)
    except Refusal as exc:
        return (exc.status, exc.reason)


SMALL_UPLOADS = HttpLimits.model_construct(max_if_header_bytes=20, max_upload_bytes=1000)


def field_or_none(line: bytes) -> tuple[bytes, bytes] | None:
    try:
        return parse_field(line)
    except Refusal:
        return None


PAIRS = [pair for pair in map(field_or_none, FIELDS) if pair is not None]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(PAIRS), max_size=6), st.sampled_from([(1, 1), (1, 0)]))
def test_distinct_fields_are_checked_as_any_fields(
    fields: list[tuple[bytes, bytes]], version: tuple[int, int]
) -> None:
    """check_request's shortcut for fields of distinct names (no joining, no
    comparing) gives the general rules' verdict; so does it for repeated names."""
    fields = list(dict(fields).items())  # distinct names
    assert checked(check_request, fields, version) == checked(_check_collected, fields, version)
