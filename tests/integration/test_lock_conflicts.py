"""Lock conflicts (RFC 4918 §6.1, §7, §9.10.9)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.lock_helpers import NS, Dav, error_hrefs, holders, xml

DAV_STATUS_423 = "HTTP/1.1 423 Locked"


@pytest.fixture
def dav(tmp_path: Path) -> Dav:
    # Depth-infinity LOCKs on / too (by default for administrators only).
    dav = Dav(tmp_path / "share", lock_infinity_min_depth=0)
    (dav.root / "f.txt").write_bytes(b"hello")
    (dav.root / "a" / "b").mkdir(parents=True)
    (dav.root / "a" / "b" / "leaf.txt").write_bytes(b"leaf")
    (dav.root / "a" / "x.txt").write_bytes(b"x")
    return dav


def roots(dav: Dav, path: str) -> list[str]:
    return sorted(lock.root for lock in dav.manager.discover(path))


def assert_no_conflicting_lock(response, *hrefs: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status == 423, (response.status, response.text)
    assert response.header("Lock-Token") is None
    assert response.header("Cache-Control") == "no-store"
    assert sorted(error_hrefs(response, "no-conflicting-lock")) == sorted(hrefs)


# --- scope matrix on one resource ----------------------------------------------------------

MATRIX = [
    ("exclusive", "exclusive", False),
    ("exclusive", "shared", False),
    ("shared", "exclusive", False),
    ("shared", "shared", True),
]


@pytest.mark.parametrize(("held", "wanted", "granted"), MATRIX)
def test_scope_matrix_same_resource(dav: Dav, held: str, wanted: str, granted: bool) -> None:
    first = dav.locked("/f.txt", scope=held, depth="0")
    response = dav.lock("/f.txt", scope=wanted, depth="0")
    if granted:
        assert response.status == 200
        assert len(dav.manager.discover("/f.txt")) == 2
    else:
        assert_no_conflicting_lock(response, "/f.txt")
        assert [lock.token for lock in dav.manager.discover("/f.txt")] == [first]


def test_many_shared_locks_coexist(dav: Dav) -> None:
    tokens = {dav.locked("/f.txt", scope="shared") for _ in range(3)}
    assert len(tokens) == 3
    assert len(dav.lockdiscovery("/f.txt")) == 3


def test_same_owner_cannot_take_a_second_exclusive_lock(dav: Dav) -> None:
    token = dav.locked("/f.txt")
    response = dav.lock("/f.txt", headers={"If": f"(<{token}>)"})
    assert_no_conflicting_lock(response, "/f.txt")


# --- ancestors and descendants -------------------------------------------------------------


@pytest.mark.parametrize("wanted_depth", ["0", "infinity"])
def test_depth_infinity_ancestor_lock_conflicts(dav: Dav, wanted_depth: str) -> None:
    dav.locked("/a", depth="infinity")
    response = dav.lock("/a/b/leaf.txt", depth=wanted_depth)
    assert_no_conflicting_lock(response, "/a/")
    assert roots(dav, "/a/b/leaf.txt") == ["/a"]


def test_depth_zero_ancestor_lock_does_not_conflict(dav: Dav) -> None:
    dav.locked("/a", depth="0")
    assert dav.lock("/a/x.txt", depth="0").status == 200
    assert roots(dav, "/a/x.txt") == ["/a/x.txt"]


def test_shared_ancestor_and_shared_member_coexist(dav: Dav) -> None:
    dav.locked("/a", depth="infinity", scope="shared")
    assert dav.lock("/a/x.txt", scope="shared").status == 200
    assert roots(dav, "/a/x.txt") == ["/a", "/a/x.txt"]


def test_depth_zero_request_ignores_descendant_locks(dav: Dav) -> None:
    dav.locked("/a/x.txt")
    assert dav.lock("/a", depth="0").status == 200


def test_depth_infinity_refused_because_of_member_is_207(dav: Dav) -> None:
    member = dav.locked("/a/b/leaf.txt", depth="0")
    response = dav.lock("/a", depth="infinity")
    assert response.status == 207, response.text
    assert response.header("Lock-Token") is None
    assert response.header("Cache-Control") == "no-store"
    root = xml(response)
    assert root.tag == "{DAV:}multistatus"
    by_href = {r.findtext("D:href", namespaces=NS): r for r in root.findall("D:response", NS)}
    assert set(by_href) == {"/a/b/leaf.txt", "/a/"}
    blocked = by_href["/a/b/leaf.txt"]
    assert blocked.findtext("D:status", namespaces=NS) == DAV_STATUS_423
    assert blocked.find("D:error/D:no-conflicting-lock", NS) is not None
    request_uri = by_href["/a/"]
    assert request_uri.findtext("D:propstat/D:status", namespaces=NS) == (
        "HTTP/1.1 424 Failed Dependency"
    )
    assert request_uri.find("D:propstat/D:prop/D:lockdiscovery", NS) is not None
    # Nothing granted partly: only the member's lock exists anywhere.
    assert [lock.token for lock in dav.manager.locks_below("/")] == [member]
    assert member not in response.text


def test_207_names_every_blocking_member(dav: Dav) -> None:
    dav.locked("/a/b/leaf.txt")
    dav.locked("/a/x.txt")
    response = dav.lock("/a", depth="infinity")
    assert response.status == 207
    hrefs = [
        r.findtext("D:href", namespaces=NS)
        for r in xml(response).findall("D:response", NS)
        if r.findtext("D:status", namespaces=NS) == DAV_STATUS_423
    ]
    assert sorted(hrefs) == ["/a/b/leaf.txt", "/a/x.txt"]
    assert len(dav.manager.locks_below("/")) == 2


def test_member_collection_lock_href_has_slash_in_207(dav: Dav) -> None:
    dav.locked("/a/b", depth="0")
    response = dav.lock("/a", depth="infinity")
    assert response.status == 207
    hrefs = {r.findtext("D:href", namespaces=NS) for r in xml(response).findall("D:response", NS)}
    assert hrefs == {"/a/b/", "/a/"}


def test_conflict_on_self_and_member_is_423(dav: Dav) -> None:
    # The request-URI itself is locked: a plain 423, naming every conflicting root.
    dav.locked("/a", depth="0")
    dav.locked("/a/x.txt")
    response = dav.lock("/a", depth="infinity")
    assert_no_conflicting_lock(response, "/a/", "/a/x.txt")
    assert len(dav.manager.locks_below("/")) == 2


def test_conflict_423_carries_holder_facts(dav: Dav) -> None:
    dav.locked("/f.txt", owner="<D:owner>Alice's editor</D:owner>", timeout="Second-90")
    response = dav.lock("/f.txt")
    assert_no_conflicting_lock(response, "/f.txt")
    (holder,) = holders(response)
    assert holder["owner"] == "Alice's editor"
    assert holder["root"] == "/f.txt"
    assert holder["seconds-left"] == "90"
    assert response.header("Retry-After") == "90"


def test_after_unlock_the_lock_can_be_taken(dav: Dav) -> None:
    token = dav.locked("/f.txt")
    assert dav.lock("/f.txt").status == 423
    assert dav.unlock("/f.txt", token).status == 204
    assert dav.lock("/f.txt").status == 200


def test_root_lock_infinity_conflicts_everywhere(dav: Dav) -> None:
    dav.locked("/", depth="infinity")
    response = dav.lock("/a/b/leaf.txt")
    assert_no_conflicting_lock(response, "/")
