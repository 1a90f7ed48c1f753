"""Basic authentication under hostile input: 401 never 500, no user enumeration,
throttled guessing (429) that does not slow other users."""

from __future__ import annotations

import base64
from pathlib import Path

import bcrypt
import pytest

from tests.integration.lock_helpers import Dav, FakeClock, basic


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


MALFORMED = [
    "Basic",
    "Basic ",
    "Basic !!!not-base64!!!",
    "Basic " + b64(b"no-colon-here"),
    "Basic " + b64(b":password-without-user"),
    "Basic " + b64(b"alice:secret") + " trailing",
    "Basic ====",
    "Bearer abc.def.ghi",
    "Basic " + b64(b"\xff\xfe:\x00\x01"),
    "Digest username=alice",
]


@pytest.mark.parametrize("header", MALFORMED)
def test_malformed_credentials_are_401(auth_dav: Dav, header: str) -> None:
    response = auth_dav.request("GET", "/f.txt", headers={"Authorization": header})
    assert response.status == 401, response.text
    assert (response.header("WWW-Authenticate") or "").startswith('Basic realm="davserver"')
    assert "Traceback" not in response.text and "wsgidav" not in response.text.lower()


def test_401_is_negotiated_like_every_error(auth_dav: Dav) -> None:
    plain = auth_dav.request("GET", "/f.txt")
    assert plain.status == 401
    assert (plain.header("Content-Type") or "").startswith("application/xml")
    as_json = auth_dav.request("GET", "/f.txt", headers={"Accept": "application/json"})
    assert as_json.status == 401
    assert as_json.header("Content-Type") == "application/problem+json"


def test_unknown_user_costs_a_bcrypt_check_too(
    auth_dav: Dav, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same work for an unknown user and a wrong password: timing tells nothing."""
    checks: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        checks.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    wrong = {"Authorization": "Basic " + b64(b"alice:wrong")}
    unknown = {"Authorization": "Basic " + b64(b"mallory:wrong")}
    assert auth_dav.request("GET", "/f.txt", headers=wrong).status == 401
    assert auth_dav.request("GET", "/f.txt", headers=unknown).status == 401
    assert len(checks) == 2
    # The decoy hash has the real hashes' cost, so both checks take as long.
    assert checks[1].split(b"$")[2] == checks[0].split(b"$")[2]


@pytest.fixture
def throttled(tmp_path: Path, htpasswd_file: Path) -> Dav:
    dav = Dav(tmp_path / "share", htpasswd=str(htpasswd_file), auth_max_failures=3)
    (dav.root / "f.txt").write_bytes(b"hello")
    clock = FakeClock(1000.0)
    dav.app.throttle.clock = clock
    dav.throttle_clock = clock  # type: ignore[attr-defined]
    return dav


def test_failed_logins_are_throttled_then_forgiven(throttled: Dav) -> None:
    wrong = {"Authorization": "Basic " + b64(b"alice:wrong")}
    assert [throttled.request("GET", "/f.txt", headers=wrong).status for _ in range(3)] == [
        401,
        401,
        401,
    ]
    refused = throttled.request("GET", "/f.txt", headers=wrong)
    assert refused.status == 429
    assert int(refused.header("Retry-After") or 0) > 0
    # The right password for the throttled user name is refused too, without a check.
    assert throttled.request("GET", "/f.txt", user="alice").status == 429
    # Once the window has passed, the right password works again.
    throttled.throttle_clock.advance(61)  # type: ignore[attr-defined]
    assert throttled.request("GET", "/f.txt", user="alice").status == 200


def test_throttling_one_user_leaves_others_alone(throttled: Dav) -> None:
    wrong = {"Authorization": "Basic " + b64(b"alice:wrong")}
    for _ in range(3):
        throttled.request("GET", "/f.txt", headers=wrong)
    throttle = throttled.app.throttle
    assert throttle.retry_after("127.0.0.1", "alice") is not None
    assert throttle.retry_after("127.0.0.2", "bob") is None
    # bob, from another address, gets in at once.
    response = throttled.client.request(
        "GET", "/f.txt", headers={"Authorization": basic("bob")}, remote_addr="127.0.0.2"
    )
    assert response.status == 200


def test_basic_over_plain_http_from_another_machine_is_refused(auth_dav: Dav) -> None:
    headers = {"Authorization": basic("alice")}
    remote = auth_dav.client.request("GET", "/f.txt", headers=headers, remote_addr="192.0.2.7")
    assert remote.status == 403
    assert "https" in remote.text
    local = auth_dav.client.request("GET", "/f.txt", headers=headers, remote_addr="::1")
    assert local.status == 200


def test_insecure_auth_can_be_allowed(tmp_path: Path, htpasswd_file: Path) -> None:
    dav = Dav(tmp_path / "share", htpasswd=str(htpasswd_file), allow_insecure_auth=True)
    (dav.root / "f.txt").write_bytes(b"x")
    response = dav.client.request(
        "GET", "/f.txt", headers={"Authorization": basic("alice")}, remote_addr="192.0.2.7"
    )
    assert response.status == 200
