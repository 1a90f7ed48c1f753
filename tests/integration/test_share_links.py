"""No name leads to the state directory or out of the root, however it was made (in-process)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from davserver.fs import uploads
from tests.integration.wsgi_client import WsgiClient, make_client

STATE = b"SQLite format 3\x00 the lock database"
PROPFIND_ALL = b'<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>'


def hidden_leftovers(top: Path) -> list[str]:
    return [str(p) for p in top.rglob("*") if uploads.is_temp_name(p.name)]


@pytest.fixture
def share(tmp_path: Path) -> tuple[WsgiClient, Path]:
    root = tmp_path / "share"
    client = make_client(root)
    (root / ".davserver" / "locks.sqlite").write_bytes(STATE)
    (root / "docs").mkdir()
    return client, root


LINKS = {
    "/state": ".davserver",  # relative, inside the root
    "/docs/state": "../.davserver",
    "/abs-state": "{root}/.davserver",
    "/state-file": ".davserver/locks.sqlite",
}


@pytest.mark.parametrize(("link", "points_to"), LINKS.items())
def test_a_link_to_the_state_directory_serves_nothing(share, link: str, points_to: str) -> None:
    client, root = share
    (root / link.lstrip("/")).symlink_to(points_to.format(root=root))
    for path in (link, link + "/locks.sqlite", link + "/"):
        for method in ("GET", "HEAD", "PROPFIND", "DELETE", "PUT"):
            body = b"overwritten" if method == "PUT" else b""
            answer = client.request(method, path, body, {"Depth": "1"})
            assert answer.status in (403, 404), (method, path, answer.status)
            assert STATE not in answer.body
    copied = client.request(
        "COPY", link + "/locks.sqlite", headers={"Destination": "http://localhost/docs/got"}
    )
    assert copied.status in (403, 404)
    assert not (root / "docs" / "got").exists()
    assert (root / ".davserver" / "locks.sqlite").read_bytes() == STATE
    assert sorted(p.name for p in (root / ".davserver").iterdir()) == ["locks.sqlite"]
    listing = client.request("PROPFIND", "/", PROPFIND_ALL, {"Depth": "infinity"})
    assert listing.status == 207 and b"locks.sqlite" not in listing.body


def test_a_state_directory_outside_the_root_is_unreachable_too(tmp_path: Path) -> None:
    root, state = tmp_path / "share", tmp_path / "state"
    state.mkdir()
    (state / "locks.sqlite").write_bytes(STATE)
    client = make_client(root, state_dir=str(state))
    (root / "state").symlink_to(state)
    for path in ("/state", "/state/locks.sqlite"):
        answer = client.request("GET", path)
        assert answer.status == 403, (path, answer.status)
        assert STATE not in answer.body


class SwappingBody(io.RawIOBase):
    """A request body that, half way, moves the target's folder away and puts a link
    to an outside folder where it was (what an attacker with a shell could do)."""

    def __init__(self, root: Path, outside: Path, data: bytes):
        self._root, self._outside = root, outside
        self._parts = [data[: len(data) // 2], data[len(data) // 2 :]]

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if not self._parts:
            return b""
        if len(self._parts) == 1:
            os.rename(self._root / "docs", self._root / "moved")
            (self._root / "docs").symlink_to(self._outside)
        return self._parts.pop(0)


def test_a_folder_swapped_for_a_link_during_an_upload(share, tmp_path: Path) -> None:
    client, root = share
    outside = tmp_path / "outside"
    outside.mkdir()
    body = b"x" * 100_000
    answer = client.request(
        "PUT",
        "/docs/new.txt",
        headers={"Content-Length": str(len(body))},
        stream=SwappingBody(root, outside, body),  # type: ignore[arg-type]
    )
    assert answer.status == 409, answer.text  # its folder is not where the client named
    assert list(outside.iterdir()) == []
    assert list((root / "moved").iterdir()) == []  # the temporary file went too
    assert hidden_leftovers(root) == []


def test_a_folder_swapped_for_a_link_before_an_upload(share, tmp_path: Path) -> None:
    client, root = share
    outside = tmp_path / "outside"
    outside.mkdir()
    os.rename(root / "docs", root / "moved")
    (root / "docs").symlink_to(outside)
    for method, path in (("PUT", "/docs/new.txt"), ("MKCOL", "/docs/new"), ("GET", "/docs/")):
        assert client.request(method, path, b"x" if method == "PUT" else b"").status == 403
    lock = client.request(
        "LOCK",
        "/docs/locked.txt",
        b'<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>'
        b"<D:locktype><D:write/></D:locktype></D:lockinfo>",
    )
    assert lock.status == 403
    assert list(outside.iterdir()) == []
