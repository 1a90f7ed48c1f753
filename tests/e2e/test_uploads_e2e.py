"""Lose nothing, against a real server: cut-off and killed uploads, chunked bodies,
ranges, hostile paths, the state directory, a full disk, Win32 and quota properties."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from davserver.dav.methods import METHODS
from davserver.fs.uploads import is_temp_name
from tests.support.server import ServerProcess
from tests.support.serveruser import SHARED_TEXT
from tests.support.tools import small_tmpfs

pytestmark = pytest.mark.e2e

OLD = os.urandom(200_000)
NEW_SIZE = 400_000


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if is_temp_name(p.name)]


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def raw_request(server: ServerProcess, data: bytes) -> bytes:
    """Send bytes as they are (no client-side path normalisation); return the answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def simple(method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""):
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body or method in ("PUT", "PROPPATCH", "PROPFIND", "LOCK"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    root = tmp_path / "share"
    root.mkdir()
    with ServerProcess(root) as srv:
        yield srv


# --- interrupted uploads -------------------------------------------------------------------


@pytest.mark.parametrize("sent", [0, NEW_SIZE // 2, NEW_SIZE - 1])
@pytest.mark.parametrize("existing", [True, False])
def test_cut_off_upload_loses_nothing(server: ServerProcess, sent: int, existing: bool) -> None:
    target = server.root / "doc.bin"
    if existing:
        target.write_bytes(OLD)
    head = simple("PUT", "/doc.bin", {"Content-Length": str(NEW_SIZE)})
    head = head.replace(b"Content-Length: 0\r\n", b"")
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(head + b"N" * sent)
        time.sleep(0.3)  # the server is now inside the upload
    assert wait_until(lambda: not temp_files(server.root))
    if existing:
        assert target.read_bytes() == OLD
    else:
        assert not target.exists()
    assert requests.options(server.url, timeout=5).status_code == 200


def test_killed_during_upload_then_restart(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    (root / "doc.bin").write_bytes(OLD)
    server = ServerProcess(root).start()
    try:
        head = simple("PUT", "/doc.bin", {"Content-Length": str(NEW_SIZE)})
        head = head.replace(b"Content-Length: 0\r\n", b"")
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(head + b"N" * (NEW_SIZE // 2))
            assert wait_until(lambda: bool(temp_files(root)))
            server.kill()
    finally:
        server.stop()
    assert (root / "doc.bin").read_bytes() == OLD
    assert temp_files(root), "the crash should have left the partial upload behind"
    with ServerProcess(root) as restarted:
        assert temp_files(root) == []  # cleaned at start
        assert requests.get(restarted.url + "doc.bin", timeout=10).content == OLD


# --- chunked uploads -----------------------------------------------------------------------


def chunked(body: bytes, size: int = 7000) -> bytes:
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


@pytest.mark.parametrize("expected", [None, "exact"])
def test_chunked_upload(server: ServerProcess, expected: str | None) -> None:
    body = os.urandom(100_000)
    headers = {"Transfer-Encoding": "chunked"}
    if expected:
        headers["X-Expected-Entity-Length"] = str(len(body))
    request = simple("PUT", "/c.bin", headers).replace(b"Content-Length: 0\r\n", b"")
    answer = raw_request(server, request + chunked(body))
    assert status_of(answer) == 201, answer[:300]
    assert (server.root / "c.bin").read_bytes() == body


def test_chunked_upload_with_wrong_expected_length(server: ServerProcess) -> None:
    (server.root / "c.bin").write_bytes(OLD)
    headers = {"Transfer-Encoding": "chunked", "X-Expected-Entity-Length": "999999"}
    request = simple("PUT", "/c.bin", headers).replace(b"Content-Length: 0\r\n", b"")
    answer = raw_request(server, request + chunked(b"short"))
    assert status_of(answer) == 400
    assert (server.root / "c.bin").read_bytes() == OLD
    assert temp_files(server.root) == []


def test_cut_off_chunked_upload(server: ServerProcess) -> None:
    (server.root / "c.bin").write_bytes(OLD)
    request = simple("PUT", "/c.bin", {"Transfer-Encoding": "chunked"})
    request = request.replace(b"Content-Length: 0\r\n", b"")
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(request + chunked(b"x" * 50_000)[:-5])  # no final chunk
        time.sleep(0.3)
    assert wait_until(lambda: not temp_files(server.root))
    assert (server.root / "c.bin").read_bytes() == OLD


# --- big files, ranges, ETags --------------------------------------------------------------


def test_big_file_roundtrip_and_range(server: ServerProcess, tmp_path: Path) -> None:
    size = 48 * 1024 * 1024 + 17
    block = os.urandom(1024 * 1024)
    source = tmp_path / "big-source.bin"
    with source.open("wb") as out:
        for offset in range(0, size, len(block)):
            out.write(block[: min(len(block), size - offset)])
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    with source.open("rb") as body:  # a file: requests sends Content-Length, streamed
        put = requests.put(server.url + "big.bin", data=body, timeout=120)
    assert put.status_code == 201
    assert (server.root / "big.bin").stat().st_size == size
    got = hashlib.sha256()
    with requests.get(server.url + "big.bin", stream=True, timeout=120) as response:
        assert response.headers["Content-Length"] == str(size)
        for part in response.iter_content(1024 * 1024):
            got.update(part)
    assert got.hexdigest() == digest
    start = 5 * 1024 * 1024 + 3
    ranged = requests.get(
        server.url + "big.bin", timeout=30, headers={"Range": f"bytes={start}-{start + 99}"}
    )
    assert ranged.status_code == 206
    assert ranged.headers["Content-Range"] == f"bytes {start}-{start + 99}/{size}"
    assert ranged.content == (block * 6)[start : start + 100]
    head = requests.head(server.url + "big.bin", timeout=10)
    assert head.headers["Content-Length"] == str(size)
    assert head.headers["ETag"] == response.headers["ETag"] == put.headers["ETag"]


def test_etag_changes_on_same_size_rewrite(server: ServerProcess) -> None:
    tags = [
        requests.put(server.url + "e.txt", data=c, timeout=10).headers["ETag"]
        for c in (b"aaaa", b"bbbb", b"aaaa")
    ]
    assert len(set(tags)) == 3
    assert requests.head(server.url + "e.txt", timeout=10).headers["ETag"] == tags[-1]


# --- paths, symlinks, state directory ------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/../etc/passwd",
        "/%2e%2e/etc/passwd",
        "/%2E%2E/x",
        "/a%5c..%5cb",
        "/a\\b",
        "/a%00b",
        "/" + "n" * 300,
    ],
)
def test_traversal_is_400(server: ServerProcess, path: str) -> None:
    for method in ("GET", "PUT", "DELETE"):
        answer = raw_request(server, simple(method, path))
        assert status_of(answer) == 400, (method, path)


def test_symlinks_outside(server: ServerProcess, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    (server.root / "link").symlink_to(outside / "secret")
    (server.root / "dirlink").symlink_to(outside)
    listing = requests.request("PROPFIND", server.url, headers={"Depth": "1"}, timeout=10)
    assert b"link" not in listing.content
    for method, path in [
        ("GET", "link"),
        ("PUT", "link"),
        ("DELETE", "link"),
        ("GET", "dirlink/secret"),
        ("PUT", "dirlink/new"),
    ]:
        response = requests.request(method, server.url + path, data=b"x", timeout=10)
        assert response.status_code == 403, (method, path)
    for method in ("COPY", "MOVE"):
        response = requests.request(
            method, server.url + "link", timeout=10, headers={"Destination": server.url + "copy"}
        )
        assert response.status_code == 403
    assert (outside / "secret").read_bytes() == b"secret"
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert (server.root / "link").is_symlink()


STATE_METHODS = tuple(METHODS)


@pytest.mark.parametrize("path", ["/.davserver/", "/.DAVSERVER/x", "/%2Edavserver"])
def test_state_dir_by_every_method(server: ServerProcess, path: str) -> None:
    state = server.root / ".davserver"
    before = sorted(p.name for p in state.iterdir())
    for method in STATE_METHODS:
        headers = {"Destination": server.url + "elsewhere"}
        answer = raw_request(server, simple(method, path, headers))
        assert status_of(answer) == 404, (method, path)
    for method in ("COPY", "MOVE"):
        (server.root / "f.txt").write_bytes(b"f")
        answer = raw_request(
            server, simple(method, "/f.txt", {"Destination": server.url + path[1:]})
        )
        assert status_of(answer) == 403, (method, path)
    assert sorted(p.name for p in state.iterdir()) == before
    assert not (server.root / "elsewhere").exists()


# --- properties ----------------------------------------------------------------------------


def test_win32_proppatch_and_quota(server: ServerProcess) -> None:
    requests.put(server.url + "w.txt", data=b"windows", timeout=10)
    body = (
        '<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:" '
        'xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop>'
        "<Z:Win32CreationTime>Sun, 06 Nov 1994 08:49:37 GMT</Z:Win32CreationTime>"
        "<Z:Win32LastAccessTime>Sun, 06 Nov 1994 08:49:37 GMT</Z:Win32LastAccessTime>"
        "<Z:Win32LastModifiedTime>Sun, 06 Nov 1994 08:49:37 GMT</Z:Win32LastModifiedTime>"
        "<Z:Win32FileAttributes>00000020</Z:Win32FileAttributes>"
        "</D:prop></D:set></D:propertyupdate>"
    )
    response = requests.request(
        "PROPPATCH",
        server.url + "w.txt",
        data=body,
        timeout=10,
        headers={"User-Agent": "Microsoft-WebDAV-MiniRedir/10.0.19045"},
    )
    assert response.status_code == 207
    assert response.content.count(b"HTTP/1.1 200 OK") >= 1
    assert b"409" not in response.content and b"424" not in response.content
    assert int((server.root / "w.txt").stat().st_mtime) == 784111777
    assert requests.head(server.url + "w.txt", timeout=10).headers["Last-Modified"] == (
        "Sun, 06 Nov 1994 08:49:37 GMT"
    )
    quota = requests.request(
        "PROPFIND",
        server.url,
        timeout=10,
        headers={"Depth": "0"},
        data=b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>'
        b"<D:quota-available-bytes/><D:quota-used-bytes/></D:prop></D:propfind>",
    )
    assert quota.status_code == 207
    # the share as deployed also holds root's readable readme (tests/support/serveruser.py)
    used = 7 + len(SHARED_TEXT)
    assert f"<D:quota-used-bytes>{used}</D:quota-used-bytes>".encode() in quota.content


# --- a real full disk ----------------------------------------------------------------------


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "small", "2m") as mount_point:
        yield mount_point


def test_full_disk_real_server(small_fs: Path) -> None:
    root = small_fs / "share"
    root.mkdir()
    old = os.urandom(600_000)
    (root / "doc.bin").write_bytes(old)
    with ServerProcess(root, ["--lock-store", "memory://"]) as server:
        response = requests.put(server.url + "doc.bin", data=b"n" * 1_800_000, timeout=30)
        assert response.status_code == 507
        assert (root / "doc.bin").read_bytes() == old
        assert temp_files(root) == []
        with contextlib.suppress(requests.ConnectionError):
            assert requests.put(server.url + "x.bin", data=b"ok", timeout=10).status_code == 201
