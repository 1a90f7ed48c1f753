"""A file span goes out by one blocking ``sendfile(2)``: no poll and no
``sendfile`` per socket buffer; a reader that stops reading still times out."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from davserver.dav.response import FileSpan
from davserver.http import cheroot_request
from davserver.http.cheroot_request import send_span

SIZE = 4 * 1024 * 1024 + 3


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    try:
        yield server, client
    finally:
        server.close()
        client.close()


@pytest.fixture
def sendfile_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = os.sendfile

    def counted(out_fd: int, in_fd: int, offset: int, count: int) -> int:
        calls.append(count)
        return real(out_fd, in_fd, offset, count)

    monkeypatch.setattr(cheroot_request.os, "sendfile", counted)
    return calls


def test_the_whole_span_in_one_sendfile(
    tmp_path: Path, pair: tuple[socket.socket, socket.socket], sendfile_calls: list[int]
) -> None:
    server, client = pair
    content = os.urandom(SIZE)
    (tmp_path / "f").write_bytes(content)
    received = bytearray()

    def read() -> None:
        while len(received) < SIZE - 10:
            chunk = client.recv(65536)
            if not chunk:
                break
            received.extend(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    server.settimeout(10)
    with open(tmp_path / "f", "rb") as file:
        span: Any = FileSpan(file, 10, SIZE - 10)
        send_span(server, span)
    reader.join(10)
    assert bytes(received) == content[10:]
    assert span.sent == SIZE - 10
    assert sendfile_calls == [SIZE - 10]  # not one per socket buffer
    assert server.gettimeout() == 10  # the socket's timeout is back


def test_a_reader_that_stops_reading_times_out(
    tmp_path: Path, pair: tuple[socket.socket, socket.socket]
) -> None:
    server, _client = pair  # never reads
    (tmp_path / "f").write_bytes(os.urandom(SIZE * 8))
    server.settimeout(0.3)
    with open(tmp_path / "f", "rb") as file:
        span: Any = FileSpan(file, 0, SIZE * 8)
        with pytest.raises(TimeoutError):
            send_span(server, span)
    assert 0 < span.sent < SIZE * 8
    assert server.gettimeout() == 0.3


def test_a_file_sendfile_cannot_read_falls_back(
    tmp_path: Path,
    pair: tuple[socket.socket, socket.socket],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, client = pair

    def refuse(*args: Any) -> int:
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(cheroot_request.os, "sendfile", refuse)
    (tmp_path / "f").write_bytes(b"0123456789")
    server.settimeout(5)
    with open(tmp_path / "f", "rb") as file:
        span: Any = FileSpan(file, 2, 5)
        send_span(server, span)
    assert client.recv(100) == b"23456" and span.sent == 5
