"""The method layer takes the body's framing from the HTTP layer's one verdict."""

from __future__ import annotations

import io

import pytest

from davserver.dav.body import Body
from davserver.errors import RequestError
from davserver.http.body import LazyContinueInput, LengthBody
from davserver.observe.access import CountingInput


class _Source:
    """Stands in for the connection's reader: hands out what it holds."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def read(self, size: int) -> bytes:
        return self._data.read(size)


class _Framed:
    """A ``wsgi.input`` as davserver's HTTP layer makes it, with its verdict."""

    def __init__(self, declared: int | None, data: bytes):
        self.declared_length = declared
        self._data = io.BytesIO(data)

    def read(self, size: int | None = None) -> bytes:
        return self._data.read(-1 if size is None else size)


def test_the_http_layers_verdict_wins_over_the_raw_headers() -> None:
    # Headers that would say something else are not read a second time.
    environ = {
        "wsgi.input": _Framed(None, b"<x/>"),
        "CONTENT_LENGTH": "999",
        "HTTP_TRANSFER_ENCODING": "gzip",
    }
    body = Body(environ)
    assert body.chunked and body.length is None
    assert body.read_all(100) == b"<x/>"

    body = Body({"wsgi.input": _Framed(3, b"abc"), "HTTP_TRANSFER_ENCODING": "chunked"})
    assert not body.chunked and body.length == 3
    assert body.read_all(100) == b"abc"


def test_the_http_layer_declares_the_length_it_will_deliver() -> None:
    length_body = LengthBody(_Source(b"hello"), 5, lambda exc: None)  # type: ignore[arg-type]
    stream = LazyContinueInput(lambda: None, length_body)
    assert stream.declared_length == 5
    # The access log counts the body through its own wrapper; the verdict shows through it.
    counted = CountingInput(stream)
    body = Body({"wsgi.input": counted, "CONTENT_LENGTH": "999"})
    assert body.length == 5
    assert body.read_all(100) == b"hello" and counted.count == 5


def test_without_davserver_in_front_the_headers_are_parsed_strictly() -> None:
    stream = io.BytesIO(b"abc")
    assert Body({"wsgi.input": stream, "CONTENT_LENGTH": "3"}).length == 3
    with pytest.raises(RequestError, match="non-negative integer"):
        Body({"wsgi.input": stream, "CONTENT_LENGTH": "-1"})
