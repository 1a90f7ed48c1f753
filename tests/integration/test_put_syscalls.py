"""The PUT path makes only the system calls it needs (in-process): no random bytes
per temporary name, no fchmod when the new file already has the old one's mode,
one open of the target's folder, its fsync shared with concurrent writers."""

from __future__ import annotations

import gc
import io
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from davserver.fs import containment, uploads
from davserver.fs import share as share_module
from davserver.fs.share import Share
from tests.integration.wsgi_client import WsgiClient, make_client


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "share"


@pytest.fixture
def client(root: Path) -> WsgiClient:
    return make_client(root)


def counting(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[object]:
    """Record each call of ``owner.name`` (then make it)."""
    calls: list[object] = []
    real: Callable[..., object] = getattr(owner, name)

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, spy)
    return calls


def test_temp_names_draw_no_random_bytes_per_name(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_entropy(*args: object) -> str:
        raise AssertionError("getrandom per temporary name")

    monkeypatch.setattr(uploads.secrets, "token_hex", no_entropy)
    names = {uploads.temp_name("upload") for _ in range(1000)}
    assert len(names) == 1000
    assert all(uploads.parse_temp_name(name) == ("upload", "") for name in names)
    tagged = uploads.temp_name("swap", "1a2b")
    assert uploads.parse_temp_name(tagged) == ("swap", "1a2b")


def test_temp_names_of_a_new_process_differ() -> None:
    before = uploads.temp_name("upload")
    stem = uploads._unique.stem
    uploads._unique.reset()  # what a forked child does
    try:
        assert uploads._unique.stem != stem
        assert uploads.temp_name("upload") != before
    finally:
        uploads._unique.stem = stem


def created_mode(root: Path) -> int:
    probe = root / "probe"
    probe.write_bytes(b"")
    mode = stat.S_IMODE(probe.stat().st_mode)
    probe.unlink()
    return mode


def test_overwrite_with_the_usual_mode_needs_no_fchmod(
    client: WsgiClient, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = root / "doc.txt"
    target.write_bytes(b"old")
    target.chmod(created_mode(root))
    fchmods = counting(monkeypatch, os, "fchmod")
    assert client.request("PUT", "/doc.txt", b"new").status == 204
    assert fchmods == []
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == created_mode(root)


def test_overwrite_keeps_an_unusual_mode(
    client: WsgiClient, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = root / "doc.txt"
    target.write_bytes(b"old")
    unusual = 0o600 if created_mode(root) != 0o600 else 0o640
    target.chmod(unusual)
    fchmods = counting(monkeypatch, os, "fchmod")
    response = client.request("PUT", "/doc.txt", b"new")
    assert response.status == 204
    assert len(fchmods) == 1
    st = target.stat()
    assert stat.S_IMODE(st.st_mode) == unusual
    assert response.header("ETag") == f'"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"'


class MovingBody(io.RawIOBase):
    """A body that moves a folder away (and puts ``then`` in its place) once half read."""

    def __init__(self, data: bytes, folder: Path, then: str):
        self._data = io.BytesIO(data)
        self._folder = folder
        self._then = then
        self._moved = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self._data.read(min(size, 4) if size > 0 else 4)
        if not self._moved:
            self._moved = True
            self._folder.rename(self._folder.with_name("moved"))
            if self._then == "folder":
                self._folder.mkdir()
            elif self._then == "link":
                self._folder.symlink_to(self._folder.with_name("moved"))
        return chunk


@pytest.mark.parametrize("depth", [1, 3])
@pytest.mark.parametrize("then", ["nothing", "folder", "link"])
def test_parent_moved_while_the_body_arrives_is_409(
    client: WsgiClient, root: Path, depth: int, then: str
) -> None:
    """The folder opened before the body is checked again before the rename: the
    write never lands in the folder's new place, the old content stays."""
    names = [f"d{i}" for i in range(depth)]
    folder = root.joinpath(*names)
    folder.mkdir(parents=True)
    (folder / "doc.txt").write_bytes(b"old")
    body = b"new content"
    response = client.request(
        "PUT",
        "/" + "/".join([*names, "doc.txt"]),
        headers={"Content-Length": str(len(body))},
        stream=MovingBody(body, folder, then),  # type: ignore[arg-type]
    )
    assert response.status == 409
    assert (folder.with_name("moved") / "doc.txt").read_bytes() == b"old"
    assert not (folder / "doc.txt").exists() or then == "link"
    assert [p for p in root.rglob("*") if uploads.is_temp_name(p.name)] == []


@pytest.mark.parametrize("depth", [1, 3])
def test_overwrite_opens_the_folder_once(
    client: WsgiClient, root: Path, monkeypatch: pytest.MonkeyPatch, depth: int
) -> None:
    """One open of the target's folder serves the lookup, the upload and (for a
    folder at the top) the check before the rename."""
    names = [f"d{i}" for i in range(depth)]
    root.joinpath(*names).mkdir(parents=True)
    path = "/" + "/".join([*names, "doc.txt"])
    assert client.request("PUT", path, b"old").status == 201
    opens = counting(monkeypatch, share_module, "open_beneath")
    response = client.request("PUT", path, b"new")
    assert response.status == 204
    assert len(opens) == (1 if depth == 1 else 2)  # deeper: the check opens the path
    assert root.joinpath(*names, "doc.txt").read_bytes() == b"new"


def test_put_into_a_missing_folder_is_still_409(client: WsgiClient) -> None:
    assert client.request("PUT", "/missing/doc.txt", b"x").status == 409
    assert client.request("PUT", "/missing/deeper/doc.txt", b"x").status == 409


def test_put_onto_a_folder_is_still_405(client: WsgiClient, root: Path) -> None:
    (root / "a" / "b").mkdir(parents=True)
    assert client.request("PUT", "/a/b", b"x").status == 405
    assert client.request("PUT", "/a", b"x").status == 405


@pytest.mark.parametrize("path", ["/doc.txt", "/a/doc.txt", "/a/b/c/doc.txt"])
def test_put_shares_its_folder_fsync(
    client: WsgiClient, root: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """The folder's fsync after the rename goes through the group commit, keyed
    by the folder's identity, and still happens (after the rename)."""
    folder = root.joinpath(*path.split("/")[1:-1])
    folder.mkdir(parents=True, exist_ok=True)
    seen: list[tuple[int, int, bool]] = []

    def fsync(fd: int) -> None:
        st = os.fstat(fd)
        seen.append((st.st_dev, st.st_ino, (folder / "doc.txt").exists()))
        os.fsync(fd)

    monkeypatch.setattr(containment, "folder_sync", containment.FolderSync(fsync))
    for status in (201, 204):
        assert client.request("PUT", path, b"new").status == status
    st = folder.stat()
    assert seen == [(st.st_dev, st.st_ino, True)] * 2


def test_uploads_left_to_the_collector_clean_up_quietly(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``__del__`` skips the work when commit or abort did it, still aborts an
    upload left half done, and stays quiet when the upload never started."""
    root.mkdir()
    unraisable: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    share = Share(root, state_dir=root / ".davserver")
    done = share.upload("/a.txt", expected=None, template=None)
    done.write(b"a")
    done.commit()
    half = share.upload("/b.txt", expected=None, template=None)
    half.write(b"b")
    temp = half.temp_name
    assert (root / temp).exists()
    monkeypatch.setattr(uploads, "create_temp", failing_create)
    with pytest.raises(OSError):
        share.upload("/c.txt", expected=None, template=None)
    del done, half
    gc.collect()
    assert not (root / temp).exists()
    assert sorted(p.name for p in root.iterdir() if p.name != ".davserver") == ["a.txt"]
    assert unraisable == []


def failing_create(dir_fd: int, kind: str) -> tuple[str, int]:
    raise OSError(28, "no space")
