"""The single sign-on header sent twice with differing values is refused (400)
by the HTTP layer, as is a second Authorization: the last one used to win, so a
proxy that adds its Remote-User in front of a client's own (instead of
replacing it) handed the request to whoever the client named."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e


def propfind(server: ServerProcess, extra: bytes) -> tuple[bytes, bytes]:
    port = urlsplit(server.url).port
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(
            b"PROPFIND / HTTP/1.1\r\nHost: 127.0.0.1\r\nDepth: 0\r\nConnection: close\r\n"
            + extra
            + b"Content-Length: 0\r\n\r\n"
        )
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], body


@pytest.fixture
def server(tmp_path: Path, htpasswd_file: Path) -> Iterator[ServerProcess]:
    config = tmp_path / "davserver.yaml"
    config.write_text(
        f"htpasswd: {htpasswd_file}\nuser_header: Remote-User\n"
        "trusted_proxies: [127.0.0.1]\nuser_root: users/{user}\nadmins: [root]\n"
    )
    process = ServerProcess(tmp_path / "share", ["--config", str(config)]).start()
    yield process
    process.stop()


def test_remote_user_twice_is_400_and_nobody_is_logged_in(
    server: ServerProcess, tmp_path: Path
) -> None:
    for extra in (
        b"Remote-User: alice\r\nRemote-User: root\r\n",
        b"Remote-User: alice\r\nremote-user: bob\r\n",
        b"Authorization: Basic YWxpY2U6eA==\r\nAuthorization: Basic cm9vdDp4\r\n",
    ):
        status, body = propfind(server, extra)
        assert status == b"HTTP/1.1 400 Bad Request", (extra, status)
        assert b"header more than once" in body
    assert not (tmp_path / "share" / "users").exists()  # no home folder was made


def test_a_repeated_identical_value_and_one_header_still_work(server: ServerProcess) -> None:
    for extra in (b"Remote-User: alice\r\n", b"Remote-User: alice\r\nRemote-User: alice\r\n"):
        status, body = propfind(server, extra)
        assert status == b"HTTP/1.1 207 Multi-Status", (extra, status, body)
        assert b"<D:href>/</D:href>" in body
