"""LDAP logins against a real OpenLDAP slapd: DN template and search-then-bind,
wrong passwords, unknown users, empty passwords, injection attempts in the user
name, and the group rules (a valid user outside ``require_group`` is 403)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.lock_helpers import Dav
from tests.support.access_records import capture_access
from tests.support.slapd import (
    DAVUSERS,
    ODD_NAME,
    PASSWORDS,
    PEOPLE,
    POSIXDAV,
    SERVICE_DN,
    SERVICE_PASSWORD,
    Slapd,
)

TEMPLATE = f"uid={{user}},{PEOPLE}"
INJECTIONS = ("*)(uid=*", "admin)(|(uid=*", "*", "al*", "alice)(uid=*", "ALICE", " alice")


def credentials(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def login(dav: Dav, user: str, password: str | None = None) -> Any:
    secret = PASSWORDS.get(user, "") if password is None else password
    return dav.request("GET", "/f.txt", headers=credentials(user, secret))


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    with Slapd(tmp_path_factory.mktemp("slapd")) as server:
        yield server


def make(tmp_path: Path, slapd: Slapd, **ldap: Any) -> Dav:
    dav = Dav(tmp_path / "share", ldap={"url": slapd.url, **ldap}, auth_max_failures=3)
    (dav.root / "f.txt").write_bytes(b"hello")
    dav.app.throttle.clock = dav.clock
    return dav


def searching(tmp_path: Path, slapd: Slapd, **ldap: Any) -> Dav:
    secret = tmp_path / "service-password"
    secret.write_text(SERVICE_PASSWORD + "\n")
    return make(
        tmp_path,
        slapd,
        search_base=PEOPLE,
        bind_dn=SERVICE_DN,
        bind_password_file=str(secret),
        **ldap,
    )


def by_mode(tmp_path: Path, slapd: Slapd, mode: str) -> Dav:
    return (
        make(tmp_path, slapd, user_dn=TEMPLATE)
        if mode == "template"
        else searching(tmp_path, slapd)
    )


def test_a_dn_template_login_puts_a_file_as_alice(tmp_path: Path, slapd: Slapd) -> None:
    dav = make(tmp_path, slapd, user_dn=TEMPLATE)
    alice = credentials("alice", "alice-pw")
    with capture_access() as access:
        answer = dav.request("PUT", "/new.txt", b"from alice", headers=alice)
    assert answer.status == 201
    assert (dav.root / "new.txt").read_bytes() == b"from alice"
    assert access.last()["user"] == "alice"
    assert dav.lock("/new.txt", headers=alice).status == 200
    held = dav.manager.store.find("/new.txt", False, dav.clock())
    assert [lock.principal for lock in held] == ["alice"]


@pytest.mark.parametrize("mode", ["template", "search"])
def test_wrong_passwords_and_unknown_users_are_401_and_throttled(
    tmp_path: Path, slapd: Slapd, mode: str
) -> None:
    dav = by_mode(tmp_path, slapd, mode)
    wrong = login(dav, "alice", "not-her-password")
    assert wrong.status == 401
    assert (wrong.header("WWW-Authenticate") or "").startswith("Basic realm=")
    assert "wrong user name or password" in wrong.text
    assert login(dav, "nobody", "whatever").status == 401
    assert login(dav, "bob", "alice-pw").status == 401
    # Each counted like an htpasswd failure: the fourth from this address is refused.
    assert login(dav, "alice").status == 429
    assert dav.request("GET", "/f.txt").status == 401  # no credentials at all


@pytest.mark.parametrize("mode", ["template", "search"])
def test_an_empty_password_is_401_never_an_anonymous_bind(
    tmp_path: Path, slapd: Slapd, mode: str
) -> None:
    dav = by_mode(tmp_path, slapd, mode)
    for user in ("alice", "nobody", ""):
        answer = dav.request("PUT", "/f.txt", b"anonymous", headers=credentials(user, ""))
        assert answer.status == 401, user
    assert (dav.root / "f.txt").read_bytes() == b"hello"


@pytest.mark.parametrize("mode", ["template", "search"])
@pytest.mark.parametrize("name", INJECTIONS)
def test_names_that_try_to_widen_the_filter_or_dn_are_refused(
    tmp_path: Path, slapd: Slapd, mode: str, name: str
) -> None:
    """``al*`` with alice's password would log in as ``al*`` if the name went
    into the filter unescaped; ``ALICE`` would pass as alice's entry (LDAP
    matches names without regard to case) under another principal."""
    dav = by_mode(tmp_path, slapd, mode)
    answer = dav.request("PUT", "/f.txt", b"injected", headers=credentials(name, "alice-pw"))
    assert answer.status == 401
    assert (dav.root / "f.txt").read_bytes() == b"hello"


@pytest.mark.parametrize("mode", ["template", "search"])
def test_a_name_with_dn_and_filter_characters_logs_in(
    tmp_path: Path, slapd: Slapd, mode: str
) -> None:
    """Escaped for the DN (``,``) and for the filter (``(``, ``)``, ``*``): the
    name is matched as the text it is."""
    dav = by_mode(tmp_path, slapd, mode)
    with capture_access() as access:
        assert login(dav, ODD_NAME).status == 200
    assert access.last()["user"] == ODD_NAME
    assert login(dav, "smith, j (x)", "smith-pw").status == 401


def test_search_then_bind_by_the_service_account(tmp_path: Path, slapd: Slapd) -> None:
    dav = searching(tmp_path, slapd)
    with capture_access() as access:
        answer = dav.request("PUT", "/f.txt", b"by bob", headers=credentials("bob", "bob-pw"))
    assert answer.status == 204
    assert (dav.root / "f.txt").read_bytes() == b"by bob"
    assert access.last()["user"] == "bob"


def test_an_anonymous_search_with_a_filter_of_its_own(tmp_path: Path, slapd: Slapd) -> None:
    """No service account: the search runs anonymously (this directory lets
    anonymous clients only bind, so nobody is found and nobody gets in)."""
    dav = make(
        tmp_path, slapd, search_base=PEOPLE, search_filter="(&(objectClass=person)(uid={user}))"
    )
    assert login(dav, "alice").status == 401


def test_a_user_outside_the_required_group_is_403(tmp_path: Path, slapd: Slapd) -> None:
    dav = make(tmp_path, slapd, user_dn=TEMPLATE, require_group=DAVUSERS)
    assert login(dav, "alice").status == 200
    assert login(dav, "carol").status == 200
    bob = dav.request("PUT", "/f.txt", b"by bob", headers=credentials("bob", "bob-pw"))
    assert bob.status == 403
    assert "not in the group" in bob.text and "ldap.require_group" in bob.text
    assert (dav.root / "f.txt").read_bytes() == b"hello"
    # Bob's wrong password is still a wrong password (401), not a group refusal.
    assert login(dav, "bob", "guess").status == 401


def test_a_posix_group_names_its_members_by_uid(tmp_path: Path, slapd: Slapd) -> None:
    dav = searching(tmp_path, slapd, require_group=POSIXDAV, group_member_attribute="memberUid")
    assert login(dav, "alice").status == 200
    assert login(dav, "carol").status == 403


def test_a_group_that_does_not_exist_lets_nobody_in(tmp_path: Path, slapd: Slapd) -> None:
    dav = make(tmp_path, slapd, user_dn=TEMPLATE, require_group=f"cn=nosuch,{PEOPLE}")
    assert login(dav, "alice").status == 403
