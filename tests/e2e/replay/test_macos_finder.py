"""Replay of macOS Finder (WebDAVFS) saving a file: class check, LOCK, chunked PUT,
body-less refresh, AppleDouble files, quota properties, UNLOCK."""

from __future__ import annotations

import http.client
from collections.abc import Iterator

import pytest

from tests.e2e.clients.support import LiveServer, step
from tests.e2e.replay.http import DAV, body_token, dav_classes, describe, send, statuses

pytestmark = pytest.mark.e2e

OWNER = "<D:href>http://www.apple.com/webdav_fs/</D:href>"
LOCK_BODY = (
    '<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:">'
    "<D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype>"
    f"<D:owner>{OWNER}</D:owner></D:lockinfo>"
)
QUOTA = (
    '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>'
    "<D:quota-available-bytes/><D:quota-used-bytes/></D:prop></D:propfind>"
)


def chunked_put(server: LiveServer, path: str, chunks: list[bytes], token: str) -> int:
    """PUT with Transfer-Encoding: chunked and X-Expected-Entity-Length, like WebDAVFS."""

    def body() -> Iterator[bytes]:
        yield from chunks

    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
    try:
        connection.request(
            "PUT",
            path,
            body=body(),
            headers={
                "Transfer-Encoding": "chunked",
                "X-Expected-Entity-Length": str(sum(map(len, chunks))),
                "If": f"(<{token}>)",
                "Content-Type": "application/octet-stream",
                "User-Agent": "WebDAVFS/3.0.0 (03008000) Darwin/22.1.0 (arm64)",
            },
            encode_chunked=True,
        )
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_finder_save_sequence(anon_server: LiveServer) -> None:
    server, log = anon_server, anon_server.log
    with step("OPTIONS: class 2 advertised", log):
        options = send(server, "OPTIONS", "/")
        assert "2" in dav_classes(options), describe(options)

    with step("LOCK Depth 0, Second-600, Apple owner; token read from the body", log):
        lock = send(server, "LOCK", "/notes.txt", LOCK_BODY, Depth="0", Timeout="Second-600")
        assert lock.status_code in (200, 201), describe(lock)
        token = body_token(lock)
        assert OWNER in lock.text, describe(lock)
        assert (server.root / "notes.txt").exists(), "LOCK on an unmapped URL creates it"

    with step("chunked PUT with X-Expected-Entity-Length and the token", log):
        chunks = [b"first chunk\n", b"second chunk\n" * 1000, b"last\n"]
        status = chunked_put(server, "/notes.txt", chunks, token)
        put = log.first("PUT", "/notes.txt")
        assert status in (200, 201, 204), f"chunked PUT answered {status}: {put}"
        assert put["bytes_in"] == len(b"".join(chunks)), put  # the whole chunked body
        assert (server.root / "notes.txt").read_bytes() == b"".join(chunks)

    with step("body-less refresh with If: (<token>)", log):
        refresh = send(server, "LOCK", "/notes.txt", If=f"(<{token}>)", Timeout="Second-600")
        assert refresh.status_code == 200, describe(refresh)
        assert body_token(refresh) == token, describe(refresh)

    with step("AppleDouble ._notes.txt PUT", log):
        apple = send(server, "PUT", "/._notes.txt", b"\x00\x05\x16\x07 AppleDouble")
        assert apple.status_code in (201, 204), describe(apple)
        assert (server.root / "._notes.txt").read_bytes() == b"\x00\x05\x16\x07 AppleDouble"

    with step("quota properties", log):
        quota = send(server, "PROPFIND", "/", QUOTA, Depth="0")
        assert quota.status_code == 207, describe(quota)
        got = statuses(quota)
        for name in ("quota-available-bytes", "quota-used-bytes"):
            assert got.get(DAV + name) == "HTTP/1.1 200 OK", f"{name}: {describe(quota)}"

    with step("UNLOCK", log):
        unlock = send(server, "UNLOCK", "/notes.txt", Lock_Token=f"<{token}>")
        assert unlock.status_code == 204, describe(unlock)
        assert (server.root / "notes.txt").read_bytes() == b"".join(chunks)
