"""The method layer takes the body's framing from the HTTP layer's one verdict."""

from __future__ import annotations

import io

import pytest

from davserver.errors import RequestError
from davserver.http.adapter import body_of
from davserver.http.body import BodyError, LazyContinueInput, LengthBody


class _Source:
    """Stands in for the connection's reader: hands out what it holds."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def read(self, size: int) -> bytes:
        return self._data.read(size)


def _framed(length: int, data: bytes) -> LazyContinueInput:
    """A ``wsgi.input`` as davserver's HTTP layer makes it, with its verdict."""
    body = LengthBody(_Source(data), length, lambda exc: None)  # type: ignore[arg-type]
    return LazyContinueInput(lambda: None, body)


def test_the_http_layers_verdict_wins_over_the_raw_headers() -> None:
    # Headers that would say something else are not read a second time.
    stream = _framed(3, b"abc")
    body = body_of({"wsgi.input": stream, "CONTENT_LENGTH": "999", "HTTP_TRANSFER_ENCODING": "x"})
    assert not body.chunked and body.length == 3
    assert body.read_all(100) == b"abc" and body.received == 3


def test_the_http_layers_refusal_reaches_the_request() -> None:
    stream = _framed(5, b"hello")
    body = body_of({"wsgi.input": stream})
    assert body.refusal() is None
    stream.refusal = (408, "the body arrived too slowly")
    assert body.refusal() == (408, "the body arrived too slowly")
    assert isinstance(BodyError("408 Request Timeout", "slow"), ValueError)


def test_without_davserver_in_front_the_headers_are_parsed_strictly() -> None:
    stream = io.BytesIO(b"abc")
    assert body_of({"wsgi.input": stream, "CONTENT_LENGTH": "3"}).length == 3
    chunked = body_of(
        {
            "wsgi.input": stream,
            "HTTP_TRANSFER_ENCODING": "chunked",
            "HTTP_X_EXPECTED_ENTITY_LENGTH": "12",
        }
    )
    assert chunked.chunked and chunked.expected_length() == 12
    with pytest.raises(RequestError, match="non-negative integer"):
        body_of({"wsgi.input": stream, "CONTENT_LENGTH": "-1"})
