"""An answer's headers as they go out, made in one pass: Content-Length added
(or dropped for 204/304), X-Request-Id and nosniff on the WebDAV port."""

from __future__ import annotations

from davserver.dav.response import Response
from davserver.http.adapter import framed


def test_length_request_id_and_nosniff_are_added() -> None:
    headers, body = framed(Response(200, [("Content-Type", "text/plain")], b"hello"), "rid1")
    assert body == b"hello"
    assert headers == [
        ("Content-Type", "text/plain"),
        ("Content-Length", "5"),
        ("X-Request-Id", "rid1"),
        ("X-Content-Type-Options", "nosniff"),
    ]


def test_the_answers_own_are_kept() -> None:
    own = [("content-length", "5"), ("x-content-type-options", "nosniff")]
    headers, _ = framed(Response(200, own, b"hello"), "rid1")
    assert headers == [*own, ("X-Request-Id", "rid1")]


def test_no_body_and_no_length_for_204_and_304() -> None:
    for status in (204, 304):
        headers, body = framed(Response(status, [("Content-Length", "5"), ("ETag", '"e"')], b"x"))
        assert body == b"" and headers == [("ETag", '"e"')]


def test_without_a_request_id_nothing_more() -> None:
    headers, _ = framed(Response(201, [], b""))
    assert headers == [("Content-Length", "0")]
