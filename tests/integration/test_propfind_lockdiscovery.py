"""PROPFIND Depth 1 answers lock discovery for every member from one snapshot of the
store; it must agree with Depth 0 discovery of each member (inherited locks included)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.lock_helpers import Dav, xml

PROPFIND = (
    b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/>'
    b"</D:prop></D:propfind>"
)


def tokens_by_href(dav: Dav, path: str, depth: str) -> dict[str, set[str]]:
    answer = dav.request("PROPFIND", path, PROPFIND, {"Depth": depth})
    assert answer.status == 207, answer.text
    result: dict[str, set[str]] = {}
    for response in xml(answer).iter("{DAV:}response"):
        href = response.findtext("{DAV:}href")
        tokens = {
            element.text
            for element in response.iter("{DAV:}locktoken")
            for element in element.iter("{DAV:}href")
        }
        result[href] = tokens
    return result


@pytest.fixture
def dav(tmp_path: Path) -> Dav:
    root = tmp_path / "share"
    (root / "top" / "dir" / "sub").mkdir(parents=True)
    for name in ("a.txt", "b.txt", "c.txt"):
        (root / "top" / "dir" / name).write_bytes(b"x")
    (root / "top" / "dirx.txt").write_bytes(b"x")
    return Dav(root)


def test_depth_one_matches_depth_zero_for_every_member(dav: Dav) -> None:
    inherited = dav.locked("/top/", depth="infinity", scope="shared")
    own = dav.locked("/top/dir/a.txt", depth="0", scope="shared")
    shallow = dav.locked("/top/dir/", depth="0", scope="shared")
    dav.locked("/top/dirx.txt", depth="0", scope="shared")  # prefix look-alike

    listing = tokens_by_href(dav, "/top/dir/", "1")
    assert listing["/top/dir/"] == {inherited, shallow}
    assert listing["/top/dir/a.txt"] == {inherited, own}
    assert listing["/top/dir/b.txt"] == {inherited}
    assert listing["/top/dir/sub/"] == {inherited}
    for href, tokens in listing.items():
        assert tokens_by_href(dav, href, "0")[href] == tokens, href


def test_expired_and_released_locks_are_not_listed(dav: Dav) -> None:
    token = dav.locked("/top/dir/b.txt", depth="0", timeout="Second-10")
    assert tokens_by_href(dav, "/top/dir/", "1")["/top/dir/b.txt"] == {token}
    dav.clock.advance(11)
    assert tokens_by_href(dav, "/top/dir/", "1")["/top/dir/b.txt"] == set()
    again = dav.locked("/top/dir/c.txt", depth="0")
    assert dav.unlock("/top/dir/c.txt", again).status == 204
    assert tokens_by_href(dav, "/top/dir/", "1")["/top/dir/c.txt"] == set()
