"""The defects the one-method-layer rewrite closes, each as a user would hit it.

Destination spellings that used to separate the lock check from the operation,
state-directory and temporary names as destinations, COPY Depth 0, one href
spelling for one resource, error bodies, 405 Allow, 201/204 bodies.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import DeepTree
from tests.integration.lock_helpers import NS, Dav, assert_423_submitted, basic, xml

VICTIM = b"alice's locked text"
CHROME_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
    "image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)

# Every spelling of "/victim.txt" the old two-parser layer let through.
FILE_VARIANTS = [
    "/victim.txt;x",
    "/victim.txt%3Fx",
    "/victim.txt%3fx",
    "/victim.txt%3bx",
    "/victim.txt%3Bx",
    "/nolock#/../victim.txt",
    "/./victim.txt",
    "/x/../victim.txt",
    "http://localhost/victim.txt;x",
    "http://localhost/victim.txt%3Fx",
    "http://LOCALHOST:80/victim.txt",
    "/victim%2Etxt",
]


@pytest.fixture
def shared(auth_dav: Dav) -> Dav:
    """alice holds an exclusive lock on /victim.txt and a depth-infinity lock on /folder."""
    root = auth_dav.root
    (root / "victim.txt").write_bytes(VICTIM)
    (root / "bob.txt").write_bytes(b"bob's text")
    (root / "folder").mkdir()
    (root / "folder" / "doc.txt").write_bytes(VICTIM)
    auth_dav.locked("/victim.txt", user="alice", depth="0")
    auth_dav.locked("/folder", user="alice")
    return auth_dav


def lock_roots(dav: Dav) -> list[str]:
    return sorted(lock.root for lock in dav.manager.store.all_locks(dav.clock()))


@pytest.mark.parametrize("method", ["COPY", "MOVE"])
@pytest.mark.parametrize("destination", FILE_VARIANTS)
def test_destination_spellings_of_a_locked_file_get_423(
    shared: Dav, method: str, destination: str
) -> None:
    response = shared.request(method, "/bob.txt", headers={"Destination": destination}, user="bob")
    assert_423_submitted(response, "/victim.txt")
    assert (shared.root / "victim.txt").read_bytes() == VICTIM
    assert (shared.root / "bob.txt").read_bytes() == b"bob's text"
    assert lock_roots(shared) == ["/folder", "/victim.txt"]


@pytest.mark.parametrize("method", ["COPY", "MOVE"])
@pytest.mark.parametrize(
    "destination",
    ["/folder/doc.txt;x", "/folder/doc.txt%3Fx", "/folder/new.txt;x", "/x/../folder/doc.txt"],
)
def test_destination_spellings_inside_a_locked_folder_get_423(
    shared: Dav, method: str, destination: str
) -> None:
    response = shared.request(method, "/bob.txt", headers={"Destination": destination}, user="bob")
    assert response.status == 423, response.text
    assert sorted(p.name for p in (shared.root / "folder").iterdir()) == ["doc.txt"]
    assert (shared.root / "bob.txt").exists()


def test_unlocked_destination_with_parameters_is_refused_not_truncated(auth_dav: Dav) -> None:
    """';' or '?' after the path would name another file to other WebDAV code: 400."""
    (auth_dav.root / "a.txt").write_bytes(b"a")
    (auth_dav.root / "report").write_bytes(b"keep me")
    response = auth_dav.request(
        "COPY", "/a.txt", headers={"Destination": "/report;v2.txt"}, user="bob"
    )
    assert response.status == 400
    assert "Destination" in response.text
    assert (auth_dav.root / "report").read_bytes() == b"keep me"
    assert sorted(p.name for p in auth_dav.root.iterdir()) == [
        ".davserver",
        "a.txt",
        "f.txt",
        "report",
    ]


@pytest.mark.parametrize("method", ["COPY", "MOVE"])
@pytest.mark.parametrize(
    "destination",
    [
        "/.davserver",
        "/.davserver;x",
        "/.DAVSERVER/locks.sqlite",
        "/.davserver%3bx",
        "/.davserver-upload-zz.tmp",
        "/.davserver-upload-zz.tmp;x",
        "/sub/.davserver-copy-1.tmp",
        "http://localhost/.davserver/x",
    ],
)
def test_state_dir_and_temporary_names_are_refused(
    auth_dav: Dav, method: str, destination: str
) -> None:
    root = auth_dav.root
    (root / "sub").mkdir()
    (root / "f.txt").write_bytes(b"data")
    state = root / ".davserver"
    before = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    mode = state.stat().st_mode
    response = auth_dav.request(method, "/f.txt", headers={"Destination": destination}, user="bob")
    assert response.status == 403, response.text
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == before
    assert state.stat().st_mode == mode
    assert (root / "f.txt").read_bytes() == b"data"


def test_copy_depth_zero_copies_the_collection_alone(auth_dav: Dav) -> None:
    root = auth_dav.root
    (root / "src" / "inner").mkdir(parents=True)
    (root / "src" / "inner" / "f.txt").write_bytes(b"x")
    (root / "src" / "g.txt").write_bytes(b"y")
    response = auth_dav.request(
        "COPY", "/src/", headers={"Destination": "/dst/", "Depth": "0"}, user="bob"
    )
    assert response.status == 201
    assert (root / "dst").is_dir() and list((root / "dst").iterdir()) == []
    assert (root / "src" / "inner" / "f.txt").exists()


def test_copy_depth_infinity_of_a_deep_tree(auth_dav: Dav, deep_tree: DeepTree) -> None:
    root = auth_dav.root
    deep = deep_tree(root / "src", 1100)
    (deep / "leaf.txt").write_bytes(b"leaf")
    response = auth_dav.request("COPY", "/src/", headers={"Destination": "/dst/"}, user="bob")
    assert response.status == 201, response.text
    copied = os.path.join(str(root / "dst"), *["d"] * 1100)
    assert Path(copied, "leaf.txt").read_bytes() == b"leaf"
    delete = auth_dav.request("DELETE", "/dst/", user="bob")
    assert delete.status == 204 and not (root / "dst").exists()


def test_lock_root_href_is_spelled_the_same_everywhere(auth_dav: Dav) -> None:
    (auth_dav.root / "a(b) c;d.txt").write_bytes(b"x")
    path = "/a%28b%29%20c%3Bd.txt"
    lock = auth_dav.lock(path, user="alice", depth="0")
    assert lock.status == 200
    lock_root = xml(lock).findtext(".//D:lockroot/D:href", namespaces=NS)
    discovered = auth_dav.lockdiscovery(path, user="alice")
    assert [a.findtext("D:lockroot/D:href", namespaces=NS) for a in discovered] == [lock_root]
    refused = auth_dav.put(path, user="bob")
    assert_423_submitted(refused, lock_root)
    listing = auth_dav.request("PROPFIND", "/", headers={"Depth": "1"}, user="alice")
    hrefs = [h.text for h in xml(listing).iterfind(".//D:response/D:href", NS)]
    assert lock_root in hrefs
    assert lock_root == "/a(b)%20c%3Bd.txt"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/missing.txt", 404), ("MKCOL", "/f.txt", 405), ("PUT", "/no/such/f.txt", 409)],
)
def test_error_bodies_are_ours_and_negotiated(
    auth_dav: Dav, method: str, path: str, status: int
) -> None:
    xml_answer = auth_dav.request(method, path, user="bob")
    assert xml_answer.status == status
    assert "WsgiDAV" not in xml_answer.text and "wsgidav" not in str(xml_answer.headers).lower()
    assert (xml_answer.header("Content-Type") or "").startswith("application/xml")
    assert xml(xml_answer).tag == "{DAV:}error"
    as_json = auth_dav.request(method, path, headers={"Accept": "application/json"}, user="bob")
    assert as_json.header("Content-Type") == "application/problem+json"
    assert json.loads(as_json.body)["status"] == status
    page = auth_dav.request(method, path, headers={"Accept": CHROME_ACCEPT}, user="bob")
    assert page.header("Content-Type") == "text/html; charset=utf-8"
    assert str(status) in page.text and "WsgiDAV" not in page.text


def test_405_carries_allow(auth_dav: Dav) -> None:
    response = auth_dav.request("MKCOL", "/f.txt", user="bob")
    assert response.status == 405
    allow = {m.strip() for m in (response.header("Allow") or "").split(",")}
    assert {"GET", "PUT", "LOCK", "UNLOCK", "DELETE"} <= allow and "MKCOL" not in allow
    post = auth_dav.request("POST", "/f.txt", user="bob")
    assert post.status == 405 and post.header("Allow")


def test_browser_gets_html_for_423(shared: Dav) -> None:
    response = shared.request(
        "PUT", "/victim.txt", b"x", headers={"Accept": CHROME_ACCEPT}, user="bob"
    )
    assert response.status == 423
    assert response.header("Content-Type") == "text/html; charset=utf-8"
    assert "alice" in response.text or "mailto:tester@example.org" in response.text


def test_created_and_no_content_answers_have_no_body(auth_dav: Dav) -> None:
    created = auth_dav.put("/new.txt", b"x", user="bob")
    assert created.status == 201 and created.body == b""
    assert created.header("Location") == "/new.txt"
    replaced = auth_dav.put("/new.txt", b"y", user="bob")
    assert replaced.status == 204 and replaced.body == b""
    assert replaced.header("ETag")


def test_options_on_an_unmapped_url_offers_lock(auth_dav: Dav) -> None:
    response = auth_dav.request("OPTIONS", "/not/yet.txt", user="bob")
    assert response.status == 200
    allow = {m.strip() for m in (response.header("Allow") or "").split(",")}
    assert {"PUT", "MKCOL", "LOCK", "OPTIONS"} <= allow
    assert response.header("DAV") == "1,2"


def test_ignored_copy_body_is_never_read(auth_dav: Dav) -> None:
    """A COPY body means nothing (RFC 4918 dropped propertybehavior): it is not buffered."""

    class Untouchable:
        def read(self, *args: object) -> bytes:
            raise AssertionError("the COPY body was read")

    (auth_dav.root / "a.txt").write_bytes(b"a")
    response = auth_dav.client.request(
        "COPY",
        "/a.txt",
        headers={
            "Destination": "/b.txt",
            "Content-Length": str(400 * 1024 * 1024),
            "Authorization": basic("bob"),
        },
        stream=Untouchable(),  # type: ignore[arg-type]
    )
    assert response.status == 201
    assert (auth_dav.root / "b.txt").read_bytes() == b"a"


def test_move_and_copy_forget_locks_of_what_they_replace(shared: Dav) -> None:
    token = shared.locked("/bob.txt", user="bob", depth="0")
    moved = shared.request(
        "MOVE",
        "/bob.txt",
        headers={"Destination": "/moved.txt", "If": f"(<{token}>)"},
        user="bob",
    )
    assert moved.status == 201
    assert "/bob.txt" not in lock_roots(shared) and "/moved.txt" not in lock_roots(shared)


def test_root_and_self_copy_refused(auth_dav: Dav) -> None:
    (auth_dav.root / "d").mkdir()
    inside = auth_dav.request("COPY", "/d/", headers={"Destination": "/d/e/"}, user="bob")
    assert inside.status == 403
    same = auth_dav.request("MOVE", "/d/", headers={"Destination": "/d/"}, user="bob")
    assert same.status == 403
    assert (auth_dav.root / "d").is_dir() and list((auth_dav.root / "d").iterdir()) == []


def test_other_server_destination_is_502(auth_dav: Dav) -> None:
    (auth_dav.root / "a.txt").write_bytes(b"a")
    response = auth_dav.request(
        "COPY", "/a.txt", headers={"Destination": "http://elsewhere.example/a.txt"}, user="bob"
    )
    assert response.status == 502
    assert not (auth_dav.root / "elsewhere.example").exists()


def test_propfind_depth_infinity_of_a_deep_tree(auth_dav: Dav, deep_tree: DeepTree) -> None:
    deep_tree(auth_dav.root / "t", 1100)
    response = auth_dav.request("PROPFIND", "/t/", headers={"Depth": "infinity"}, user="bob")
    assert response.status == 207, response.text[:300]
    assert len(xml(response).findall("D:response", NS)) == 1101
