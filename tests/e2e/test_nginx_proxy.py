"""davserver behind a real nginx (trusted_proxies: [127.0.0.1]): the client nginx saw
is the one logged and holding locks, 423 bodies pass through intact, litmus passes."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from lxml import etree

from tests.e2e import litmus
from tests.integration.lock_helpers import XML_TYPE, basic, lockinfo
from tests.support.nginx import nginx_proxy
from tests.support.server import ServerProcess
from tests.support.tools import require_tool

pytestmark = pytest.mark.e2e

CLIENT = "127.0.0.2"  # the client's own address, distinct from nginx's 127.0.0.1


@pytest.fixture
def proxied(tmp_path: Path, htpasswd_file: Path) -> Iterator[tuple[ServerProcess, str]]:
    config = tmp_path / "davserver.yaml"
    config.write_text("trusted_proxies: [127.0.0.1]\nmax_connections_per_address: 0\n")
    args = ["--workers", "1", "--lock-store", "memory://", "--htpasswd", str(htpasswd_file)]
    with ServerProcess(tmp_path / "share", [*args, "--config", str(config)]) as server:
        prefix = tmp_path / "nginx"
        with nginx_proxy(prefix, server.port) as url:
            yield server, url


def send(
    url: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request to ``url`` from CLIENT's address."""
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    conn = http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=30, source_address=(CLIENT, 0)
    )
    try:
        conn.request(method, path, body=body, headers=headers or {})
        answer = conn.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        conn.close()


def access_line(server: ServerProcess, needle: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in server.stderr().splitlines():
            if needle in line:
                return line
        time.sleep(0.05)
    raise AssertionError(f"no log line with {needle!r}:\n{server.stderr()[-3000:]}")


def test_the_client_behind_nginx_is_logged_and_locks_hold(
    proxied: tuple[ServerProcess, str],
) -> None:
    server, url = proxied
    headers = {"Content-Type": XML_TYPE, "Authorization": basic("alice")}
    status, answer, _ = send(url, "LOCK", "/doc.txt", lockinfo(), headers)
    assert status == 201
    token = answer["lock-token"].strip("<>")
    line = access_line(server, '"LOCK /doc.txt')
    assert line.startswith(f"{CLIENT} - alice "), line
    assert "proxy=127.0.0.1" in line
    status, answer, body = send(url, "PUT", "/doc.txt", b"bob's", {"Authorization": basic("bob")})
    assert status == 423
    assert int(answer["content-length"]) == len(body)
    error = etree.fromstring(body)
    hrefs = error.findall("D:lock-token-submitted/D:href", {"D": "DAV:"})
    assert [href.text for href in hrefs] == ["/doc.txt"], body
    assert token not in body.decode()  # bob is not told alice's token


def test_litmus_basic_and_locks_through_nginx(proxied: tuple[ServerProcess, str]) -> None:
    binary = require_tool("litmus")
    _, url = proxied
    report = litmus.run(binary, url, "alice", "alice-secret", suites=("basic", "locks"))
    assert not report.failed, "litmus failures:\n" + "\n".join(report.failed)
    assert not report.warnings, "litmus warnings:\n" + "\n".join(report.warnings)
    assert report.suites_passed == ["basic", "locks"], report.output[-3000:]
