"""Writes on locked resources (RFC 4918 §6.4, §7.4-§7.7, §9)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.lock_helpers import (
    NS,
    PROPFIND_LOCKDISCOVERY,
    PROPPATCH_SET,
    XML_TYPE,
    Dav,
    assert_423_submitted,
    lockinfo,
    xml,
)
from tests.integration.wsgi_client import Response


def make_tree(dav: Dav) -> Dav:
    (dav.root / "f.txt").write_bytes(b"hello")
    (dav.root / "dir").mkdir()
    (dav.root / "dir" / "m.txt").write_bytes(b"member")
    (dav.root / "other").mkdir()
    return dav


@pytest.fixture
def dav(tmp_path: Path) -> Dav:
    # Depth-infinity LOCKs on / too (by default for administrators only).
    return make_tree(Dav(tmp_path / "share", lock_infinity_min_depth=0))


@pytest.fixture
def auth_dav(tmp_path: Path, htpasswd_file: Path) -> Dav:
    dav = Dav(tmp_path / "share", htpasswd=str(htpasswd_file), lock_infinity_min_depth=0)
    return make_tree(dav)


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {
        str(path.relative_to(root)): (path.read_bytes() if path.is_file() else None)
        for path in sorted(root.rglob("*"))
        if ".davserver" not in path.relative_to(root).parts
    }


def if_token(token: str | None) -> dict[str, str]:
    return {} if token is None else {"If": f"(<{token}>)"}


def if_dir_token(token: str | None) -> dict[str, str]:
    """A depth-0 lock on /dir covers /dir only: the token is submitted tagged (§10.4.2)."""
    return {} if token is None else {"If": f"</dir/> (<{token}>)"}


# Each write: (name, lock path, lock depth, lock root href, the request, check of success).
Write = Callable[[Dav, str | None, str | None], Response]


def put(dav: Dav, token: str | None, user: str | None) -> Response:
    return dav.request("PUT", "/f.txt", b"new", if_token(token), user=user)


def delete(dav: Dav, token: str | None, user: str | None) -> Response:
    return dav.request("DELETE", "/f.txt", headers=if_token(token), user=user)


def move_source(dav: Dav, token: str | None, user: str | None) -> Response:
    headers = {"Destination": "http://localhost/other/f.txt", **if_token(token)}
    return dav.request("MOVE", "/f.txt", headers=headers, user=user)


def move_destination(dav: Dav, token: str | None, user: str | None) -> Response:
    (dav.root / "src.txt").write_bytes(b"src")
    headers = {"Destination": "http://localhost/f.txt", "Overwrite": "T"}
    if token:
        headers["If"] = f"</f.txt> (<{token}>)"
    return dav.request("MOVE", "/src.txt", headers=headers, user=user)


def copy_destination(dav: Dav, token: str | None, user: str | None) -> Response:
    (dav.root / "src.txt").write_bytes(b"src")
    headers = {"Destination": "/f.txt", "Overwrite": "T"}
    if token:
        headers["If"] = f"<http://localhost/f.txt> (<{token}>)"
    return dav.request("COPY", "/src.txt", headers=headers, user=user)


def proppatch(dav: Dav, token: str | None, user: str | None) -> Response:
    headers = {"Content-Type": XML_TYPE, **if_token(token)}
    return dav.request("PROPPATCH", "/f.txt", PROPPATCH_SET, headers, user=user)


def mkcol_in_locked_dir(dav: Dav, token: str | None, user: str | None) -> Response:
    return dav.request("MKCOL", "/dir/sub", headers=if_dir_token(token), user=user)


def put_new_member(dav: Dav, token: str | None, user: str | None) -> Response:
    return dav.request("PUT", "/dir/new.txt", b"n", if_dir_token(token), user=user)


def delete_member(dav: Dav, token: str | None, user: str | None) -> Response:
    return dav.request("DELETE", "/dir/m.txt", headers=if_dir_token(token), user=user)


def lock_new_member(dav: Dav, token: str | None, user: str | None) -> Response:
    headers = {"Content-Type": XML_TYPE, **if_dir_token(token)}
    return dav.request("LOCK", "/dir/new.txt", lockinfo(), headers, user=user)


def move_into_locked_dir(dav: Dav, token: str | None, user: str | None) -> Response:
    headers = {"Destination": "/dir/moved.txt"}
    if token:
        headers["If"] = f"</dir> (<{token}>)"
    return dav.request("MOVE", "/f.txt", headers=headers, user=user)


def copy_into_locked_dir(dav: Dav, token: str | None, user: str | None) -> Response:
    headers = {"Destination": "/dir/copied.txt"}
    if token:
        headers["If"] = f"</dir> (<{token}>)"
    return dav.request("COPY", "/f.txt", headers=headers, user=user)


def proppatch_dir(dav: Dav, token: str | None, user: str | None) -> Response:
    headers = {"Content-Type": XML_TYPE, **if_token(token)}
    return dav.request("PROPPATCH", "/dir", PROPPATCH_SET, headers, user=user)


CASES = [
    # (write, lock path, lock depth, expected root href, success statuses)
    (put, "/f.txt", "0", "/f.txt", {204}),
    (delete, "/f.txt", "0", "/f.txt", {204}),
    (move_source, "/f.txt", "0", "/f.txt", {201}),
    (move_destination, "/f.txt", "0", "/f.txt", {204}),
    (copy_destination, "/f.txt", "0", "/f.txt", {204}),
    (proppatch, "/f.txt", "0", "/f.txt", {207}),
    (mkcol_in_locked_dir, "/dir", "0", "/dir/", {201}),
    (put_new_member, "/dir", "0", "/dir/", {201}),
    (delete_member, "/dir", "0", "/dir/", {204}),
    (lock_new_member, "/dir", "0", "/dir/", {201}),
    (move_into_locked_dir, "/dir", "0", "/dir/", {201}),
    (copy_into_locked_dir, "/dir", "0", "/dir/", {201}),
    (proppatch_dir, "/dir", "0", "/dir/", {207}),
    (put, "/", "infinity", "/", {204}),
    (delete_member, "/dir", "infinity", "/dir/", {204}),
]
IDS = [f"{case[0].__name__}-{case[1]}-{case[2]}" for case in CASES]


@pytest.mark.parametrize(("write", "path", "depth", "href", "ok"), CASES, ids=IDS)
def test_write_without_token_is_423_and_changes_nothing(
    dav: Dav, write: Write, path: str, depth: str, href: str, ok: set[int]
) -> None:
    dav.locked(path, depth=depth)
    before = snapshot(dav.root)
    response = write(dav, None, None)
    assert_423_submitted(response, href)
    assert response.header("Content-Type") == XML_TYPE
    after = snapshot(dav.root)
    after.pop("src.txt", None)
    before.pop("src.txt", None)
    assert after == before
    assert len(dav.manager.locks_below(path)) >= 1


@pytest.mark.parametrize(("write", "path", "depth", "href", "ok"), CASES, ids=IDS)
def test_write_with_token_succeeds(
    dav: Dav, write: Write, path: str, depth: str, href: str, ok: set[int]
) -> None:
    token = dav.locked(path, depth=depth)
    response = write(dav, token, None)
    assert response.status in ok, (response.status, response.text)


@pytest.mark.parametrize(("write", "path", "depth", "href", "ok"), CASES, ids=IDS)
def test_write_with_token_by_owner_principal_succeeds(
    auth_dav: Dav, write: Write, path: str, depth: str, href: str, ok: set[int]
) -> None:
    token = auth_dav.locked(path, depth=depth, user="alice")
    response = write(auth_dav, token, "alice")
    assert response.status in ok, (response.status, response.text)


@pytest.mark.parametrize(("write", "path", "depth", "href", "ok"), CASES, ids=IDS)
def test_write_with_token_by_another_principal_is_423(
    auth_dav: Dav, write: Write, path: str, depth: str, href: str, ok: set[int]
) -> None:
    token = auth_dav.locked(path, depth=depth, user="alice")
    before = snapshot(auth_dav.root)
    response = write(auth_dav, token, "bob")
    assert_423_submitted(response, href)
    after = snapshot(auth_dav.root)
    after.pop("src.txt", None)
    before.pop("src.txt", None)
    assert after == before


def test_put_effect_with_token(dav: Dav) -> None:
    token = dav.locked("/f.txt")
    assert dav.put("/f.txt", b"changed", token=token).status == 204
    assert (dav.root / "f.txt").read_bytes() == b"changed"


def test_token_of_another_lock_does_not_help(dav: Dav) -> None:
    dav.locked("/f.txt")
    other = dav.locked("/dir/m.txt")
    response = dav.request("PUT", "/f.txt", b"x", {"If": f"</dir/m.txt> (<{other}>)"})
    assert_423_submitted(response, "/f.txt")


def test_untagged_depth0_collection_token_on_new_member_is_412(dav: Dav) -> None:
    # Untagged lists apply to the request-URI (§10.4.2), which the depth-0 lock on
    # /dir does not cover: the header is false.
    token = dav.locked("/dir", depth="0")
    response = dav.request("PUT", "/dir/new.txt", b"n", {"If": f"(<{token}>)"})
    assert response.status == 412
    assert not (dav.root / "dir" / "new.txt").exists()


def test_several_locks_all_listed(dav: Dav) -> None:
    dav.locked("/dir", depth="0")
    dav.locked("/dir/m.txt")
    response = dav.request("DELETE", "/dir/m.txt")
    assert_423_submitted(response, "/dir/", "/dir/m.txt")


def test_delete_collection_needs_member_lock_tokens(dav: Dav) -> None:
    member = dav.locked("/dir/m.txt")
    response = dav.request("DELETE", "/dir")
    assert_423_submitted(response, "/dir/m.txt")
    assert (dav.root / "dir" / "m.txt").exists()
    response = dav.request("DELETE", "/dir", headers={"If": f"</dir/m.txt> (<{member}>)"})
    assert response.status == 204
    assert not (dav.root / "dir").exists()


def test_move_collection_needs_member_lock_tokens(dav: Dav) -> None:
    dav.locked("/dir/m.txt")
    response = dav.request("MOVE", "/dir", headers={"Destination": "/moved"})
    assert_423_submitted(response, "/dir/m.txt")
    assert (dav.root / "dir" / "m.txt").exists() and not (dav.root / "moved").exists()


def test_collection_lock_root_href_ends_with_slash(dav: Dav) -> None:
    dav.locked("/dir", depth="0")
    response = dav.request("PUT", "/dir/new.txt", b"x")
    assert_423_submitted(response, "/dir/")


def test_copy_from_locked_source_needs_no_token(dav: Dav) -> None:
    token = dav.locked("/dir", depth="infinity")
    response = dav.request("COPY", "/dir/m.txt", headers={"Destination": "/copy.txt"})
    assert response.status == 201
    assert (dav.root / "copy.txt").read_bytes() == b"member"
    assert [lock.token for lock in dav.manager.discover("/dir/m.txt")] == [token]


def test_head_423_has_headers_but_no_body(dav: Dav) -> None:
    # HEAD is a read and never blocked; a 423 on a write keeps its body, and the
    # same refusal rendered for HEAD (e.g. a false If) carries no body.
    dav.locked("/f.txt")
    response = dav.request("HEAD", "/f.txt", headers={"If": '(["nope"])'})
    assert response.status == 412
    assert response.body == b""
    assert response.header("Cache-Control") == "no-store"


def test_lock_on_existing_member_of_depth0_locked_collection(dav: Dav) -> None:
    # Locking an existing member changes no membership: the parent's token is not needed.
    dav.locked("/dir", depth="0")
    assert dav.lock("/dir/m.txt").status == 200


# --- depth-0 collection lock -----------------------------------------------------------------


def test_depth0_collection_lock_does_not_protect_member_content(dav: Dav) -> None:
    dav.locked("/dir", depth="0")
    assert dav.put("/dir/m.txt", b"changed").status == 204
    assert (dav.root / "dir" / "m.txt").read_bytes() == b"changed"
    response = dav.request("PROPPATCH", "/dir/m.txt", PROPPATCH_SET, {"Content-Type": XML_TYPE})
    assert response.status == 207


def test_depth0_collection_lock_does_not_protect_grandchildren_membership(dav: Dav) -> None:
    (dav.root / "dir" / "sub").mkdir()
    dav.locked("/dir", depth="0")
    assert dav.put("/dir/sub/new.txt", b"x").status == 201


def test_depth_infinity_lock_protects_member_content(dav: Dav) -> None:
    dav.locked("/dir", depth="infinity")
    assert_423_submitted(dav.put("/dir/m.txt", b"changed"), "/dir/")
    assert (dav.root / "dir" / "m.txt").read_bytes() == b"member"


# --- reads -----------------------------------------------------------------------------------


# GET on a collection answers with the directory browser's HTML listing.
READ_DIR_STATUS = 200


@pytest.mark.parametrize("method", ["GET", "HEAD", "PROPFIND", "OPTIONS"])
@pytest.mark.parametrize("path", ["/f.txt", "/dir/", "/dir/m.txt"])
def test_reads_are_never_blocked(auth_dav: Dav, method: str, path: str) -> None:
    expected = {"GET": 200, "HEAD": 200, "PROPFIND": 207, "OPTIONS": 200}
    if path == "/dir/" and method in ("GET", "HEAD"):
        expected[method] = READ_DIR_STATUS
    auth_dav.locked("/", depth="infinity", user="alice")
    for user in ("alice", "bob"):
        headers = {"Depth": "1"} if method == "PROPFIND" else {}
        response = auth_dav.request(method, path, headers=headers, user=user)
        assert response.status == expected[method], (method, path, response.status)


# --- locks don't travel -----------------------------------------------------------------------


def test_move_does_not_move_locks(dav: Dav) -> None:
    token = dav.locked("/f.txt")
    response = dav.request(
        "MOVE", "/f.txt", headers={"Destination": "/other/f.txt", "If": f"(<{token}>)"}
    )
    assert response.status == 201
    assert dav.manager.get(token) is None
    assert dav.manager.discover("/other/f.txt") == []
    assert dav.lockdiscovery("/other/f.txt") == []
    assert dav.put("/other/f.txt", b"free").status == 204


def test_move_of_collection_forgets_member_locks(dav: Dav) -> None:
    member = dav.locked("/dir/m.txt")
    response = dav.request(
        "MOVE", "/dir", headers={"Destination": "/moved", "If": f"</dir/m.txt> (<{member}>)"}
    )
    assert response.status == 201
    assert dav.manager.get(member) is None
    assert dav.manager.locks_below("/") == []


def test_delete_removes_locks(dav: Dav) -> None:
    token = dav.locked("/f.txt")
    assert dav.request("DELETE", "/f.txt", headers={"If": f"(<{token}>)"}).status == 204
    assert dav.manager.get(token) is None
    # A new resource at the same URL is not locked.
    assert dav.put("/f.txt", b"again").status == 201


def test_delete_collection_removes_member_locks(dav: Dav) -> None:
    token = dav.locked("/dir", depth="infinity")
    assert dav.request("DELETE", "/dir", headers={"If": f"(<{token}>)"}).status == 204
    assert dav.manager.locks_below("/") == []


def test_copy_does_not_copy_locks(dav: Dav) -> None:
    token = dav.locked("/f.txt")
    response = dav.request("COPY", "/f.txt", headers={"Destination": "/copy.txt"})
    assert response.status == 201
    assert dav.manager.discover("/copy.txt") == []
    assert dav.lockdiscovery("/copy.txt") == []
    assert [lock.token for lock in dav.manager.discover("/f.txt")] == [token]


def test_copy_collection_does_not_copy_member_locks(dav: Dav) -> None:
    dav.locked("/dir", depth="infinity")
    response = dav.request("COPY", "/dir", headers={"Destination": "/copy"})
    assert response.status == 201
    assert dav.manager.locks_below("/copy") == []
    assert dav.put("/copy/m.txt", b"free").status == 204


def test_overwritten_destination_loses_its_locks(dav: Dav) -> None:
    token = dav.locked("/f.txt")
    (dav.root / "src.txt").write_bytes(b"src")
    response = dav.request(
        "COPY", "/src.txt", headers={"Destination": "/f.txt", "If": f"</f.txt> (<{token}>)"}
    )
    assert response.status == 204
    assert dav.manager.get(token) is None
    assert (dav.root / "f.txt").read_bytes() == b"src"


# --- lockdiscovery ------------------------------------------------------------------------------


def test_lockdiscovery_lists_inherited_locks(dav: Dav) -> None:
    outer = dav.locked("/dir", depth="infinity", scope="shared")
    inner = dav.locked("/dir/m.txt", scope="shared")
    found = {
        lock.findtext("D:locktoken/D:href", namespaces=NS): lock.findtext(
            "D:lockroot/D:href", namespaces=NS
        )
        for lock in dav.lockdiscovery("/dir/m.txt")
    }
    assert found == {outer: "/dir/", inner: "/dir/m.txt"}


def test_lockdiscovery_depth1_propfind(dav: Dav) -> None:
    token = dav.locked("/dir", depth="infinity")
    response = dav.request(
        "PROPFIND", "/dir", PROPFIND_LOCKDISCOVERY, {"Depth": "1", "Content-Type": XML_TYPE}
    )
    assert response.status == 207
    for item in xml(response).findall("D:response", NS):
        tokens = [href.text for href in item.findall(".//D:activelock/D:locktoken/D:href", NS)]
        assert tokens == [token], item.findtext("D:href", namespaces=NS)


def test_depth0_collection_lock_not_inherited(dav: Dav) -> None:
    dav.locked("/dir", depth="0")
    assert dav.lockdiscovery("/dir/m.txt") == []
    assert len(dav.lockdiscovery("/dir")) == 1
