"""Identity from a trusted proxy (``user_header``): a single sign-on proxy names the
user in ``Remote-User``.  From a peer in ``trusted_proxies`` that user is the
principal everywhere a Basic login's user is (locks, permissions, admins, the
access log); from anyone else a request carrying the header is refused (403),
never served as anonymous; without the header the Basic login decides."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from davserver import config as davconfig
from davserver.admin.http import listener
from tests.integration.lock_helpers import XML_TYPE, Dav, basic, lockinfo, token_of
from tests.integration.wsgi_client import WsgiClient
from tests.support.access_records import AccessRecords, capture_access
from tests.support.server import run_davserver

PROXY = "10.0.0.5"  # the single sign-on proxy, in trusted_proxies
STRANGER = "192.0.2.7"  # a client reaching the port around the proxy
REFUSED = "Remote-User is only accepted from http.trusted_proxies"
RULES = [
    {"path": "/", "users": ["*"], "access": "read"},
    {"path": "/alice", "users": ["alice"], "access": "write"},
]


@pytest.fixture
def access() -> Iterator[AccessRecords]:
    with capture_access() as records:
        yield records


@pytest.fixture
def dav(tmp_path: Path, htpasswd_file: Path) -> Dav:
    dav = Dav(
        tmp_path / "share",
        htpasswd=str(htpasswd_file),
        trusted_proxies=["10.0.0.0/8"],
        user_header="Remote-User",
        permissions=RULES,
    )
    (dav.root / "alice").mkdir()
    return dav


def as_user(user: str, **more: str) -> dict[str, str]:
    return {"Remote-User": user, **more}


def test_the_user_a_trusted_proxy_names_is_the_principal(dav: Dav, access: AccessRecords) -> None:
    put = dav.request("PUT", "/alice/notes.txt", b"hi", as_user("alice"), remote_addr=PROXY)
    assert put.status == 201, put.text
    assert access.last()["user"] == "alice"
    headers = as_user("alice", **{"Content-Type": XML_TYPE})
    locked = dav.request("LOCK", "/alice/notes.txt", lockinfo(), headers, remote_addr=PROXY)
    assert locked.status == 200, locked.text
    lock = dav.manager.get(token_of(locked))
    assert lock is not None and lock.principal == "alice"
    # bob, named by the same proxy, gets the rules' read access to /alice: 403.
    refused = dav.request("PUT", "/alice/b.txt", b"x", as_user("bob"), remote_addr=PROXY)
    assert refused.status == 403
    assert access.last()["user"] == "bob"
    assert not (dav.root / "alice" / "b.txt").exists()


def test_the_header_wins_over_basic_credentials(dav: Dav) -> None:
    headers = as_user("alice", Authorization=basic("bob"))
    put = dav.request("PUT", "/alice/x.txt", b"x", headers, remote_addr=PROXY)
    assert put.status == 201, put.text


@pytest.mark.parametrize("peer", [STRANGER, "127.0.0.1"])
def test_an_untrusted_peer_sending_the_header_is_refused(
    dav: Dav, access: AccessRecords, peer: str
) -> None:
    headers = as_user("alice", Authorization=basic("alice"), Accept="application/json")
    put = dav.request("PUT", "/alice/x.txt", b"x", headers, remote_addr=peer)
    assert put.status == 403
    assert REFUSED in put.text
    assert "user" not in access.last()
    assert list((dav.root / "alice").iterdir()) == []
    # The same request without the header is an ordinary Basic login.
    del headers["Remote-User"]
    assert dav.request("PUT", "/alice/x.txt", b"x", headers, remote_addr="127.0.0.1").status == 201


def test_a_spoofed_forwarded_for_does_not_make_a_peer_trusted(dav: Dav) -> None:
    headers = as_user("alice", **{"X-Forwarded-For": PROXY, "Forwarded": f"for={PROXY}"})
    put = dav.request("PUT", "/alice/x.txt", b"x", headers, remote_addr=STRANGER)
    assert put.status == 403
    assert not (dav.root / "alice" / "x.txt").exists()


def test_without_the_header_a_trusted_proxy_gets_the_basic_challenge(dav: Dav) -> None:
    response = dav.request("GET", "/", remote_addr=PROXY)
    assert response.status == 401
    assert (response.header("WWW-Authenticate") or "").startswith('Basic realm="davserver"')
    forwarded = {"X-Forwarded-Proto": "https", "Authorization": basic("alice")}
    put = dav.request("PUT", "/alice/y.txt", b"y", forwarded, remote_addr=PROXY)
    assert put.status == 201, put.text


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("", "is empty"),
        ("  ", "is empty"),
        ("a" * 129, "longer than 128"),
        ("../etc", "letters, digits"),
        ("..", "letters, digits"),
        ("al/ice", "letters, digits"),
        ("alice bob", "letters, digits"),
        ("alice, bob", "letters, digits"),
        ("al\x01ice", "letters, digits"),
        ("jos\xe9", "letters, digits"),
    ],
)
def test_a_value_that_is_no_safe_user_name_is_400(dav: Dav, value: str, why: str) -> None:
    response = dav.request("PUT", "/alice/z.txt", b"z", as_user(value), remote_addr=PROXY)
    assert response.status == 400
    assert "Remote-User" in response.text and why in response.text
    assert not (dav.root / "alice" / "z.txt").exists()


def test_the_header_and_its_length_are_configurable_and_off_by_default(tmp_path: Path) -> None:
    dav = Dav(
        tmp_path / "named",
        trusted_proxies=[PROXY],
        user_header="X-Auth-User",
        user_header_max_length=5,
    )
    fits = dav.request("PUT", "/f", b"", {"X-Auth-User": "a.b@c"}, remote_addr=PROXY)
    assert fits.status == 201
    longer = dav.request("PUT", "/g", b"", {"X-Auth-User": "alice1"}, remote_addr=PROXY)
    assert longer.status == 400
    assert "X-Auth-User is longer than 5 characters" in longer.text
    # Without user_header the header means nothing, from anyone.
    off = Dav(tmp_path / "off", trusted_proxies=["10.0.0.0/8"])
    assert off.request("PUT", "/f.txt", b"x", as_user("alice"), remote_addr=STRANGER).status == 201
    lock = off.request("LOCK", "/f.txt", lockinfo(), as_user("alice"), remote_addr=PROXY)
    record = off.manager.get(token_of(lock))
    assert record is not None and record.principal is None


def admin_client(tmp_path: Path, trusted: list[str], **more: object) -> WsgiClient:
    options = {
        "admin": True,
        "admins": ["alice"],
        "audit_log": str(tmp_path / "audit.jsonl"),
        "trusted_proxies": trusted,
        "user_header": "Remote-User",
        **more,
    }
    dav = Dav(tmp_path / "share", **options)
    config = davconfig.load(None, {"root": str(dav.root), **options})
    # As AdminListener serves it (the application applies the forwarding verdict).
    return WsgiClient(listener.build(config, dav.app))


def test_the_admin_listener_follows_the_same_rule(tmp_path: Path, htpasswd_file: Path) -> None:
    client = admin_client(tmp_path, ["10.0.0.0/8"], htpasswd=str(htpasswd_file))
    json = {"Accept": "application/json"}
    alice = client.request("GET", "/api/locks", headers=as_user("alice"), remote_addr=PROXY)
    assert alice.status == 200, alice.text
    named_bob = client.request("GET", "/api/locks", headers=as_user("bob"), remote_addr=PROXY)
    assert named_bob.status == 403
    assert "bob is not an administrator" in named_bob.text
    stranger = client.request(
        "GET", "/api/locks", headers={**as_user("alice"), **json}, remote_addr=STRANGER
    )
    assert stranger.status == 403
    assert REFUSED in stranger.text
    assert client.request("GET", "/api/locks", remote_addr=PROXY).status == 401
    basic_login = {"Authorization": basic("alice"), "X-Forwarded-Proto": "https"}
    assert client.request("GET", "/api/locks", headers=basic_login, remote_addr=PROXY).status == 200


def test_behind_single_sign_on_the_admin_listener_needs_no_htpasswd(tmp_path: Path) -> None:
    client = admin_client(tmp_path, ["10.0.0.0/8"])
    alice = client.request("GET", "/api/locks", headers=as_user("alice"), remote_addr=PROXY)
    assert alice.status == 200, alice.text
    guess = {"Authorization": basic("alice"), "X-Forwarded-Proto": "https"}
    assert client.request("GET", "/api/locks", headers=guess, remote_addr=PROXY).status == 401


def check_config(tmp_path: Path, **options: object) -> list[str]:
    (tmp_path / "root").mkdir(exist_ok=True)
    path = tmp_path / "davserver.yaml"
    path.write_text(yaml.safe_dump({"root": str(tmp_path / "root"), **options}))
    result = run_davserver("check-config", str(path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()  # flat keys: their deprecation warnings left out
    return [line for line in lines if "user_header" in line and "deprecated" not in line]


@pytest.mark.e2e
def test_check_config_warns_about_a_header_nobody_may_send(tmp_path: Path) -> None:
    (warning,) = check_config(tmp_path, user_header="Remote-User", readonly=True)
    assert "trusted_proxies is empty" in warning and "refused (403)" in warning
    (exposed,) = check_config(
        tmp_path,
        user_header="Remote-User",
        trusted_proxies=["10.0.0.5"],
        host="0.0.0.0",
        readonly=True,
    )
    assert "reachable from other machines than the proxy" in exposed
    assert "127.0.0.1" in exposed
    quiet = check_config(tmp_path, user_header="Remote-User", trusted_proxies=["127.0.0.1"])
    assert quiet == []


@pytest.mark.e2e
def test_check_config_does_not_expect_sso_users_in_htpasswd(
    tmp_path: Path, htpasswd_file: Path
) -> None:
    (tmp_path / "root").mkdir()
    rules = [{"path": "/", "users": ["carol@example.org"], "access": "write"}]
    options = {
        "root": str(tmp_path / "root"),
        "htpasswd": str(htpasswd_file),
        "permissions": rules,
        "trusted_proxies": ["127.0.0.1"],
    }
    path = tmp_path / "davserver.yaml"
    path.write_text(yaml.safe_dump({**options, "user_header": "Remote-User"}))
    result = run_davserver("check-config", str(path))
    assert result.returncode == 0, result.stderr
    assert "carol@example.org" in result.stdout
    assert "not in the htpasswd file" not in result.stdout


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("Remote User", "must be an HTTP header name"),
        ("Authorization", "already means something else"),
        ("X-Forwarded-For", "already means something else"),
    ],
)
def test_a_user_header_that_cannot_work_stops_the_config(
    tmp_path: Path, name: str, why: str
) -> None:
    (tmp_path / "root").mkdir()
    path = tmp_path / "davserver.yaml"
    path.write_text(yaml.safe_dump({"root": str(tmp_path / "root"), "user_header": name}))
    result = run_davserver("check-config", str(path))
    assert result.returncode != 0
    assert "user_header" in result.stderr and why in result.stderr
