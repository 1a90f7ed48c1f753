"""conn.wfile sends each write at once, all of it, without cheroot's _pyio layers."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from davserver.http import DavWSGIServer, HttpLimits
from davserver.http.connection import DavHTTPConnection
from davserver.http.writer import SocketWriter


class Trickle:
    """A socket that takes at most ``step`` bytes per send."""

    def __init__(self, step: int):
        self.step = step
        self.sends: list[bytes] = []

    def send(self, data: Any) -> int:
        chunk = bytes(data[: self.step])
        self.sends.append(chunk)
        return len(chunk)


def test_a_write_is_sent_whole_even_in_parts() -> None:
    sock = Trickle(3)
    writer = SocketWriter(sock)  # type: ignore[arg-type]
    assert writer.write(b"HTTP/1.1 200 OK\r\n") == 17
    assert b"".join(sock.sends) == b"HTTP/1.1 200 OK\r\n"
    assert len(sock.sends) == 6
    assert writer.bytes_written == 17


def test_an_empty_write_sends_nothing() -> None:
    sock = Trickle(10)
    writer = SocketWriter(sock)  # type: ignore[arg-type]
    assert writer.write(b"") == 0
    assert sock.sends == []


def test_nothing_is_buffered_and_a_closed_writer_refuses() -> None:
    sock = Trickle(100)
    writer = SocketWriter(sock)  # type: ignore[arg-type]
    writer.write(b"abc")
    assert sock.sends == [b"abc"]  # before any flush
    writer.flush()
    writer.close()
    with pytest.raises(ValueError):
        writer.write(b"x")


def test_a_connection_writes_through_it() -> None:
    server = DavWSGIServer(("127.0.0.1", 0), lambda e, s: [b""], limits=HttpLimits())
    left, right = socket.socketpair()
    try:
        conn = DavHTTPConnection(server, left)
        assert isinstance(conn.wfile, SocketWriter)
        conn.wfile.write(b"hello")
        assert right.recv(10) == b"hello"
    finally:
        left.close()
        right.close()
