"""Lock refresh (RFC 4918 §9.10.2)."""

from __future__ import annotations

import email.utils
from pathlib import Path

import pytest

from tests.integration.lock_helpers import NS, XML_TYPE, Dav, xml


@pytest.fixture
def dav(tmp_path: Path) -> Dav:
    dav = Dav(tmp_path / "share", lock_timeout_default=300, lock_timeout_max=3600)
    (dav.root / "f.txt").write_bytes(b"hello")
    (dav.root / "dir").mkdir()
    (dav.root / "dir" / "m.txt").write_bytes(b"member")
    return dav


def refresh(dav: Dav, path: str, if_header: str | None, **kwargs: object):  # type: ignore[no-untyped-def]
    headers = {} if if_header is None else {"If": if_header}
    headers.update(kwargs.pop("headers", {}))  # type: ignore[arg-type]
    return dav.request("LOCK", path, b"", headers, **kwargs)  # type: ignore[arg-type]


def timeout_of(response) -> str:  # type: ignore[no-untyped-def]
    locks = xml(response).findall("D:lockdiscovery/D:activelock", NS)
    assert len(locks) == 1
    return str(locks[0].findtext("D:timeout", namespaces=NS))


def test_refresh_same_token_new_timeout_activelock_in_body(dav: Dav) -> None:
    token = dav.locked("/f.txt", timeout="Second-600")
    dav.clock.advance(500)
    response = refresh(dav, "/f.txt", f"(<{token}>)", headers={"Timeout": "Second-900"})
    assert response.status == 200, response.text
    assert response.header("Content-Type") == XML_TYPE
    assert timeout_of(response) == "Second-900"
    (lock,) = xml(response).findall("D:lockdiscovery/D:activelock", NS)
    assert lock.findtext("D:locktoken/D:href", namespaces=NS) == token
    assert lock.findtext("D:lockroot/D:href", namespaces=NS) == "/f.txt"
    (held,) = dav.manager.discover("/f.txt")
    assert held.token == token
    assert held.expires_at == dav.clock.now + 900


def test_refresh_without_timeout_gets_default(dav: Dav) -> None:
    token = dav.locked("/f.txt", timeout="Second-600")
    dav.clock.advance(100)
    response = refresh(dav, "/f.txt", f"(<{token}>)")
    assert timeout_of(response) == "Second-300"


def test_refresh_keeps_the_lock_alive(dav: Dav) -> None:
    token = dav.locked("/f.txt", timeout="Second-100")
    dav.clock.advance(90)
    assert refresh(dav, "/f.txt", f"(<{token}>)", headers={"Timeout": "Second-100"}).status == 200
    dav.clock.advance(90)  # 180 s after the LOCK, 90 s after the refresh
    assert dav.put("/f.txt", b"x").status == 423
    assert dav.put("/f.txt", b"x", token=token).status == 204


def test_refresh_keeps_owner_scope_depth(dav: Dav) -> None:
    owner = "<D:owner><D:href>DOMAIN\\user</D:href></D:owner>"
    token = dav.locked("/dir", scope="shared", depth="0", owner=owner)
    response = refresh(dav, "/dir", f"(<{token}>)")
    (lock,) = xml(response).findall("D:lockdiscovery/D:activelock", NS)
    assert lock.find("D:lockscope/D:shared", NS) is not None
    assert lock.findtext("D:depth", namespaces=NS) == "0"
    assert lock.findtext("D:owner/D:href", namespaces=NS) == "DOMAIN\\user"
    assert lock.findtext("D:lockroot/D:href", namespaces=NS) == "/dir/"


def test_refresh_answer_has_no_lock_token_header(dav: Dav) -> None:
    token = dav.locked("/f.txt")
    response = refresh(dav, "/f.txt", f"(<{token}>)")
    # §9.10.2: the Lock-Token header is for new locks; the token is in the body.
    assert response.header("Lock-Token") is None


def test_refresh_through_member_of_depth_infinity_lock(dav: Dav) -> None:
    token = dav.locked("/dir", depth="infinity")
    response = refresh(dav, "/dir/m.txt", f"(<{token}>)")
    assert response.status == 200
    (lock,) = xml(response).findall("D:lockdiscovery/D:activelock", NS)
    assert lock.findtext("D:lockroot/D:href", namespaces=NS) == "/dir/"


def test_refresh_with_tagged_if(dav: Dav) -> None:
    token = dav.locked("/f.txt")
    response = refresh(dav, "/f.txt", f"<http://localhost/f.txt> (<{token}>)")
    assert response.status == 200


def test_refresh_changes_neither_etag_nor_last_modified(dav: Dav) -> None:
    path = dav.root / "f.txt"
    token = dav.locked("/f.txt")
    before_get = dav.request("GET", "/f.txt")
    before_stat = path.stat()
    dav.clock.advance(30)
    assert refresh(dav, "/f.txt", f"(<{token}>)").status == 200
    after_get = dav.request("GET", "/f.txt")
    after_stat = path.stat()
    assert after_stat.st_mtime_ns == before_stat.st_mtime_ns
    assert after_stat.st_size == before_stat.st_size
    assert path.read_bytes() == b"hello"
    assert after_get.header("ETag") == before_get.header("ETag") is not None
    assert after_get.header("Last-Modified") == before_get.header("Last-Modified")
    assert email.utils.parsedate_to_datetime(str(after_get.header("Last-Modified")))


def test_lock_and_unlock_change_neither_etag_nor_mtime(dav: Dav) -> None:
    path = dav.root / "f.txt"
    before = (dav.request("HEAD", "/f.txt").header("ETag"), path.stat().st_mtime_ns)
    token = dav.locked("/f.txt")
    assert dav.unlock("/f.txt", token).status == 204
    after = (dav.request("HEAD", "/f.txt").header("ETag"), path.stat().st_mtime_ns)
    assert after == before


def test_refresh_with_wrong_token_is_412(dav: Dav) -> None:
    token = dav.locked("/f.txt", timeout="Second-600")
    response = refresh(dav, "/f.txt", "(<opaquelocktoken:00000000-0000-4000-8000-000000000000>)")
    assert response.status == 412
    assert response.header("Cache-Control") == "no-store"
    assert response.header("Lock-Token") is None
    (held,) = dav.manager.discover("/f.txt")
    assert held.token == token and held.expires_at == dav.clock.now + 600


def test_refresh_with_token_of_another_resource_is_412(dav: Dav) -> None:
    dav.locked("/f.txt")
    other = dav.locked("/dir/m.txt")
    response = refresh(dav, "/f.txt", f"(<{other}>)")
    assert response.status == 412


def test_refresh_without_if_is_400(dav: Dav) -> None:
    dav.locked("/f.txt")
    response = refresh(dav, "/f.txt", None)
    assert response.status == 400
    assert "If" in response.text


def test_refresh_with_malformed_if_is_400(dav: Dav) -> None:
    dav.locked("/f.txt")
    response = refresh(dav, "/f.txt", "(<opaquelocktoken:x>")
    assert response.status == 400
    assert "offset" in response.text


def test_refresh_of_expired_lock_is_412(dav: Dav) -> None:
    token = dav.locked("/f.txt", timeout="Second-60")
    dav.clock.advance(61)
    response = refresh(dav, "/f.txt", f"(<{token}>)")
    assert response.status == 412
    assert dav.manager.discover("/f.txt") == []


def test_refresh_by_owner_principal(auth_dav: Dav) -> None:
    token = auth_dav.locked("/f.txt", user="alice")
    response = refresh(auth_dav, "/f.txt", f"(<{token}>)", user="alice")
    assert response.status == 200


def test_refresh_by_another_principal_is_403(auth_dav: Dav) -> None:
    token = auth_dav.locked("/f.txt", user="alice", timeout="Second-600")
    auth_dav.clock.advance(100)
    response = refresh(auth_dav, "/f.txt", f"(<{token}>)", user="bob")
    assert response.status == 403
    assert response.header("Lock-Token") is None
    (held,) = auth_dav.manager.discover("/f.txt")
    assert held.expires_at == auth_dav.clock.now + 500  # untouched
