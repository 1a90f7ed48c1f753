"""Behind a reverse proxy: the client a trusted proxy names is the one in the access
log, the login throttle, lock records and the Basic-over-https check; a client that
names itself someone else is not believed."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.lock_helpers import XML_TYPE, Dav, basic, lockinfo, token_of
from tests.support.access_records import AccessRecords, capture_access

CLIENT = "198.51.100.1"  # the real client, as the proxy saw it
SPOOFED = "203.0.113.66"  # what a client claims about itself


@pytest.fixture
def access() -> Iterator[AccessRecords]:
    with capture_access() as records:
        yield records


@pytest.fixture
def dav(tmp_path: Path, htpasswd_file: Path) -> Dav:
    dav = Dav(
        tmp_path / "share",
        htpasswd=str(htpasswd_file),
        trusted_proxies=["127.0.0.1", "10.0.0.0/8"],
        auth_max_failures=3,
    )
    (dav.root / "f.txt").write_bytes(b"hello")
    return dav


WRONG = {"Authorization": "Basic " + base64.b64encode(b"alice:wrong").decode()}


def lock_address(dav: Dav, token: str) -> str:
    lock = dav.manager.get(token)
    assert lock is not None
    return str(lock.address)


def test_a_trusted_proxy_names_the_client_everywhere(dav: Dav, access: AccessRecords) -> None:
    forwarded = {
        "X-Forwarded-For": f"{SPOOFED}, {CLIENT}",
        "X-Forwarded-Proto": "https",
        "Content-Type": XML_TYPE,
        "Authorization": basic("alice"),
    }
    locked = dav.request("LOCK", "/f.txt", lockinfo(), forwarded, remote_addr="127.0.0.1")
    assert locked.status == 200, locked.text
    assert lock_address(dav, token_of(locked)) == CLIENT
    assert access.last()["client"] == CLIENT
    assert access.last()["proxy"] == "127.0.0.1"
    for _ in range(3):
        headers = {"X-Forwarded-For": CLIENT, "X-Forwarded-Proto": "https", **WRONG}
        dav.request("GET", "/f.txt", headers=headers, remote_addr="127.0.0.1")
    assert dav.app.throttle.retry_after(CLIENT, "alice") is not None
    assert dav.app.throttle.retry_after("127.0.0.1", "alice") is None


def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(
    dav: Dav, access: AccessRecords
) -> None:
    spoofed = {
        "X-Forwarded-For": SPOOFED,
        "Forwarded": f"for={SPOOFED}",
        "Content-Type": XML_TYPE,
        "Authorization": basic("alice"),
    }
    locked = dav.request("LOCK", "/f.txt", lockinfo(), spoofed, remote_addr="127.0.0.5")
    assert locked.status == 200, locked.text
    assert lock_address(dav, token_of(locked)) == "127.0.0.5"
    assert access.last()["client"] == "127.0.0.5"
    assert "proxy" not in access.last()
    for _ in range(3):
        headers = {"X-Forwarded-For": SPOOFED, **WRONG}
        dav.request("GET", "/f.txt", headers=headers, remote_addr="127.0.0.5")
    assert dav.app.throttle.retry_after("127.0.0.5", "alice") is not None
    assert dav.app.throttle.retry_after(SPOOFED, "alice") is None


def test_the_anonymous_lock_quota_counts_the_named_client(tmp_path: Path) -> None:
    dav = Dav(tmp_path / "share", trusted_proxies=["10.0.0.0/8"], max_locks_per_principal=1)
    headers = {"Content-Type": XML_TYPE}
    for n, client in enumerate(["192.0.2.1", "192.0.2.2"]):
        via = {**headers, "X-Forwarded-For": client}
        granted = dav.request("LOCK", f"/{n}.txt", lockinfo(), via, remote_addr="10.0.0.2")
        assert granted.status == 201, granted.text


def test_basic_through_a_trusted_https_proxy_is_allowed(dav: Dav) -> None:
    headers = {
        "Authorization": basic("alice"),
        "X-Forwarded-For": CLIENT,
        "X-Forwarded-Proto": "https",
    }
    assert dav.request("GET", "/f.txt", headers=headers, remote_addr="10.0.0.2").status == 200
    rfc7239 = {"Authorization": basic("alice"), "Forwarded": f'for="{CLIENT}";proto=https'}
    assert dav.request("GET", "/f.txt", headers=rfc7239, remote_addr="10.0.0.2").status == 200
    # The same proxy saying the client spoke plain HTTP: a password in clear, refused.
    plain = {**headers, "X-Forwarded-Proto": "http"}
    refused = dav.request("GET", "/f.txt", headers=plain, remote_addr="10.0.0.2")
    assert refused.status == 403


def test_basic_with_an_untrusted_https_claim_is_refused(dav: Dav, access: AccessRecords) -> None:
    headers = {
        "Authorization": basic("alice"),
        "X-Forwarded-For": "127.0.0.1",
        "X-Forwarded-Proto": "https",
        "Forwarded": "for=127.0.0.1;proto=https",
    }
    refused = dav.request("GET", "/f.txt", headers=headers, remote_addr="192.0.2.7")
    assert refused.status == 403
    assert "https" in refused.text
    assert access.last()["client"] == "192.0.2.7"


@pytest.mark.parametrize(
    "header",
    [
        {"X-Forwarded-For": "not an address"},
        {"Forwarded": 'for="[2001:db8::1'},
        {"X-Forwarded-For": CLIENT, "X-Forwarded-Proto": "gopher"},
    ],
)
def test_a_malformed_header_from_a_trusted_proxy_keeps_the_proxy(
    dav: Dav, access: AccessRecords, header: dict[str, str]
) -> None:
    headers = {"Authorization": basic("alice"), **header}
    answered = dav.request("GET", "/f.txt", headers=headers, remote_addr="10.0.0.2")
    # Served as a request from the proxy itself: plain HTTP from another machine.
    assert answered.status == 403
    assert access.last()["client"] == "10.0.0.2"
    assert "proxy" not in access.last()
    anonymous = dav.request("GET", "/f.txt", headers=header, remote_addr="127.0.0.1")
    assert anonymous.status == 401  # never a 500
