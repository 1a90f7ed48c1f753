"""Message framing and limits of the HTTP layer (RFC 9112 §3, §5, §6, §7), raw sockets.

Every malformed or oversized request gets one short answer with
``Connection: close``, the connection really closes, nothing after it on the
same connection is executed, and a PUT never changes the file.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

OLD = b"old content\n"
UPLOAD_LIMIT = 1024 * 1024
CONFIG = f"""
max_upload_bytes: {UPLOAD_LIMIT}
header_timeout: 2
body_timeout: 2
"""
LOCKINFO = (
    b'<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:">'
    b"<D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype>"
    b"</D:lockinfo>"
)


def start_server(root: Path, config_text: str) -> ServerProcess:
    config = root.parent / "davserver.yaml"
    config.write_text(config_text)
    args = ["--workers", "1", "--lock-store", "memory://", "--config", str(config)]
    return ServerProcess(root, args).start()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("framing") / "share"
    root.mkdir()
    running = start_server(root, CONFIG)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def target(server: ServerProcess, request: pytest.FixtureRequest) -> Iterator[str]:
    """A file with OLD content; the test's PUTs must leave it unchanged."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", request.node.name)[:80] + ".txt"
    path = server.root / name
    path.write_bytes(OLD)
    yield name
    assert path.read_bytes() == OLD, "a refused PUT changed the file"


@dataclass
class Exchange:
    """Everything the server sent on one connection, and whether it closed it."""

    data: bytes
    closed: bool

    @property
    def statuses(self) -> list[int]:
        """The status of every answer, walking them by their Content-Length."""
        found, rest = [], self.data
        while rest.startswith(b"HTTP/1."):
            head, _, rest = rest.partition(b"\r\n\r\n")
            found.append(int(head.split()[1]))
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            rest = rest[int(length.group(1)) if length else 0 :]
        assert not rest, f"bytes that are no answer: {rest[:200]!r}"
        return found

    @property
    def status(self) -> int:
        assert self.statuses, f"no answer: {self.data!r}"
        return self.statuses[0]

    @property
    def head(self) -> str:
        return self.data.partition(b"\r\n\r\n")[0].decode("latin-1")

    def header(self, name: str) -> str | None:
        for line in self.head.split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None


def connect(server: ServerProcess, timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


def read_until_closed(sock: socket.socket, within: float = 5.0) -> Exchange:
    """Read until the server closes (EOF or reset) or ``within`` seconds pass."""
    data = b""
    deadline = time.monotonic() + within
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return Exchange(data, closed=False)
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return Exchange(data, closed=False)
        except ConnectionResetError:
            return Exchange(data, closed=True)
        if not chunk:
            return Exchange(data, closed=True)
        data += chunk


def exchange(server: ServerProcess, raw: bytes, within: float = 5.0) -> Exchange:
    with connect(server) as sock:
        sock.sendall(raw)
        return read_until_closed(sock, within)


def assert_refused(answer: Exchange, status: int) -> None:
    """One answer with ``status``, announced and real close, a short text body."""
    assert answer.statuses == [status], answer.data
    assert answer.header("Connection") == "close", answer.head
    assert (answer.header("Content-Type") or "").startswith("text/plain"), answer.head
    assert answer.closed, "the server kept the connection open"


def request(method: str, path: str, *headers: str, version: str = "HTTP/1.1") -> bytes:
    lines = [f"{method} /{path} {version}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"


def test_content_length_with_chunked_is_refused_and_closes(
    server: ServerProcess, target: str
) -> None:
    raw = request("PUT", target, "Host: x", "Content-Length: 5", "Transfer-Encoding: chunked")
    answer = exchange(server, raw + b"0\r\n\r\n" + SMUGGLED)
    assert_refused(answer, 400)  # the smuggled GET would have been a second answer (404)


@pytest.mark.parametrize(
    "headers",
    [
        ("Transfer-Encoding : chunked",),  # RFC 9112 §5.1: no whitespace before the colon
        ("Content-Length : 5",),
        ("Content-Length: 5", "Content-Length: 6"),
        ("Content-Length: 5, 6",),
        ("Content-Length: -1",),
        ("Content-Length: abc",),
        ("Content-Length: +5",),
        ("Content-Length: 0x5",),
        ("Content-Length: 1_0",),
        ("Transfer-Encoding: identity",),  # RFC 9112 §6.3: chunked must be final
        ("Transfer-Encoding: chunked, gzip",),
        ("Transfer-Encoding: chunked, chunked",),
        ("Transfer-Encoding: chunked", "Transfer-Encoding: chunked"),
        ("X-Folded: a", " b"),  # RFC 9112 §5.2: obs-fold
        ("X-Nul: a\x00b",),
        ("Bad Name: x",),
    ],
)
def test_malformed_framing_is_400(
    server: ServerProcess, target: str, headers: tuple[str, ...]
) -> None:
    answer = exchange(server, request("PUT", target, "Host: x", *headers) + b"12345" + SMUGGLED)
    assert_refused(answer, 400)


def test_transfer_coding_we_do_not_implement_is_501(server: ServerProcess, target: str) -> None:
    raw = request("PUT", target, "Host: x", "Transfer-Encoding: gzip, chunked")
    assert_refused(exchange(server, raw + b"0\r\n\r\n" + SMUGGLED), 501)


def test_transfer_encoding_in_http10_is_400(server: ServerProcess, target: str) -> None:
    raw = request("PUT", target, "Host: x", "Transfer-Encoding: chunked", version="HTTP/1.0")
    assert_refused(exchange(server, raw + b"0\r\n\r\n"), 400)


@pytest.mark.parametrize(
    "headers",
    [(), ("Host: a", "Host: b"), ("Host: a, b",), ("Host: a b",)],
    ids=["missing", "two", "comma", "space"],
)
def test_host_missing_or_repeated_is_400(server: ServerProcess, headers: tuple[str, ...]) -> None:
    assert_refused(exchange(server, request("GET", "", *headers)), 400)


def test_http10_without_host_is_served(server: ServerProcess, target: str) -> None:
    answer = exchange(server, request("GET", target, version="HTTP/1.0"))
    assert answer.status == 200
    assert answer.data.endswith(OLD)


@pytest.mark.parametrize(
    ("chunks", "status"),
    [
        (b"-1\r\nabc\r\n0\r\n\r\n", 400),  # cheroot took -1 for the last chunk: an empty file
        (b"zz\r\nabc\r\n0\r\n\r\n", 400),
        (b" 3\r\nabc\r\n0\r\n\r\n", 400),
        (b"3\r\nabcdef\r\n0\r\n\r\n", 400),  # chunk data longer than its size
        (b"3\nabc\n0\n\n", 400),  # bare LF
        (b"0x3\r\nabc\r\n0\r\n\r\n", 400),
        (b"FFFFFFFFFFFFFFFFFFFF\r\nabc\r\n", 413),
        (b"%x\r\n" % (UPLOAD_LIMIT + 1), 413),  # over max_upload_bytes
        (b"80000\r\n" + b"x" * 0x80000 + b"\r\n80001\r\n", 413),  # the sum over it
    ],
)
def test_bad_chunks_refused_file_intact(
    server: ServerProcess, target: str, chunks: bytes, status: int
) -> None:
    raw = request("PUT", target, "Host: x", "Transfer-Encoding: chunked")
    assert_refused(exchange(server, raw + chunks), status)


def test_chunked_put_with_extensions_and_trailers(server: ServerProcess) -> None:
    raw = request("PUT", "chunked-ok.txt", "Host: x", "Transfer-Encoding: chunked")
    body = b"5;name=value\r\nhello\r\n6 ; ext\r\n world\r\n0\r\nX-Checksum: 1\r\n\r\n"
    with connect(server) as sock:
        sock.sendall(raw + body + request("GET", "chunked-ok.txt", "Host: x", "Connection: close"))
        answer = read_until_closed(sock)
    assert answer.statuses == [201, 200]
    assert answer.data.endswith(b"hello world")
    assert (server.root / "chunked-ok.txt").read_bytes() == b"hello world"


def test_identical_duplicate_content_length_is_one_value(server: ServerProcess) -> None:
    raw = request("PUT", "dup-length.txt", "Host: x", "Content-Length: 5", "Content-Length: 5")
    with connect(server) as sock:
        sock.sendall(raw + b"hello")
        sock.shutdown(socket.SHUT_WR)
        answer = read_until_closed(sock)
    assert answer.status == 201
    assert (server.root / "dup-length.txt").read_bytes() == b"hello"


def test_content_length_over_upload_limit_is_413_before_the_body(
    server: ServerProcess, target: str
) -> None:
    raw = request("PUT", target, "Host: x", f"Content-Length: {UPLOAD_LIMIT + 1}")
    with connect(server) as sock:
        sock.sendall(raw)  # no body sent: the answer must not wait for it
        answer = read_until_closed(sock, within=3)
    assert_refused(answer, 413)


def test_long_request_line_is_414(server: ServerProcess) -> None:
    answer = exchange(server, request("GET", "a" * 9000, "Host: x"))
    assert_refused(answer, 414)


@pytest.mark.parametrize(
    "headers",
    [
        tuple(f"X-Header-{i}: {i}" for i in range(101)),
        ("X-Big: " + "x" * 70_000,),
        ("If: (<opaquelocktoken:" + "a" * 17_000 + ">)",),
    ],
    ids=["count", "size", "if-header"],
)
def test_header_limits_are_431(server: ServerProcess, headers: tuple[str, ...]) -> None:
    assert_refused(exchange(server, request("GET", "", "Host: x", *headers)), 431)


def test_huge_header_is_refused_without_reading_it(server: ServerProcess) -> None:
    """A 64 MB header: 431 at the limit, then the connection closes (the rest is never read)."""
    sent = [0]

    def send_forever(sock: socket.socket) -> None:
        block = b"x" * 65536
        try:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Huge: ")
            for _ in range(1024):
                sock.sendall(block)
                sent[0] += len(block)
        except OSError:
            pass

    with connect(server) as sock:
        sender = threading.Thread(target=send_forever, args=(sock,), daemon=True)
        sender.start()
        sock.settimeout(10)
        first = sock.recv(65536)
        sent_when_answered = sent[0]
        answer = read_until_closed(sock, within=10)
        sender.join(10)
    assert Exchange(first + answer.data, answer.closed).statuses == [431]
    assert answer.closed
    # The answer came at the limit, not after the whole header (socket buffers aside).
    assert sent_when_answered < 16 * 1024 * 1024


def test_refused_chunked_put_closes_without_parsing_its_body(server: ServerProcess) -> None:
    """423 before the body is read: the body (which looks like a request) is never parsed."""
    path = server.root / "locked-chunked.txt"
    path.write_bytes(OLD)
    locked = requests.request(
        "LOCK", server.url + "locked-chunked.txt", data=LOCKINFO, headers={"Depth": "0"}, timeout=10
    )
    assert locked.status_code == 200, locked.text
    raw = request("PUT", "locked-chunked.txt", "Host: x", "Transfer-Encoding: chunked")
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(SMUGGLED), SMUGGLED)
    answer = exchange(server, raw + body + SMUGGLED)
    assert answer.statuses == [423], answer.data
    assert answer.header("Connection") == "close"
    assert answer.closed
    assert path.read_bytes() == OLD


def test_good_requests_on_one_connection_still_keep_alive(
    server: ServerProcess, target: str
) -> None:
    with connect(server) as sock:
        sock.sendall(request("GET", target, "Host: x") * 3)
        time.sleep(0.5)
        sock.sendall(request("GET", target, "Host: x", "Connection: close"))
        answer = read_until_closed(sock)
    assert answer.statuses == [200, 200, 200, 200]
    assert answer.closed
