"""A tree 5,000 levels deep (10,000 bytes of path, beyond PATH_MAX): creatable,
listable, copyable, deletable, and the server starts with it present."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from davserver.dav.guard import MAX_PATH_BYTES
from davserver.fs.containment import DIR_FLAGS, DirStack
from davserver.fs.trees import remove_at
from tests.integration.wsgi_client import WsgiClient, make_client
from tests.support.server import ServerProcess

LEVELS = 5000
DAV = "{DAV:}"


def build(top: Path, levels: int) -> None:
    """``top/d/.../d/bottom.txt`` by descriptors (``levels`` folders in all)."""
    os.mkdir(top)
    fd = os.open(top, DIR_FLAGS)
    for _ in range(levels - 1):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", DIR_FLAGS, dir_fd=fd)
        os.close(fd)
        fd = child
    with open(os.open("bottom.txt", os.O_WRONLY | os.O_CREAT, dir_fd=fd), "wb") as bottom:
        bottom.write(b"at the bottom")
    os.close(fd)


def measure(top: Path) -> tuple[int, list[str], bytes]:
    """Depth of the deepest folder below ``top``, the names there, the bottom file."""
    with DirStack(os.open(top, DIR_FLAGS)) as stack:
        while stack.enter("d"):
            pass
        names = sorted(os.listdir(stack.fd))
        content = b""
        if "bottom.txt" in names:
            with open(os.open("bottom.txt", os.O_RDONLY, dir_fd=stack.fd), "rb") as bottom:
                content = bottom.read()
        return stack.depth, names, content


@pytest.fixture(scope="module")
def deep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WsgiClient, Path]]:
    """One tree for all tests (building one takes seconds); each test leaves it as it was."""
    root = tmp_path_factory.mktemp("deep") / "share"
    client = make_client(root)
    build(root / "t", LEVELS)
    yield client, root
    fd = os.open(root, os.O_PATH)
    for name in os.listdir(root):
        remove_at(fd, name)  # pytest's own clean-up recurses and would fail
    os.close(fd)


def hrefs(body: bytes) -> list[str]:
    return [e.text or "" for e in etree.fromstring(body).iter(f"{DAV}href")]


def test_listing(deep) -> None:
    client, _ = deep
    answer = client.request("PROPFIND", "/t", headers={"Depth": "infinity"})
    assert answer.status == 207
    found = hrefs(answer.body)
    assert len(found) == LEVELS + 1  # every folder and the file
    assert found[-1] == "/t" + "/d" * (LEVELS - 1) + "/bottom.txt"
    # The deepest URL the path limit allows: its file system path exceeds PATH_MAX.
    levels = (MAX_PATH_BYTES - len("/t")) // 2
    below = "/t" + "/d" * levels
    answer = client.request("PROPFIND", below, headers={"Depth": "1"})
    assert answer.status == 207
    assert hrefs(answer.body) == [below + "/", below + "/d/"]


def test_writes_at_depth(deep) -> None:
    client, root = deep
    levels = (MAX_PATH_BYTES - len("/t/new.txt")) // 2
    folder = "/t" + "/d" * levels
    assert client.request("MKCOL", folder + "/new").status == 201
    assert client.request("PUT", folder + "/new.txt", b"deep").status == 201
    assert client.request("GET", folder + "/new.txt").body == b"deep"
    moved = client.request("MOVE", folder + "/new", headers={"Destination": folder + "/moved"})
    assert moved.status == 201
    assert client.request("DELETE", folder + "/new.txt").status == 204
    with DirStack(os.open(root / "t", DIR_FLAGS)) as stack:
        for _ in range(levels):
            assert stack.enter("d")
        assert sorted(os.listdir(stack.fd)) == ["d", "moved"]
    assert client.request("DELETE", folder + "/moved").status == 204


def test_copy_and_delete(deep) -> None:
    client, root = deep
    answer = client.request("COPY", "/t", headers={"Destination": "http://localhost/copy"})
    assert answer.status == 201, answer.text
    assert measure(root / "copy") == (LEVELS - 1, ["bottom.txt"], b"at the bottom")
    assert measure(root / "t") == (LEVELS - 1, ["bottom.txt"], b"at the bottom")
    assert client.request("DELETE", "/copy").status == 204  # the same walk as any DELETE
    assert sorted(os.listdir(root)) == [".davserver", "t"]


@pytest.mark.e2e
def test_the_server_starts_with_it_and_cleans_up_at_the_bottom(deep) -> None:
    _, root = deep
    with DirStack(os.open(root / "t", DIR_FLAGS)) as stack:
        while stack.enter("d"):
            pass
        os.close(os.open(".davserver-upload-0123.tmp", os.O_WRONLY | os.O_CREAT, dir_fd=stack.fd))
    with ServerProcess(root, ["--workers", "1"]) as server:
        assert "rolled back an unfinished upload in /t/d/d/d" in server.stderr()
    assert measure(root / "t") == (LEVELS - 1, ["bottom.txt"], b"at the bottom")
