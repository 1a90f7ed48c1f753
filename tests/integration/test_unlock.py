"""UNLOCK (RFC 4918 §9.11)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.lock_helpers import Dav, as_json, error_hrefs

UNKNOWN = "opaquelocktoken:00000000-0000-4000-8000-000000000000"


@pytest.fixture
def dav(tmp_path: Path) -> Dav:
    dav = Dav(tmp_path / "share")
    (dav.root / "f.txt").write_bytes(b"hello")
    (dav.root / "g.txt").write_bytes(b"other")
    (dav.root / "dir").mkdir()
    (dav.root / "dir" / "m.txt").write_bytes(b"member")
    return dav


def unlock_raw(dav: Dav, path: str, header: str | None, **kwargs: object):  # type: ignore[no-untyped-def]
    headers = {} if header is None else {"Lock-Token": header}
    headers.update(kwargs.pop("headers", {}))  # type: ignore[arg-type]
    return dav.request("UNLOCK", path, b"", headers, **kwargs)  # type: ignore[arg-type]


def assert_409_not_matching(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status == 409, (response.status, response.text)
    assert response.header("Cache-Control") == "no-store"
    assert error_hrefs(response, "lock-token-matches-request-uri") == []


def test_unlock_is_204_and_removes_the_lock(dav: Dav) -> None:
    token = dav.locked("/f.txt")
    response = dav.unlock("/f.txt", token)
    assert response.status == 204
    assert response.body == b""
    assert dav.manager.discover("/f.txt") == []
    assert dav.lockdiscovery("/f.txt") == []
    assert dav.put("/f.txt", b"free").status == 204
    assert (dav.root / "f.txt").read_bytes() == b"free"


def test_unlock_tolerates_token_without_brackets(dav: Dav) -> None:
    token = dav.locked("/f.txt")
    assert unlock_raw(dav, "/f.txt", token).status == 204
    assert dav.manager.discover("/f.txt") == []


def test_unlock_tolerates_surrounding_whitespace(dav: Dav) -> None:
    token = dav.locked("/f.txt")
    assert unlock_raw(dav, "/f.txt", f"  <{token}> ").status == 204


def test_unlock_through_member_of_depth_infinity_lock(dav: Dav) -> None:
    token = dav.locked("/dir", depth="infinity")
    assert dav.unlock("/dir/m.txt", token).status == 204
    assert dav.manager.discover("/dir") == []


def test_unlock_leaves_other_shared_locks(dav: Dav) -> None:
    first = dav.locked("/f.txt", scope="shared")
    second = dav.locked("/f.txt", scope="shared")
    assert dav.unlock("/f.txt", first).status == 204
    assert [lock.token for lock in dav.manager.discover("/f.txt")] == [second]


def test_unlock_unknown_token_is_409(dav: Dav) -> None:
    token = dav.locked("/f.txt")
    assert_409_not_matching(dav.unlock("/f.txt", UNKNOWN))
    assert [lock.token for lock in dav.manager.discover("/f.txt")] == [token]


def test_unlock_twice_is_409(dav: Dav) -> None:
    token = dav.locked("/f.txt")
    assert dav.unlock("/f.txt", token).status == 204
    assert_409_not_matching(dav.unlock("/f.txt", token))


def test_unlock_expired_token_is_409(dav: Dav) -> None:
    token = dav.locked("/f.txt", timeout="Second-30")
    dav.clock.advance(31)
    assert_409_not_matching(dav.unlock("/f.txt", token))


def test_unlock_token_not_covering_request_uri_is_409(dav: Dav) -> None:
    token = dav.locked("/f.txt")
    assert_409_not_matching(dav.unlock("/g.txt", token))
    assert [lock.token for lock in dav.manager.discover("/f.txt")] == [token]


def test_unlock_depth_zero_collection_token_on_member_is_409(dav: Dav) -> None:
    token = dav.locked("/dir", depth="0")
    assert_409_not_matching(dav.unlock("/dir/m.txt", token))
    assert len(dav.manager.discover("/dir")) == 1


def test_unlock_without_header_is_400(dav: Dav) -> None:
    dav.locked("/f.txt")
    response = unlock_raw(dav, "/f.txt", None)
    assert response.status == 400
    assert "Lock-Token" in response.text
    assert len(dav.manager.discover("/f.txt")) == 1


@pytest.mark.parametrize("header", ["", "<>", "<opaquelocktoken:x", "not a token", "<a> <b>"])
def test_unlock_with_malformed_header_is_400(dav: Dav, header: str) -> None:
    dav.locked("/f.txt")
    response = unlock_raw(dav, "/f.txt", header)
    assert response.status == 400
    assert "Lock-Token" in response.text
    assert len(dav.manager.discover("/f.txt")) == 1


def test_unlock_409_as_json(dav: Dav) -> None:
    response = unlock_raw(
        dav, "/f.txt", f"<{UNKNOWN}>", headers={"Accept": "application/problem+json"}
    )
    assert response.status == 409
    document = as_json(response)
    assert document["status"] == 409
    assert document["precondition"] == "DAV:lock-token-matches-request-uri"


def test_unlock_by_owner_principal(auth_dav: Dav) -> None:
    token = auth_dav.locked("/f.txt", user="alice")
    assert auth_dav.unlock("/f.txt", token, user="alice").status == 204


def test_unlock_by_another_principal_is_403(auth_dav: Dav) -> None:
    token = auth_dav.locked("/f.txt", user="alice")
    response = auth_dav.unlock("/f.txt", token, user="bob")
    assert response.status == 403
    assert response.header("Lock-Token") is None
    assert [lock.token for lock in auth_dav.manager.discover("/f.txt")] == [token]


def test_unlock_without_credentials_is_401(auth_dav: Dav) -> None:
    token = auth_dav.locked("/f.txt", user="alice")
    response = auth_dav.unlock("/f.txt", token)
    assert response.status == 401
    assert len(auth_dav.manager.discover("/f.txt")) == 1
