"""The HTTP layer's parts in-process (davserver/http): head detection, strict framing,
body readers, the answer to a broken body, and the growing worker pool."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from davserver.http import HttpLimits
from davserver.http.body import BodyError, ChunkedBody, LengthBody
from davserver.http.framing import HeadReader, Refusal, check_request, read_fields
from davserver.http.reader import SocketReader
from tests.support.wsgi_server import serving

LIMITS = HttpLimits(max_upload_bytes=1000)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    client, server = socket.socketpair()
    server.settimeout(0.5)
    yield client, server
    client.close()
    server.close()


def fields_of(head: bytes, limits: HttpLimits, *, buffered: bool) -> list[tuple[bytes, bytes]]:
    """``read_fields`` as a slow client meets it (line by line, reading as it goes)
    or, ``buffered``, as a head that arrived whole meets it (the block check)."""
    client, server = socket.socketpair()
    with client, server:
        server.settimeout(2)
        client.sendall(head)
        client.shutdown(socket.SHUT_WR)
        reader = SocketReader(server)
        while buffered and not reader.eof:
            reader.fill()
        return read_fields(HeadReader(reader, limits), limits)


def parse(
    head: bytes,
    limits: HttpLimits = LIMITS,
    version: tuple[int, int] = (1, 1),
    buffered: bool = False,
) -> Any:
    return check_request(fields_of(head, limits, buffered=buffered), version, limits)


def outcome(head: bytes, limits: HttpLimits, *, buffered: bool) -> object:
    try:
        return fields_of(head, limits, buffered=buffered)
    except Refusal as exc:
        return (exc.status, exc.reason)


def refusal(head: bytes, **kw: Any) -> str:
    for buffered in (False, True):
        with pytest.raises(Refusal) as caught:
            parse(head, buffered=buffered, **kw)
    return caught.value.status[:3]


def test_head_ready_only_once_complete(pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    server.setblocking(False)
    reader = SocketReader(server)
    client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    reader.fill()
    assert not reader.head_ready(1000)
    client.sendall(b"\r")
    reader.fill()
    assert not reader.head_ready(1000)
    client.sendall(b"\nGET /2 HTTP/1.1\r\nHo")
    reader.fill()
    assert reader.head_ready(1000)
    assert reader.readline() == b"GET / HTTP/1.1\r\n"
    assert reader.readline() == b"Host: x\r\n"
    assert reader.readline() == b"\r\n"
    assert not reader.head_ready(1000)  # the pipelined second head is not complete yet
    client.sendall(b"st: x\r\n\r\n")
    reader.fill()
    assert reader.head_ready(1000)
    assert reader.read(14) == b"GET /2 HTTP/1."


def test_head_ready_at_the_size_limit_or_eof(pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    server.setblocking(False)
    reader = SocketReader(server)
    client.sendall(b"x" * 100)
    reader.fill(50)
    assert reader.pending() == 50  # never more than asked for
    assert reader.head_ready(50)
    client.close()
    reader2 = SocketReader(server)
    reader2.fill(1000)
    reader2.fill(1000)
    assert reader2.eof and reader2.head_ready(1000)


def test_good_head_is_normalised() -> None:
    headers = parse(
        b"Host: example.org:8080\r\nContent-Length: 0012\r\nAccept: a\r\naccept: b\r\n\r\n"
    )
    assert headers[b"Content-Length"] == b"12"
    assert headers[b"Accept"] == b"a, b"
    assert (
        parse(b"Transfer-Encoding: Chunked\r\nHost: x\r\n\r\n")[b"Transfer-Encoding"] == b"chunked"
    )
    assert b"Host" not in parse(b"\r\n", version=(1, 0))


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"Host: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", "400"),
        (b"Host: x\r\nTransfer-Encoding : chunked\r\n\r\n", "400"),
        (b"Host: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "400"),
        (b"Host: x\r\nContent-Length: -1\r\n\r\n", "400"),
        (b"Host: x\r\nContent-Length: 1e3\r\n\r\n", "400"),
        (b"Host: x\r\nContent-Length: 1001\r\n\r\n", "413"),
        (b"Host: x\r\nContent-Length: " + b"9" * 30 + b"\r\n\r\n", "413"),
        (b"Host: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "501"),
        (b"Host: x\r\nTransfer-Encoding: identity\r\n\r\n", "400"),
        (b"Host: x\r\nTransfer-Encoding: chunked;x=1\r\n\r\n", "400"),
        (b"Content-Length: 1\r\n\r\n", "400"),
        (b"Host: a\r\nHost: a\r\n\r\n", "400"),
        (b"Host: x\r\nIf: " + b"x" * 20000 + b"\r\n\r\n", "431"),
        (b"Host: x\r\n" + b"A: b\r\n" * 100 + b"\r\n", "431"),
        (b"Host: x\r\nX: " + b"y" * 70000 + b"\r\n\r\n", "431"),
        (b"Host: x\r\nX: y\n\r\n", "400"),
        (b"Host: x\r\nX: y", "400"),
    ],
)
def test_bad_heads_are_refused(head: bytes, status: str) -> None:
    assert refusal(head) == status


FIELD_BYTES = st.sampled_from(
    [b"a", b"Z", b"-", b"!", b":", b" ", b"\t", b"\r", b"\n", b"\r\n", b"\x00", b"\x7f", b"\xe9"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(FIELD_BYTES, max_size=8).map(b"".join), max_size=6))
def test_whole_heads_and_heads_read_line_by_line_agree(lines: list[bytes]) -> None:
    """The one-expression check of a head that arrived whole accepts exactly what
    the line-by-line rules accept, with the same fields, and refuses with the same
    message."""
    head = b"".join(line + b"\r\n" for line in lines) + b"\r\n"
    # below the config's bounds, to reach every branch with small inputs
    limits = HttpLimits.model_construct(max_header_count=4, max_header_bytes=60)
    assert outcome(head, limits, buffered=True) == outcome(head, limits, buffered=False)


def test_whole_head_limits_match_the_line_by_line_ones() -> None:
    limits = HttpLimits.model_construct(max_header_count=3, max_header_bytes=40)
    three = b"A: 1\r\nB: 2\r\nC: 3\r\n\r\n"
    assert fields_of(three, limits, buffered=True) == [(b"A", b"1"), (b"B", b"2"), (b"C", b"3")]
    for head in (b"A: 1\r\n" * 4 + b"\r\n", b"X: " + b"y" * 40 + b"\r\n\r\n", b"\r\n"):
        assert outcome(head, limits, buffered=True) == outcome(head, limits, buffered=False)
    assert fields_of(b"\r\n", limits, buffered=True) == []


def test_transfer_encoding_in_http10_is_refused() -> None:
    assert refusal(b"Transfer-Encoding: chunked\r\n\r\n", version=(1, 0)) == "400"


def test_request_line_limit() -> None:
    client, server = socket.socketpair()
    with client, server:
        client.sendall(b"GET /" + b"a" * 300 + b" HTTP/1.1\r\n")
        head = HeadReader(SocketReader(server), HttpLimits(max_request_line=256))
        with pytest.raises(Refusal) as caught:
            head.readline()
    assert caught.value.status.startswith("414")


def chunked(payload: bytes, limits: HttpLimits = LIMITS) -> tuple[ChunkedBody, list[BodyError]]:
    client, server = socket.socketpair()
    server.settimeout(0.5)
    client.sendall(payload)
    client.close()
    errors: list[BodyError] = []
    return ChunkedBody(SocketReader(server), limits, errors.append), errors


def test_chunked_body_with_extensions_and_trailers() -> None:
    body, errors = chunked(b"5;a=b\r\nhello\r\n6 ;c\r\n world\r\n0\r\nX-Sum: 1\r\n\r\nNEXT")
    assert body.read() == b"hello world"
    assert body.finished and body.unread() == 0 and not errors
    assert body.read() == b""


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        (b"-1\r\nabc\r\n0\r\n\r\n", "400"),
        (b"+3\r\nabc\r\n0\r\n\r\n", "400"),
        (b"3_0\r\nabc\r\n0\r\n\r\n", "400"),
        (b"3\r\nabcX\r\n0\r\n\r\n", "400"),
        (b"3\r\nab", "400"),  # the connection ended inside a chunk
        (b"3\r\nabc\r\n", "400"),  # ... before the last chunk
        (b"3\r\nabc\r\n0\r\nbad trailer\r\n\r\n", "400"),
        (b"3;\x01\r\nabc\r\n0\r\n\r\n", "400"),
        (b"3" * 2000 + b"\r\n", "413"),
        (b"3e9\r\n", "413"),  # over max_upload_bytes (1000)
        (b"1f4\r\n" + b"x" * 500 + b"\r\n1f5\r\n", "413"),  # the sum over it
    ],
)
def test_bad_chunked_bodies_raise(payload: bytes, status: str) -> None:
    body, errors = chunked(payload)
    with pytest.raises(BodyError) as caught:
        body.read()
    assert caught.value.status[:3] == status
    assert errors == [caught.value]
    with pytest.raises(BodyError):  # sticky
        body.read(1)
    assert errors == [caught.value] and body.unread() is None


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=3000), st.lists(st.integers(1, 700), min_size=1, max_size=10))
def test_chunked_round_trip(data: bytes, sizes: list[int]) -> None:
    encoded, rest, i = b"", data, 0
    while rest:
        size = sizes[i % len(sizes)]
        encoded += b"%x\r\n%s\r\n" % (size if size <= len(rest) else len(rest), rest[:size])
        rest, i = rest[size:], i + 1
    body, errors = chunked(encoded + b"0\r\n\r\n", HttpLimits())
    assert body.read(1024) + body.read() == data
    assert not errors


def test_length_body_ends_early_or_stalls(pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    errors: list[BodyError] = []
    body = LengthBody(SocketReader(server), 10, errors.append)
    client.sendall(b"12345")
    with pytest.raises(BodyError) as stalled:
        body.read()
    assert stalled.value.status.startswith("408")
    client2, server2 = socket.socketpair()
    with client2, server2:
        client2.sendall(b"123")
        client2.close()
        early = LengthBody(SocketReader(server2), 10, errors.append)
        assert early.read(3) == b"123"
        with pytest.raises(BodyError) as ended:
            early.read()
    assert ended.value.status.startswith("400") and early.unread() == 7


def swallowing_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Reads the body, hides any error (a sloppy application), answers 200."""
    try:
        size = len(environ["wsgi.input"].read())
    except ValueError:
        size = -1
    if environ["PATH_INFO"] == "/slow":
        time.sleep(0.2)
    body = str(size).encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture
def small_server() -> Iterator[int]:
    limits = HttpLimits(body_timeout=1.0, max_threads=40)
    with serving(swallowing_app, numthreads=1, limits=limits) as port:
        yield port


def exchange(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


def test_broken_body_answer_replaces_the_applications(small_server: int) -> None:
    head = b"PUT /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer = exchange(small_server, head + b"3\r\nabc\r\nzz\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"Connection: close" in answer and b"\r\n\r\nmalformed chunk-size line 'zz'\n" in answer
    stalled = exchange(small_server, b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nab")
    assert stalled.startswith(b"HTTP/1.1 408 ")
    assert stalled.endswith(b"the request body stopped arriving\n")


def test_pool_grows_while_bodies_are_slow(small_server: int) -> None:
    """One thread at rest; 20 slow uploads; a GET is still answered at once."""
    slow = []
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", small_server), timeout=10)
        sock.sendall(b"PUT /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nx")
        slow.append(sock)
    try:
        time.sleep(0.3)
        started = time.monotonic()
        answer = exchange(small_server, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert time.monotonic() - started < 0.9  # sooner than the slow bodies time out
    finally:
        for sock in slow:
            sock.close()
