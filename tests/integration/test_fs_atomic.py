"""Atomic PUT and COPY: the old content survives every failed write (in-process)."""

from __future__ import annotations

import errno
import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from davserver.fs import uploads
from davserver.fs.recovery import recover
from davserver.fs.share import Share
from tests.conftest import DeepTree
from tests.integration.wsgi_client import WsgiClient, make_client
from tests.support.tools import small_tmpfs

OLD = b"old content that must survive\n" * 100


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if uploads.is_temp_name(p.name)]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "share"


@pytest.fixture
def client(root: Path) -> WsgiClient:
    return make_client(root)


class CutOffInput(io.RawIOBase):
    """A body that ends early (the client went away), or raises like a broken chunked body."""

    def __init__(self, data: bytes, *, error: Exception | None = None):
        self._data = io.BytesIO(data)
        self._error = error

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self._data.read(size)
        if not chunk and self._error:
            raise self._error
        return chunk


def test_put_replaces_content_and_keeps_mode(client: WsgiClient, root: Path) -> None:
    target = root / "doc.txt"
    target.write_bytes(OLD)
    target.chmod(0o640)
    response = client.request("PUT", "/doc.txt", b"new")
    assert response.status == 204
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert temp_files(root) == []


def test_new_file_gets_default_mode(client: WsgiClient, root: Path) -> None:
    old_umask = os.umask(0o022)
    os.umask(old_umask)
    assert client.request("PUT", "/new.txt", b"x").status == 201
    assert stat.S_IMODE((root / "new.txt").stat().st_mode) == 0o666 & ~old_umask


@pytest.mark.parametrize("sent", [0, 1, len(OLD) // 2, len(OLD) - 1])
def test_short_body_keeps_old_content(client: WsgiClient, root: Path, sent: int) -> None:
    (root / "doc.txt").write_bytes(OLD)
    body = b"N" * len(OLD)
    response = client.request(
        "PUT",
        "/doc.txt",
        headers={"Content-Length": str(len(body))},
        stream=CutOffInput(body[:sent]),  # type: ignore[arg-type]
    )
    assert response.status == 400
    assert (root / "doc.txt").read_bytes() == OLD
    assert temp_files(root) == []


def test_short_body_of_new_file_leaves_nothing(client: WsgiClient, root: Path) -> None:
    response = client.request(
        "PUT",
        "/fresh.bin",
        headers={"Content-Length": "1000"},
        stream=CutOffInput(b"x" * 10),  # type: ignore[arg-type]
    )
    assert response.status == 400
    assert sorted(p.name for p in root.iterdir()) == [".davserver"]


def test_broken_chunked_body_keeps_old_content(client: WsgiClient, root: Path) -> None:
    (root / "doc.txt").write_bytes(OLD)
    broken = CutOffInput(b"partial", error=ValueError("Bad chunked transfer size: b''"))
    response = client.request(
        "PUT",
        "/doc.txt",
        headers={"Transfer-Encoding": "chunked"},
        stream=broken,  # type: ignore[arg-type]
    )
    assert response.status == 400  # the client's malformed body, never a 500
    assert (root / "doc.txt").read_bytes() == OLD
    assert temp_files(root) == []


def test_chunked_with_wrong_expected_length_is_refused(client: WsgiClient, root: Path) -> None:
    (root / "doc.txt").write_bytes(OLD)
    headers = {"Transfer-Encoding": "chunked", "X-Expected-Entity-Length": "10"}
    response = client.request("PUT", "/doc.txt", headers=headers, stream=io.BytesIO(b"12345"))
    assert response.status == 400
    assert (root / "doc.txt").read_bytes() == OLD


def test_chunked_with_expected_length(client: WsgiClient, root: Path) -> None:
    headers = {"Transfer-Encoding": "chunked", "X-Expected-Entity-Length": "5"}
    response = client.request("PUT", "/doc.txt", headers=headers, stream=io.BytesIO(b"12345"))
    assert response.status == 201
    assert (root / "doc.txt").read_bytes() == b"12345"


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_full_disk_gives_507_and_keeps_old_content(
    client: WsgiClient, root: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    (root / "doc.txt").write_bytes(OLD)
    calls = []

    def full_disk(fd: int, data: memoryview) -> int:
        calls.append(len(data))
        if len(calls) > 1:
            raise OSError(code, os.strerror(code))
        return os.write(fd, data)

    monkeypatch.setattr(uploads, "_write", full_disk)
    body = b"N" * (3 * 1024 * 1024)  # several 1 MiB blocks
    response = client.request("PUT", "/doc.txt", body)
    assert response.status == 507
    assert (root / "doc.txt").read_bytes() == OLD
    assert temp_files(root) == []
    assert client.request("PUT", "/other.txt", b"x").status == 507
    assert not (root / "other.txt").exists()


def test_fsync_failure_keeps_old_content(
    client: WsgiClient, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (root / "doc.txt").write_bytes(OLD)

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(uploads.os, "fsync", no_space)
    assert client.request("PUT", "/doc.txt", b"new").status == 507
    assert (root / "doc.txt").read_bytes() == OLD
    assert temp_files(root) == []


def test_copy_is_atomic_and_keeps_times(client: WsgiClient, root: Path) -> None:
    (root / "src.txt").write_bytes(b"source")
    os.utime(root / "src.txt", (1_000_000_000, 1_000_000_000))
    (root / "dst.txt").write_bytes(OLD)
    response = client.request(
        "COPY", "/src.txt", headers={"Destination": "http://localhost/dst.txt"}
    )
    assert response.status == 204
    assert (root / "dst.txt").read_bytes() == b"source"
    assert int((root / "dst.txt").stat().st_mtime) == 1_000_000_000
    assert temp_files(root) == []


def test_copy_on_full_disk_keeps_destination(
    client: WsgiClient, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (root / "src.txt").write_bytes(b"source")
    (root / "dst.txt").write_bytes(OLD)

    def full(fd: int, data: memoryview) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(uploads, "_write", full)
    response = client.request(
        "COPY", "/src.txt", headers={"Destination": "http://localhost/dst.txt"}
    )
    assert response.status == 507, response.text
    assert (root / "dst.txt").read_bytes() == OLD
    assert temp_files(root) == []


def test_lock_on_unmapped_url_creates_empty_file(client: WsgiClient, root: Path) -> None:
    body = (
        b'<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
        b"</D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>"
    )
    response = client.request("LOCK", "/locked.txt", body, {"Depth": "0"})
    assert response.status == 201
    assert (root / "locked.txt").read_bytes() == b""


def test_temp_files_are_invisible(client: WsgiClient, root: Path) -> None:
    leftover = root / ".davserver-upload-0123456789abcdef.tmp"
    leftover.write_bytes(b"partial")
    listing = client.request("PROPFIND", "/", headers={"Depth": "1"})
    assert listing.status == 207
    assert b"davserver-upload" not in listing.body
    for method in ("GET", "PUT", "DELETE", "PROPFIND"):
        assert client.request(method, "/" + leftover.name).status == 404, method
    moved = client.request(
        "MOVE", "/x", headers={"Destination": "http://localhost/" + leftover.name.upper()}
    )
    assert moved.status == 403
    assert leftover.read_bytes() == b"partial"


def test_cleanup_temp_files(root: Path) -> None:
    (root / "sub" / ".davserver").mkdir(parents=True)
    (root / ".davserver").mkdir()
    keep_state = root / ".davserver" / ".davserver-upload-aa.tmp"
    keep_state.write_bytes(b"state")
    gone = [root / ".davserver-upload-1.tmp", root / "sub" / ".davserver-upload-2.tmp"]
    for path in gone:
        path.write_bytes(b"x")
    keep = [root / "upload.tmp", root / "sub" / "file.txt"]
    for path in keep:
        path.write_bytes(b"y")
    # A link with a temporary name is removed itself; what it points to stays.
    (root / "sub" / ".davserver-upload-link.tmp").symlink_to(root / "sub" / "file.txt")
    # A copy or deletion cut short leaves a hidden tree: it goes as a whole.
    (root / "sub" / ".davserver-copy-3.tmp" / "deep").mkdir(parents=True)
    (root / "sub" / ".davserver-copy-3.tmp" / "deep" / "f").write_bytes(b"z")
    share = Share(root, state_dir=root / ".davserver")
    assert len(recover(share)) == 4
    assert not any(p.exists() for p in gone)
    assert all(p.exists() for p in keep)
    assert keep_state.exists()
    assert not (root / "sub" / ".davserver-upload-link.tmp").is_symlink()
    assert not (root / "sub" / ".davserver-copy-3.tmp").exists()


def test_cleanup_temp_files_in_a_deep_tree(root: Path, deep_tree: DeepTree) -> None:
    """Startup cleanup walks any depth without recursion (1,100 nested folders)."""
    root.mkdir(parents=True, exist_ok=True)
    deep = deep_tree(root / "top", 1100)
    (deep / ".davserver-upload-x.tmp").write_bytes(b"x")
    share = Share(root, state_dir=root / ".davserver")
    assert len(recover(share)) == 1
    assert not (deep / ".davserver-upload-x.tmp").exists()


# --- a real, small file system ------------------------------------------------------------


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "small", "1m") as mount_point:
        yield mount_point


@pytest.mark.e2e
def test_real_full_disk_gives_507(small_fs: Path) -> None:
    root = small_fs / "share"
    client = make_client(root)
    old = b"o" * 300_000
    assert client.request("PUT", "/doc.bin", old).status == 201
    # Old file (300 kB) plus a 900 kB temp file do not fit into 1 MiB.
    response = client.request("PUT", "/doc.bin", b"n" * 900_000)
    assert response.status == 507
    assert (root / "doc.bin").read_bytes() == old
    assert temp_files(root) == []
    assert client.request("PUT", "/doc.bin", b"n" * 500_000).status == 204
    assert (root / "doc.bin").read_bytes() == b"n" * 500_000
