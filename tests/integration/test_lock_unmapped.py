"""LOCK on an unmapped URL (RFC 4918 §7.3, §9.10.4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.lock_helpers import (
    NS,
    Dav,
    assert_423_submitted,
    error_hrefs,
    token_of,
    xml,
)


@pytest.fixture
def dav(tmp_path: Path) -> Dav:
    dav = Dav(tmp_path / "share")
    (dav.root / "dir").mkdir()
    return dav


def listing(dav: Dav) -> list[str]:
    return sorted(
        str(path.relative_to(dav.root))
        for path in dav.root.rglob("*")
        if ".davserver" not in path.parts
    )


def test_lock_on_unmapped_url_creates_empty_file_and_answers_201(dav: Dav) -> None:
    response = dav.lock("/new.txt", depth="0")
    assert response.status == 201
    token = token_of(response)
    assert (dav.root / "new.txt").read_bytes() == b""
    assert (dav.root / "new.txt").is_file()
    assert [lock.token for lock in dav.manager.discover("/new.txt")] == [token]
    lock = xml(response).find("D:lockdiscovery/D:activelock", NS)
    assert lock.findtext("D:lockroot/D:href", namespaces=NS) == "/new.txt"


def test_created_resource_is_a_normal_locked_file(dav: Dav) -> None:
    token = dav.locked("/new.txt")
    get = dav.request("GET", "/new.txt")
    assert get.status == 200 and get.body == b""
    assert dav.put("/new.txt", b"other").status == 423
    assert dav.put("/new.txt", b"mine", token=token).status == 204
    assert (dav.root / "new.txt").read_bytes() == b"mine"


def test_unmapped_lock_in_subcollection(dav: Dav) -> None:
    assert dav.lock("/dir/new.txt").status == 201
    assert (dav.root / "dir" / "new.txt").is_file()


def test_conflicting_lock_on_new_resource_leaves_nothing(dav: Dav) -> None:
    dav.locked("/new.txt")
    (dav.root / "new.txt").unlink()  # gone outside WebDAV; the lock is still held
    response = dav.lock("/new.txt")
    assert response.status == 423
    assert response.header("Lock-Token") is None
    assert error_hrefs(response, "no-conflicting-lock") == ["/new.txt"]
    assert not (dav.root / "new.txt").exists()
    assert len(dav.manager.discover("/new.txt")) == 1


def test_parent_locked_without_token_refuses_and_leaves_nothing(dav: Dav) -> None:
    dav.locked("/dir", depth="0")
    response = dav.lock("/dir/new.txt", depth="0")
    assert_423_submitted(response, "/dir/")
    assert listing(dav) == ["dir"]
    assert dav.manager.discover("/dir/new.txt") == []


def test_parent_depth_infinity_lock_refuses_conflicting_member_lock(dav: Dav) -> None:
    dav.locked("/dir", depth="infinity")
    response = dav.lock("/dir/new.txt", depth="0")
    assert response.status == 423
    assert response.header("Lock-Token") is None
    assert listing(dav) == ["dir"]


def test_parent_locked_with_token_allows_creation(dav: Dav) -> None:
    parent = dav.locked("/dir", depth="0")
    response = dav.lock("/dir/new.txt", depth="0", headers={"If": f"</dir> (<{parent}>)"})
    assert response.status == 201, response.text
    assert (dav.root / "dir" / "new.txt").is_file()
    assert len(dav.manager.discover("/dir/new.txt")) == 1


def test_shared_parent_lock_with_token_allows_shared_member(dav: Dav) -> None:
    parent = dav.locked("/dir", depth="infinity", scope="shared")
    response = dav.lock("/dir/new.txt", scope="shared", headers={"If": f"(<{parent}>)"})
    assert response.status == 201, response.text
    assert {lock.root for lock in dav.manager.discover("/dir/new.txt")} == {"/dir", "/dir/new.txt"}


def test_root_locked_without_token_refuses(dav: Dav) -> None:
    dav.locked("/", depth="0")
    response = dav.lock("/new.txt")
    assert_423_submitted(response, "/")
    assert not (dav.root / "new.txt").exists()


def test_missing_parent_is_409_and_leaves_nothing(dav: Dav) -> None:
    response = dav.lock("/nope/new.txt")
    assert response.status == 409
    assert response.header("Lock-Token") is None
    assert response.header("Cache-Control") == "no-store"
    assert not (dav.root / "nope").exists()
    assert dav.manager.discover("/nope/new.txt") == []


def test_parent_is_a_file_is_409(dav: Dav) -> None:
    (dav.root / "file").write_bytes(b"x")
    response = dav.lock("/file/new.txt")
    assert response.status == 409
    assert (dav.root / "file").read_bytes() == b"x"
    assert dav.manager.discover("/file/new.txt") == []


def test_malformed_lockinfo_on_unmapped_leaves_nothing(dav: Dav) -> None:
    response = dav.lock("/new.txt", body=b"<D:lockinfo xmlns:D='DAV:'><D:lockscope>")
    assert response.status == 400
    assert not (dav.root / "new.txt").exists()
    assert dav.manager.discover("/new.txt") == []


def test_refresh_of_unmapped_url_creates_nothing(dav: Dav) -> None:
    response = dav.request("LOCK", "/new.txt", headers={"If": "(<opaquelocktoken:nope>)"})
    assert response.status in (400, 412)
    assert not (dav.root / "new.txt").exists()


def test_if_none_match_star_on_unmapped_creates(dav: Dav) -> None:
    # davfs2 creates new files with LOCK + If-None-Match: * (412 means "exists").
    response = dav.lock("/new.txt", depth="0", headers={"If-None-Match": "*"})
    assert response.status == 201
    (dav.root / "old.txt").write_bytes(b"old")
    response = dav.lock("/old.txt", depth="0", headers={"If-None-Match": "*"})
    assert response.status == 412
    assert dav.manager.discover("/old.txt") == []
