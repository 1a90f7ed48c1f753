"""The If header over HTTP (RFC 4918 §10.4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.lock_helpers import Dav, as_json, assert_423_submitted


@pytest.fixture
def dav(tmp_path: Path) -> Dav:
    dav = Dav(tmp_path / "share")
    (dav.root / "f.txt").write_bytes(b"hello")
    (dav.root / "a b").mkdir()
    (dav.root / "a b" / "ü.txt").write_bytes(b"umlaut")
    (dav.root / "dir").mkdir()
    (dav.root / "dir" / "m.txt").write_bytes(b"member")
    return dav


def etag(dav: Dav, path: str) -> str:
    value = dav.request("HEAD", path).header("ETag")
    assert value is not None and value.startswith('"'), value
    return value


def put(dav: Dav, path: str, if_header: str, data: bytes = b"changed"):  # type: ignore[no-untyped-def]
    return dav.request("PUT", path, data, {"If": if_header})


def assert_412_unchanged(
    dav: Dav, response, path: str = "f.txt", content: bytes = b"hello"
) -> None:  # type: ignore[no-untyped-def]
    assert response.status == 412, (response.status, response.text)
    assert response.header("Cache-Control") == "no-store"
    assert (dav.root / path).read_bytes() == content


# --- untagged lists ---


def test_untagged_token_applies_to_request_uri(dav: Dav) -> None:
    token = dav.locked("/f.txt")
    assert put(dav, "/f.txt", f"(<{token}>)").status == 204
    assert (dav.root / "f.txt").read_bytes() == b"changed"


def test_untagged_token_of_other_resource_is_412(dav: Dav) -> None:
    other = dav.locked("/dir/m.txt")
    assert_412_unchanged(dav, put(dav, "/f.txt", f"(<{other}>)"))


def test_depth_infinity_token_matches_members(dav: Dav) -> None:
    token = dav.locked("/dir", depth="infinity")
    assert put(dav, "/dir/m.txt", f"(<{token}>)").status == 204
    assert put(dav, "/dir/new.txt", f"(<{token}>)").status == 201


def test_unknown_token_alone_is_412(dav: Dav) -> None:
    assert_412_unchanged(dav, put(dav, "/f.txt", "(<opaquelocktoken:nope>)"))


def test_lists_are_ored(dav: Dav) -> None:
    token = dav.locked("/f.txt")
    response = put(dav, "/f.txt", f"(<opaquelocktoken:nope>) (<{token}>)")
    assert response.status == 204


def test_conditions_are_anded(dav: Dav) -> None:
    token = dav.locked("/f.txt")
    tag = etag(dav, "/f.txt")
    assert_412_unchanged(dav, put(dav, "/f.txt", f'(<{token}> ["wrong"])'))
    assert put(dav, "/f.txt", f"(<{token}> [{tag}])").status == 204


# --- Not and DAV:no-lock ---


def test_not_no_lock_is_true_on_unlocked_resource(dav: Dav) -> None:
    assert put(dav, "/f.txt", "(Not <DAV:no-lock>)").status == 204


def test_no_lock_alone_is_false(dav: Dav) -> None:
    assert_412_unchanged(dav, put(dav, "/f.txt", "(<DAV:no-lock>)"))


def test_not_token_true_when_not_held(dav: Dav) -> None:
    assert put(dav, "/f.txt", "(Not <opaquelocktoken:nope>)").status == 204


def test_not_token_false_when_held(dav: Dav) -> None:
    token = dav.locked("/f.txt")
    response = put(dav, "/f.txt", f"(Not <{token}>)")
    assert_412_unchanged(dav, response)


def test_litmus_bogus_token_or_not_no_lock_on_locked_resource_is_423(dav: Dav) -> None:
    dav.locked("/f.txt")
    response = put(dav, "/f.txt", "(<opaquelocktoken:bogus>) (Not <DAV:no-lock>)")
    assert_423_submitted(response, "/f.txt")
    assert (dav.root / "f.txt").read_bytes() == b"hello"


def test_negated_real_token_is_not_submitted(dav: Dav) -> None:
    token = dav.locked("/f.txt")
    # (Not <token>) is false, but (Not <DAV:no-lock>) holds: the header is true,
    # yet the token was never submitted.
    response = put(dav, "/f.txt", f"(Not <{token}>) (Not <DAV:no-lock>)")
    assert_423_submitted(response, "/f.txt")


# --- entity tags ---


def test_strong_etag_matches(dav: Dav) -> None:
    assert put(dav, "/f.txt", f"([{etag(dav, '/f.txt')}])").status == 204


def test_weak_etag_matches_weakly(dav: Dav) -> None:
    assert put(dav, "/f.txt", f"([W/{etag(dav, '/f.txt')}])").status == 204


def test_wrong_etag_is_412(dav: Dav) -> None:
    assert_412_unchanged(dav, put(dav, "/f.txt", '(["nope"])'))
    assert_412_unchanged(dav, put(dav, "/f.txt", '([W/"nope"])'))


def test_not_etag(dav: Dav) -> None:
    tag = etag(dav, "/f.txt")
    assert_412_unchanged(dav, put(dav, "/f.txt", f"(Not [{tag}])"))
    assert put(dav, "/f.txt", '(Not ["nope"])').status == 204


def test_etag_of_old_content_is_412(dav: Dav) -> None:
    old = etag(dav, "/f.txt")
    assert put(dav, "/f.txt", f"([{old}])", b"first change!").status == 204
    assert_412_unchanged(dav, put(dav, "/f.txt", f"([{old}])"), content=b"first change!")


def test_etag_and_token_together_with_lock(dav: Dav) -> None:
    token = dav.locked("/f.txt")
    tag = etag(dav, "/f.txt")
    assert put(dav, "/f.txt", f"(<{token}> [{tag}])").status == 204


# --- tagged lists ---


@pytest.mark.parametrize(
    "tag",
    [
        "http://localhost/f.txt",
        "http://LOCALHOST:80/f.txt",
        "HTTP://localhost/f.txt",
        "/f.txt",
        "/%66.txt",
        "/./f.txt",
    ],
)
def test_tagged_list_forms_name_the_resource(dav: Dav, tag: str) -> None:
    token = dav.locked("/f.txt")
    assert put(dav, "/f.txt", f"<{tag}> (<{token}>)").status == 204


def test_tagged_percent_encoded_non_ascii(dav: Dav) -> None:
    token = dav.locked("/a b/ü.txt")
    path = "/a%20b/%C3%BC.txt"
    assert put(dav, path, f"<http://localhost{path}> (<{token}>)").status == 204
    assert (dav.root / "a b" / "ü.txt").read_bytes() == b"changed"


def test_tagged_collection_with_and_without_slash(dav: Dav) -> None:
    token = dav.locked("/dir", depth="0")
    for tag in ("/dir", "/dir/", "http://localhost/dir/"):
        response = dav.request("PUT", f"/dir/n{len(tag)}.txt", b"x", {"If": f"<{tag}> (<{token}>)"})
        assert response.status == 201, tag


@pytest.mark.parametrize(
    "tag", ["http://otherhost/f.txt", "http://localhost:8080/f.txt", "ftp://localhost/f.txt"]
)
def test_tag_naming_another_server_is_false(dav: Dav, tag: str) -> None:
    token = dav.locked("/f.txt")
    assert_412_unchanged(dav, put(dav, "/f.txt", f"<{tag}> (<{token}>)"))


def test_tagged_list_for_other_resource_is_evaluated_there(dav: Dav) -> None:
    # RFC 4918: every list is evaluated; a true tagged list for another resource
    # makes the header true (the request-URI is unlocked here).
    token = dav.locked("/dir/m.txt")
    assert put(dav, "/f.txt", f"</dir/m.txt> (<{token}>)").status == 204


def test_tagged_list_for_other_resource_false_is_412(dav: Dav) -> None:
    assert_412_unchanged(dav, put(dav, "/f.txt", "</dir/m.txt> (<opaquelocktoken:nope>)"))


def test_several_tagged_lists_ored(dav: Dav) -> None:
    token = dav.locked("/f.txt")
    header = f"</dir/m.txt> (<opaquelocktoken:nope>) </f.txt> (<{token}>)"
    assert put(dav, "/f.txt", header).status == 204


def test_tagged_etag_evaluated_against_tagged_resource(dav: Dav) -> None:
    other = etag(dav, "/dir/m.txt")
    assert put(dav, "/f.txt", f"</dir/m.txt> ([{other}])").status == 204
    assert_412_unchanged(dav, put(dav, "/f.txt", f"</f.txt> ([{other}])"), content=b"changed")


# --- unmapped resources ---


def test_etag_on_unmapped_is_false(dav: Dav) -> None:
    response = put(dav, "/new.txt", '(["x"])')
    assert response.status == 412
    assert not (dav.root / "new.txt").exists()


def test_not_etag_on_unmapped_is_true(dav: Dav) -> None:
    assert put(dav, "/new.txt", '(Not ["x"])').status == 201


def test_token_on_unmapped_outside_locks_is_false(dav: Dav) -> None:
    response = put(dav, "/new.txt", "(<opaquelocktoken:nope>)")
    assert response.status == 412
    assert not (dav.root / "new.txt").exists()


def test_not_token_on_unmapped_is_true(dav: Dav) -> None:
    assert put(dav, "/new.txt", "(Not <opaquelocktoken:nope>)").status == 201


# --- other methods evaluate it too ---


@pytest.mark.parametrize("method", ["GET", "HEAD", "PROPFIND", "DELETE", "MKCOL", "OPTIONS"])
def test_false_if_is_412_for_every_method(dav: Dav, method: str) -> None:
    path = "/newcol" if method == "MKCOL" else "/f.txt"
    response = dav.request(method, path, headers={"If": '(["nope"])'})
    assert response.status == 412
    assert (dav.root / "f.txt").exists()
    assert not (dav.root / "newcol").exists()


def test_false_if_on_unlock_is_412(dav: Dav) -> None:
    token = dav.locked("/f.txt")
    response = dav.request(
        "UNLOCK", "/f.txt", headers={"Lock-Token": f"<{token}>", "If": '(["nope"])'}
    )
    assert response.status == 412
    assert len(dav.manager.discover("/f.txt")) == 1


# --- malformed ---


@pytest.mark.parametrize(
    ("header", "offset"),
    [
        ("(<opaquelocktoken:x>", 20),
        ("()", 1),
        ("<http://localhost/f.txt>", 24),
        ("(<a b>)", 3),
        ("(Not)", 4),
        ("(<opaquelocktoken:x>) </f.txt> (<opaquelocktoken:y>)", 22),
        ('(["unterminated)', 16),
        ("garbage", 0),
    ],
)
def test_malformed_if_is_400_saying_where(dav: Dav, header: str, offset: int) -> None:
    response = put(dav, "/f.txt", header)
    assert response.status == 400
    assert f"offset {offset}" in response.text
    assert "If header" in response.text
    assert (dav.root / "f.txt").read_bytes() == b"hello"


def test_malformed_if_as_json(dav: Dav) -> None:
    response = dav.request(
        "PUT", "/f.txt", b"x", {"If": "(<opaquelocktoken:x>", "Accept": "application/json"}
    )
    assert response.status == 400
    document = as_json(response)
    assert document["status"] == 400
    assert "offset 20" in document["detail"]


def test_malformed_if_on_new_resource_creates_nothing(dav: Dav) -> None:
    response = put(dav, "/new.txt", "(")
    assert response.status == 400
    assert not (dav.root / "new.txt").exists()


def test_malformed_if_on_lock_grants_nothing(dav: Dav) -> None:
    response = dav.lock("/f.txt", headers={"If": "(<x"})
    assert response.status == 400
    assert dav.manager.discover("/f.txt") == []
