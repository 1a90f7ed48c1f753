"""Refuse before reading the body, naming the lock and its holder.

Raw sockets against a real server: a request that will be refused gets its answer
without ``100 Continue`` and without the server pulling a large upload through.
"""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from lxml import etree

from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

BIG = 10 * 1024 * 1024
LOCKINFO = (
    b'<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:">'
    b"<D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype>"
    b"<D:owner>early-refusal test</D:owner></D:lockinfo>"
)
ALICE = "Basic " + base64.b64encode(b"alice:alice-secret").decode()
WRONG = "Basic " + base64.b64encode(b"alice:wrong").decode()


@pytest.fixture
def server(tmp_path: Path, htpasswd_file: Path) -> Iterator[ServerProcess]:
    root = tmp_path / "share"
    root.mkdir()
    (root / "locked.txt").write_bytes(b"old content")
    (root / "free.txt").write_bytes(b"free")
    with ServerProcess(root, ["--htpasswd", str(htpasswd_file)]) as running:
        response = requests.request(
            "LOCK",
            running.url + "locked.txt",
            data=LOCKINFO,
            headers={"Authorization": ALICE, "Depth": "0", "Timeout": "Second-600"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        yield running


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes, interim: list[int]):
        self.status = status
        self.headers = headers
        self.body = body
        self.interim = interim


def read_head(sock: socket.socket, buffer: bytearray) -> tuple[int, dict[str, str]]:
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before an answer: {bytes(buffer)!r}")
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    buffer[:] = rest
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


def read_answer(sock: socket.socket) -> Answer:
    """Read interim (1xx) answers and the final one, body included."""
    buffer = bytearray()
    interim: list[int] = []
    while True:
        status, headers = read_head(sock, buffer)
        if status >= 200:
            break
        interim.append(status)
    length = int(headers.get("content-length", "0"))
    while len(buffer) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buffer += chunk
    return Answer(status, headers, bytes(buffer[:length]), interim)


def send_headers(server: ServerProcess, head: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.sendall(head.encode("latin-1"))
    return sock


def put_head(path: str, length: int, *extra: str, auth: str = ALICE) -> str:
    lines = [
        f"PUT /{path} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Content-Length: {length}",
        f"Authorization: {auth}",
        *extra,
    ]
    return "\r\n".join(lines) + "\r\n\r\n"


def assert_closes(sock: socket.socket) -> None:
    """The server does not wait for the body it refused: the connection ends."""
    deadline = time.monotonic() + 5
    sock.settimeout(5)
    while time.monotonic() < deadline:
        try:
            if not sock.recv(65536):
                return
        except ConnectionResetError:
            return
    raise AssertionError("the server kept the connection open waiting for the body")


def bob_head(path: str) -> str:
    bob = "Basic " + base64.b64encode(b"bob:bob-secret").decode()
    return put_head(path, BIG, "Expect: 100-continue", auth=bob)


def test_423_without_100_continue(server: ServerProcess) -> None:
    with send_headers(server, bob_head("locked.txt")) as sock:
        started = time.monotonic()
        answer = read_answer(sock)
        assert time.monotonic() - started < 3
        assert answer.interim == []
        assert answer.status == 423
        assert answer.headers.get("cache-control") == "no-store"
        assert "lock-token" not in answer.headers
        error = etree.fromstring(answer.body)
        assert error.find("{DAV:}lock-token-submitted/{DAV:}href").text == "/locked.txt"
        assert_closes(sock)
    assert (server.root / "locked.txt").read_bytes() == b"old content"


@pytest.mark.parametrize(
    ("path", "extra", "auth", "status"),
    [
        ("locked.txt", (), ALICE, 423),  # alice's own lock, but no token submitted
        ("free.txt", (), WRONG, 401),
        ("free.txt", ('If-Match: "no-such-etag"',), ALICE, 412),
        ("new.txt", ('If-Match: "no-such-etag"',), ALICE, 412),
        ("missing/new.txt", (), ALICE, 409),
        ("free.txt", ("If: (<opaquelocktoken:nope>)",), ALICE, 412),
    ],
)
def test_big_upload_refused_without_reading_body(
    server: ServerProcess, path: str, extra: tuple[str, ...], auth: str, status: int
) -> None:
    before = {p.name: p.read_bytes() for p in server.root.iterdir() if p.is_file()}
    with send_headers(server, put_head(path, BIG, *extra, auth=auth)) as sock:
        started = time.monotonic()
        answer = read_answer(sock)
        assert time.monotonic() - started < 3
        assert answer.status == status, answer.body
        assert_closes(sock)
    after = {p.name: p.read_bytes() for p in server.root.iterdir() if p.is_file()}
    assert after == before
    assert not (server.root / "missing").exists()


@pytest.mark.parametrize(
    ("path", "extra", "auth", "status"),
    [
        ("free.txt", (), WRONG, 401),
        ("free.txt", ('If-Match: "no-such-etag"',), ALICE, 412),
        ("missing/new.txt", (), ALICE, 409),
    ],
)
def test_refusals_with_expect_send_no_100_continue(
    server: ServerProcess, path: str, extra: tuple[str, ...], auth: str, status: int
) -> None:
    head = put_head(path, BIG, "Expect: 100-continue", *extra, auth=auth)
    with send_headers(server, head) as sock:
        answer = read_answer(sock)
        assert answer.interim == []
        assert answer.status == status


def test_permitted_put_gets_100_continue_then_201(server: ServerProcess) -> None:
    data = b"x" * 100_000
    with send_headers(server, put_head("new.txt", len(data), "Expect: 100-continue")) as sock:
        buffer = bytearray()
        status, _ = read_head(sock, buffer)
        assert status == 100
        sock.sendall(data)
        answer = read_answer(sock)
        assert answer.status == 201
    assert (server.root / "new.txt").read_bytes() == data


def test_lock_owner_with_token_gets_100_continue(server: ServerProcess) -> None:
    discovery = requests.request(
        "PROPFIND",
        server.url + "locked.txt",
        data=b'<D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>',
        headers={"Authorization": ALICE, "Depth": "0"},
        timeout=10,
    )
    token = etree.fromstring(discovery.content).findtext(".//{DAV:}locktoken/{DAV:}href")
    data = b"new content"
    head = put_head("locked.txt", len(data), "Expect: 100-continue", f"If: (<{token}>)")
    with send_headers(server, head) as sock:
        buffer = bytearray()
        status, _ = read_head(sock, buffer)
        assert status == 100
        sock.sendall(data)
        assert read_answer(sock).status == 204
    assert (server.root / "locked.txt").read_bytes() == data
