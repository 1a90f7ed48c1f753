"""An answer whose body is already whole in memory (LOCK, PROPFIND, GET of a
small page, errors) leaves in one send: head and body together, not a system
call (and a TCP packet) for each."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from davserver.dav.response import Response
from davserver.http import HttpLimits
from davserver.http.adapter import Streamed
from davserver.http.cheroot_request import STEP_ASIDE_BYTES
from tests.support.wsgi_server import serving

SMALL = b"<?xml version='1.0'?><D:prop xmlns:D='DAV:'/>\n" * 20
LARGE = b"x" * (STEP_ASIDE_BYTES + 1)


def app(environ: dict[str, Any], start_response: Any) -> Streamed:
    body = LARGE if environ["PATH_INFO"] == "/large" else SMALL
    headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
    start_response("200 OK", headers)
    return Streamed(
        Response(200, headers, body), b"" if environ["REQUEST_METHOD"] == "HEAD" else body
    )


@pytest.fixture
def port() -> Iterator[int]:
    with serving(app, numthreads=1, limits=HttpLimits()) as bound:
        yield bound


@pytest.fixture
def sends(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every write the server makes to a client socket."""
    sizes: list[int] = []
    send = socket.socket.send

    def counted(self: socket.socket, data: Any, *flags: int) -> int:
        sizes.append(len(data))
        return send(self, data, *flags)

    monkeypatch.setattr(socket.socket, "send", counted)
    return sizes


def fetch(port: int, method: str, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(1 << 20):
            data += chunk
        return data


def test_a_small_answer_goes_out_in_one_send(port: int, sends: list[int]) -> None:
    answer = fetch(port, "GET", "/small")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and body == SMALL
    assert sends == [len(answer)]


def test_an_answer_without_a_body_is_one_send_too(port: int, sends: list[int]) -> None:
    answer = fetch(port, "HEAD", "/small")
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"\r\n\r\n")
    assert sends == [len(answer)]


def test_a_large_answer_is_not_held_back(port: int, sends: list[int]) -> None:
    answer = fetch(port, "GET", "/large")
    assert answer.endswith(LARGE) and sum(sends) == len(answer)
    assert len(sends) >= 2  # head first: the body's send may wait for the client
