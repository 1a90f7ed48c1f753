"""LDAP logins while the directory is away (503 with Retry-After for logins not
remembered, never a login let in unchecked), the cache of confirmed logins,
and the directory over StartTLS and ldaps with a CA file."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.lock_helpers import Dav
from tests.support.slapd import PEOPLE, Slapd
from tests.support.tls import TlsFiles, make_tls_files

TEMPLATE = f"uid={{user}},{PEOPLE}"
LOGGER = "davserver.dav.logins.ldap"


def credentials(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def get(dav: Dav, user: str, password: str) -> Any:
    return dav.request("GET", "/f.txt", headers=credentials(user, password))


@pytest.fixture
def slapd(tmp_path: Path) -> Iterator[Slapd]:
    with Slapd(tmp_path / "slapd") as server:
        yield server


def make(tmp_path: Path, url: str, **ldap: Any) -> Dav:
    options = {"url": url, "user_dn": TEMPLATE, "receive_timeout": 0.5, "connect_timeout": 0.5}
    dav = Dav(tmp_path / "share", ldap={**options, **ldap})
    (dav.root / "f.txt").write_bytes(b"hello")
    return dav


def test_a_remembered_login_works_while_the_directory_hangs(tmp_path: Path, slapd: Slapd) -> None:
    dav = make(tmp_path, slapd.url, retry_after=7)
    assert get(dav, "alice", "alice-pw").status == 200
    slapd.pause()
    try:
        assert get(dav, "alice", "alice-pw").status == 200  # from the cache
        for user, password in (("bob", "bob-pw"), ("alice", "a-guess")):
            answer = get(dav, user, password)  # not remembered: the directory must answer
            assert answer.status == 503, (user, password)
            assert answer.header("Retry-After") == "7"
            assert "login directory (LDAP) cannot be reached" in answer.text
    finally:
        slapd.resume()
    assert get(dav, "bob", "bob-pw").status == 200
    assert get(dav, "alice", "a-guess").status == 401  # a wrong password was never stored


def test_the_cache_forgets_after_cache_seconds(tmp_path: Path, slapd: Slapd) -> None:
    dav = make(tmp_path, slapd.url, cache_seconds=0)
    assert get(dav, "alice", "alice-pw").status == 200
    slapd.pause()
    try:
        assert get(dav, "alice", "alice-pw").status == 503
    finally:
        slapd.resume()


def test_a_stopped_directory_is_503_with_one_warning_per_outage(
    tmp_path: Path, slapd: Slapd, caplog: pytest.LogCaptureFixture
) -> None:
    dav = make(tmp_path, slapd.url)
    slapd.stop()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        statuses = [get(dav, "alice", "alice-pw").status for _ in range(3)]
        slapd.start()
        back = get(dav, "bob", "bob-pw").status
    assert statuses == [503, 503, 503]
    assert back == 200
    warnings = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "unreachable" in warnings[0].getMessage()
    assert any("answers again" in r.getMessage() for r in caplog.records if r.name == LOGGER)


def test_failed_logins_during_an_outage_are_not_counted_as_wrong_passwords(
    tmp_path: Path, slapd: Slapd
) -> None:
    dav = make(tmp_path, slapd.url)
    slapd.stop()
    assert [get(dav, "alice", "alice-pw").status for _ in range(12)] == [503] * 12
    slapd.start()
    assert get(dav, "alice", "alice-pw").status == 200


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("ldap-tls"))


@pytest.fixture
def tls_slapd(tmp_path: Path, tls_files: TlsFiles) -> Iterator[Slapd]:
    with Slapd(tmp_path / "slapd", tls=tls_files) as server:
        yield server


@pytest.mark.parametrize("mode", ["starttls", "ldaps"])
def test_tls_to_the_directory_with_a_ca_file(
    tmp_path: Path, tls_slapd: Slapd, tls_files: TlsFiles, mode: str
) -> None:
    if mode == "starttls":
        dav = make(tmp_path, tls_slapd.url, starttls=True, ca_file=str(tls_files.ca))
    else:
        dav = make(tmp_path, tls_slapd.ldaps_url, ca_file=str(tls_files.ca))
    assert get(dav, "alice", "alice-pw").status == 200
    assert get(dav, "alice", "wrong").status == 401


@pytest.mark.parametrize("mode", ["starttls", "ldaps"])
def test_a_directory_certificate_the_ca_did_not_sign_is_503(
    tmp_path: Path, tls_slapd: Slapd, mode: str
) -> None:
    other = make_tls_files(tmp_path / "other-ca")
    if mode == "starttls":
        dav = make(tmp_path, tls_slapd.url, starttls=True, ca_file=str(other.ca))
    else:
        dav = make(tmp_path, tls_slapd.ldaps_url, ca_file=str(other.ca))
    answer = get(dav, "alice", "alice-pw")
    assert answer.status == 503
    assert answer.header("Retry-After") is not None
