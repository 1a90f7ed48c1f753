"""A full disk is 507 Insufficient Storage on every method that writes, never 500,
and changes nothing (RFC 4918 §11.5)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from davserver import config as davconfig
from davserver.runtime.application import build_app
from tests.integration.lock_helpers import lockinfo
from tests.integration.wsgi_client import WsgiClient
from tests.support.tools import small_tmpfs

BIG_OWNER = "<D:owner>" + "x" * 200_000 + "</D:owner>"


@pytest.fixture
def full(tmp_path: Path) -> Iterator[tuple[WsgiClient, Path, str]]:
    """A share whose files and SQLite lock store live on a 2 MiB tmpfs, then filled."""
    with small_tmpfs(tmp_path / "small", "2m") as mount_point:
        root = mount_point / "share"
        (root / ".davserver").mkdir(parents=True)
        (root / "doc.txt").write_bytes(b"keep")
        (root / "dir").mkdir()
        options = {
            "root": str(root),
            "workers": 1,
            "locks.owner_max_bytes": 1 << 20,
            # Large enough for a property that cannot fit on the disk.
            "dav.max_property_bytes": 1 << 20,
            "dav.max_properties_bytes_per_resource": 1 << 21,
        }
        app = build_app(davconfig.load(None, options))
        client = WsgiClient(app.wsgi)
        token = client.request(
            "LOCK", "/doc.txt", lockinfo(), {"Depth": "0", "Timeout": "Second-600"}
        ).header("Lock-Token")
        assert token
        fill(mount_point / "filler")
        try:
            yield client, root, token
        finally:
            app.close()


def fill(path: Path) -> None:
    """Write until the file system refuses with ENOSPC."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        block = b"\0" * 65536
        while True:
            try:
                os.write(fd, block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                if len(block) == 1:
                    return
                block = block[: len(block) // 2]
    finally:
        os.close(fd)


@pytest.mark.e2e
def test_lock_on_a_full_disk_is_507(full: tuple[WsgiClient, Path, str]) -> None:
    client, _root, _token = full
    response = client.request("LOCK", "/dir", lockinfo(owner=BIG_OWNER), {"Timeout": "Second-600"})
    assert response.status == 507, response.text
    assert "storage" in response.text.lower() or "space" in response.text.lower()


@pytest.mark.e2e
def test_proppatch_on_a_full_disk_is_507(full: tuple[WsgiClient, Path, str]) -> None:
    client, _root, _token = full
    value = "v" * 300_000
    body = (
        '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set>'
        f"<D:prop><Z:big>{value}</Z:big></D:prop></D:set></D:propertyupdate>"
    ).encode()
    response = client.request("PROPPATCH", "/dir", body)
    assert response.status == 507, response.text


@pytest.mark.e2e
def test_unlock_on_a_full_disk_never_500(full: tuple[WsgiClient, Path, str]) -> None:
    client, _root, token = full
    response = client.request("UNLOCK", "/doc.txt", headers={"Lock-Token": token})
    assert response.status in (204, 507), response.text


@pytest.mark.e2e
def test_put_on_a_full_disk_is_507(full: tuple[WsgiClient, Path, str]) -> None:
    client, root, token = full
    response = client.request("PUT", "/doc.txt", b"n" * 100_000, {"If": f"({token})"})
    assert response.status == 507, response.text
    assert (root / "doc.txt").read_bytes() == b"keep"
    assert sorted(p.name for p in root.iterdir()) == [".davserver", "dir", "doc.txt"]
