"""Slow request bodies (davserver/http/pacing.py): the minimum rate (408) and the body
waiters per address and per process (503 with Retry-After), with small config values
so that every test takes seconds.

On a server without them, 600 uploads sending a byte every 5 s held every worker
thread: each of them keeps arriving, so ``body_timeout`` never fires.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.test_http_framing import (
    OLD,
    Exchange,
    assert_refused,
    read_until_closed,
    start_server,
)
from tests.support.server import ServerProcess
from tests.support.tls import make_tls_files

pytestmark = pytest.mark.e2e

RATE = 200  # bytes/s
WINDOW = 2  # seconds
PER_ADDRESS = 2
PER_PROCESS = 4
CONFIG = f"""
http:
  body_timeout: 30
  min_body_rate: {RATE}
  min_body_rate_window: {WINDOW}
  max_body_waiters: {PER_PROCESS}
  max_body_waiters_per_address: {PER_ADDRESS}
"""
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("slow-bodies") / "share"
    root.mkdir()
    (root / "file.txt").write_bytes(OLD)
    running = start_server(root, CONFIG)
    try:
        yield running
    finally:
        running.stop()


def connect_from(server: ServerProcess, address: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(
        ("127.0.0.1", server.port), timeout=10, source_address=(address, 0)
    )


def put_head(path: str, length: int, *extra: str) -> bytes:
    lines = [f"PUT /{path} HTTP/1.1", "Host: x", f"Content-Length: {length}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def temp_files(root: Path) -> list[str]:
    return [p.name for p in root.iterdir() if p.name.startswith(".davserver-upload")]


def trickle_until_answered(
    sock: socket.socket, piece: bytes, every: float, within: float
) -> Exchange:
    """Send ``piece`` every ``every`` seconds (never idle) until the server answers."""
    deadline = time.monotonic() + within
    sock.settimeout(every)
    while time.monotonic() < deadline:
        try:
            sock.sendall(piece)
        except OSError:
            break  # closed on us: the answer is waiting
        try:
            first = sock.recv(65536)
        except TimeoutError:
            continue
        rest = read_until_closed(sock, within=5)
        return Exchange(first + rest.data, rest.closed)
    return read_until_closed(sock, within=5)


def expect_continue(sock: socket.socket) -> None:
    sock.settimeout(5)
    got = b""
    while len(got) < len(CONTINUE):
        chunk = sock.recv(len(CONTINUE) - len(got))
        assert chunk, f"closed instead of 100 Continue: {got!r}"
        got += chunk
    assert got == CONTINUE


@contextlib.contextmanager
def kept_alive_uploads(
    server: ServerProcess, addresses: list[str]
) -> Iterator[list[socket.socket]]:
    """One upload per address in ``addresses``, each admitted (100 Continue) and then
    fed above the minimum rate until the block ends: each holds a body waiter's place."""
    socks: list[socket.socket] = []
    stop = threading.Event()
    for number, address in enumerate(addresses):
        sock = connect_from(server, address)
        socks.append(sock)
        sock.sendall(put_head(f"kept-{address}-{number}.bin", 1_000_000, "Expect: 100-continue"))
        expect_continue(sock)

    def feed() -> None:
        while not stop.wait(0.1):
            for sock in socks:
                with contextlib.suppress(OSError):
                    sock.sendall(b"k" * (RATE // 5))  # twice the minimum rate

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        yield socks
    finally:
        stop.set()
        feeder.join(5)
        for sock in socks:
            sock.close()


def wait_for_line(server: ServerProcess, needle: str, within: float = 5) -> str:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for line in server.stderr().splitlines():
            if needle in line:
                return line
        time.sleep(0.05)
    raise AssertionError(f"no log line with {needle!r}:\n{server.stderr()[-3000:]}")


def test_body_slower_than_the_minimum_rate_is_408_and_nothing_is_stored(
    server: ServerProcess,
) -> None:
    """10 bytes every 0.25 s (40 bytes/s, never idle) against 200 bytes/s over 2 s."""
    (server.root / "slow.txt").write_bytes(OLD)
    for name in ("slow.txt", "slow-new.txt"):
        with connect_from(server) as sock:
            sock.sendall(put_head(name, 100_000))
            started = time.monotonic()
            answer = trickle_until_answered(sock, b"x" * 10, 0.25, within=WINDOW + 8)
        elapsed = time.monotonic() - started
        assert_refused(answer, 408)
        assert b"min_body_rate" in answer.data, answer.data
        assert WINDOW - 0.5 < elapsed < WINDOW + 4, elapsed
    assert (server.root / "slow.txt").read_bytes() == OLD
    assert not (server.root / "slow-new.txt").exists()
    assert temp_files(server.root) == []
    line = wait_for_line(server, '"PUT /slow-new.txt HTTP/1.1" 408')
    assert 'refused="the request body arrived slower than http.min_body_rate' in line


def test_100_continue_without_a_body_is_ended_by_the_minimum_rate(server: ServerProcess) -> None:
    (server.root / "expecting.txt").write_bytes(OLD)
    with connect_from(server) as sock:
        sock.sendall(put_head("expecting.txt", 100, "Expect: 100-continue"))
        expect_continue(sock)
        started = time.monotonic()
        answer = read_until_closed(sock, within=WINDOW + 8)  # body_timeout is 30 s
    assert_refused(answer, 408)
    assert b"min_body_rate" in answer.data
    assert WINDOW - 0.5 < time.monotonic() - started < WINDOW + 4
    assert (server.root / "expecting.txt").read_bytes() == OLD
    assert temp_files(server.root) == []


def test_more_slow_bodies_from_one_address_than_its_bound_get_503(server: ServerProcess) -> None:
    with kept_alive_uploads(server, ["127.0.0.1"] * PER_ADDRESS):
        # A client on another address is served meanwhile, uploads included.
        other = requests.Session()
        other.mount("http://", SourceAddressAdapter("127.0.0.2"))
        assert other.get(server.url + "file.txt", timeout=5).content == OLD
        big = b"b" * (2 * 1024 * 1024)
        assert other.put(server.url + "other-big.bin", data=big, timeout=10).status_code == 201
        assert (server.root / "other-big.bin").read_bytes() == big
        # The next one from the full address: 503 before 100 Continue ...
        with connect_from(server) as sock:
            sock.sendall(put_head("extra.txt", 1000, "Expect: 100-continue"))
            answer = read_until_closed(sock, within=5)
        assert_refused(answer, 503)
        assert not answer.data.startswith(CONTINUE)
        assert answer.header("Retry-After") == "5"
        assert b"max_body_waiters_per_address 2" in answer.data
        # ... and without Expect, before any of its body is read.
        with connect_from(server) as sock:
            sock.sendall(put_head("extra.txt", 100_000) + b"y" * 100)
            answer = read_until_closed(sock, within=5)
        assert_refused(answer, 503)
        assert answer.header("Retry-After") == "5"
    assert not (server.root / "extra.txt").exists()
    line = wait_for_line(server, '"PUT /extra.txt HTTP/1.1" 503')
    assert 'refused="too many request bodies from your address' in line
    # Places are given back (once the server has seen the closes): the address uploads again.
    deadline = time.monotonic() + 5
    while (
        status := requests.put(server.url + "after.bin", data=big, timeout=10).status_code
    ) == 503:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert status == 201


def test_more_slow_bodies_than_the_process_bound_get_503(server: ServerProcess) -> None:
    addresses = [f"127.0.0.{3 + n // PER_ADDRESS}" for n in range(PER_PROCESS)]
    with kept_alive_uploads(server, addresses):
        with connect_from(server, "127.0.0.9") as sock:
            sock.sendall(put_head("over.txt", 1000, "Expect: 100-continue"))
            answer = read_until_closed(sock, within=5)
        assert_refused(answer, 503)
        assert answer.header("Retry-After") == "5"
        assert f"(http.max_body_waiters {PER_PROCESS})".encode() in answer.data
        # Requests without a body still to come need no place.
        assert requests.get(server.url + "file.txt", timeout=5).content == OLD
        assert put_at_once(server, "small.txt", b"s" * 4096) == 201


def test_a_trickled_body_nobody_reads_is_not_drained_forever(server: ServerProcess) -> None:
    """A small body the application ignores is drained to keep the connection; slower
    than the minimum rate the draining stops and the connection closes."""
    with connect_from(server) as sock:
        sock.sendall(b"GET /file.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nab")
        started = time.monotonic()
        answer = trickle_until_answered(sock, b"c", 0.25, within=WINDOW + 8)
        if answer.closed is False or not answer.data:
            answer = read_until_closed(sock, within=WINDOW + 8)
    assert answer.status == 200 and OLD in answer.data
    assert answer.closed
    assert time.monotonic() - started < WINDOW + 4


def test_normal_uploads_still_work(server: ServerProcess) -> None:
    big = bytes(range(256)) * 8192  # 2 MiB
    with requests.Session() as session:
        for number, extra in enumerate(({}, {"Expect": "100-continue"})):
            url = server.url + f"normal-{number}.bin"
            assert session.put(url, data=big, headers=extra, timeout=10).status_code == 201
            assert (server.root / f"normal-{number}.bin").read_bytes() == big
        chunks = (big[i : i + 100_000] for i in range(0, len(big), 100_000))
        assert session.put(server.url + "chunked.bin", data=chunks, timeout=10).status_code == 201
        assert (server.root / "chunked.bin").read_bytes() == big


def test_bodies_that_came_with_their_head_need_no_place(server: ServerProcess) -> None:
    """While the address's places are taken, uploads whose body arrived with the head
    are stored: they make no thread wait."""
    failures: list[BaseException] = []

    def small_uploads(number: int) -> None:
        try:
            for i in range(5):
                assert put_at_once(server, f"small-{number}-{i}.txt", b"z" * 4096) == 201
        except BaseException as exc:  # reported below
            failures.append(exc)

    with kept_alive_uploads(server, ["127.0.0.1"] * PER_ADDRESS):
        threads = [threading.Thread(target=small_uploads, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert not failures, failures


def test_over_tls_the_rate_holds_and_uploads_work(tmp_path: Path) -> None:
    """With TLS a wait for body bytes is a wait for records: the same floor."""
    tls = make_tls_files(tmp_path / "tls")
    root = tmp_path / "share"
    root.mkdir()
    (root / "kept.txt").write_bytes(OLD)
    config = tmp_path / "davserver.yaml"
    config.write_text(CONFIG)
    args = ["--workers", "1", "--lock-store", "memory://", "--config", str(config)]
    with ServerProcess(root, [*args, *tls.server_args()], ca_file=tls.ca) as server:
        context = tls.client_context()
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        with context.wrap_socket(raw, server_hostname="localhost") as sock:
            sock.sendall(put_head("kept.txt", 100_000))
            started = time.monotonic()
            answer = trickle_until_answered(sock, b"x" * 10, 0.25, within=WINDOW + 8)
        assert_refused(answer, 408)
        assert b"min_body_rate" in answer.data
        assert time.monotonic() - started < WINDOW + 4
        assert (root / "kept.txt").read_bytes() == OLD
        big = os.urandom(3 * 1024 * 1024 + 5)
        put = requests.put(server.url + "big.bin", data=big, timeout=20, verify=str(tls.ca))
        assert put.status_code == 201
        assert (root / "big.bin").read_bytes() == big


def put_at_once(server: ServerProcess, name: str, body: bytes) -> int:
    """PUT with the head and the body in one send; the status."""
    with connect_from(server) as sock:
        sock.sendall(put_head(name, len(body), "Connection: close") + body)
        return read_until_closed(sock, within=10).status


class SourceAddressAdapter(requests.adapters.HTTPAdapter):
    """Connections of a requests session from a given local address."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]
