"""A lock granted while an upload's body is still arriving wins: the PUT is refused
with 423 just before it would be committed, and the old content stays (TOCTOU)."""

from __future__ import annotations

import io
from pathlib import Path

from tests.integration.lock_helpers import Dav, assert_423_submitted


class LockingBody(io.RawIOBase):
    """A request body whose first read lets another client LOCK the target."""

    def __init__(self, data: bytes, on_first_read: object):
        self._data = io.BytesIO(data)
        self._hook = on_first_read

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._hook is not None:
            hook, self._hook = self._hook, None
            hook()  # type: ignore[operator]
        return self._data.read(size)


def test_lock_taken_while_the_body_arrives_refuses_the_put(tmp_path: Path) -> None:
    dav = Dav(tmp_path / "share")
    (dav.root / "doc.txt").write_bytes(b"old")
    tokens: list[str] = []
    body = b"new content"
    stream = LockingBody(body, lambda: tokens.append(dav.locked("/doc.txt", depth="0")))
    answer = dav.request(
        "PUT", "/doc.txt", headers={"Content-Length": str(len(body))}, stream=stream
    )
    assert tokens, "the body was never read"
    assert_423_submitted(answer, "/doc.txt")
    assert (dav.root / "doc.txt").read_bytes() == b"old"
    assert [p.name for p in dav.root.iterdir() if p.name != ".davserver"] == ["doc.txt"]


def test_new_file_whose_parent_gets_locked_meanwhile_is_not_created(tmp_path: Path) -> None:
    dav = Dav(tmp_path / "share")
    (dav.root / "dir").mkdir()
    body = b"data"
    stream = LockingBody(body, lambda: dav.locked("/dir/", depth="0"))
    answer = dav.request(
        "PUT", "/dir/new.txt", headers={"Content-Length": str(len(body))}, stream=stream
    )
    assert_423_submitted(answer, "/dir/")
    assert list((dav.root / "dir").iterdir()) == []


def test_if_header_and_lock_check_read_the_store_once_and_the_commit_again(
    tmp_path: Path,
) -> None:
    """A locked PUT judges its If header and its locks by one read of the store;
    the check held with the commit reads again, so a lock granted meanwhile wins."""
    dav = Dav(tmp_path / "share")
    (dav.root / "doc.txt").write_bytes(b"old")
    token = dav.locked("/doc.txt", depth="0")
    store = dav.manager.store
    reads: list[tuple[str, bool]] = []
    real_find = store.find

    def find(path: str, below: bool, now: float) -> object:
        reads.append((path, below))
        return real_find(path, below, now)

    real_hold = store.hold_if

    def hold_if(scopes: list[tuple[str, bool]], now: float, check: object) -> object:
        reads.extend(scopes)
        return real_hold(scopes, now, check)  # type: ignore[arg-type]

    store.find = find
    store.hold_if = hold_if
    answer = dav.put("/doc.txt", b"new", token=token)
    assert answer.status == 204, answer.text
    assert reads == [("/doc.txt", False), ("/doc.txt", False)]  # the second: held with the commit
    assert (dav.root / "doc.txt").read_bytes() == b"new"

    reads.clear()
    answer = dav.put("/doc.txt", b"newer")  # no token: refused by the first read
    assert_423_submitted(answer, "/doc.txt")
    assert reads == [("/doc.txt", False)]
    assert (dav.root / "doc.txt").read_bytes() == b"new"
