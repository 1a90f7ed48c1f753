"""check-config with an ``ldap:`` section: a bad section stops it (naming the
key), a directory that cannot be reached or a service account it refuses is a
warning (the server would answer 503 or 401 to every new login)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.server import run_davserver
from tests.support.slapd import PEOPLE, SERVICE_DN, SERVICE_PASSWORD, Slapd


@pytest.fixture
def slapd(tmp_path: Path) -> Iterator[Slapd]:
    with Slapd(tmp_path / "slapd") as server:
        yield server


def check(
    tmp_path: Path, url: str, password: str = SERVICE_PASSWORD, host: str = "127.0.0.1", **ldap: Any
) -> Any:
    (tmp_path / "ldap-password").write_text(password + "\n")
    section = {
        "url": url,
        "search_base": PEOPLE,
        "bind_dn": SERVICE_DN,
        "bind_password_file": "ldap-password",  # relative to the config file
        "connect_timeout": 1,
        **ldap,
    }
    (tmp_path / "share").mkdir(exist_ok=True)
    config = tmp_path / "davserver.yaml"
    settings = {"root": str(tmp_path / "share"), "host": host, "ldap": section}
    config.write_text(yaml.safe_dump(settings))
    return run_davserver("check-config", str(config))


@pytest.mark.e2e
def test_a_directory_that_answers_gives_no_warning(tmp_path: Path, slapd: Slapd) -> None:
    result = check(tmp_path, slapd.url, host="0.0.0.0")
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stdout, result.stdout


@pytest.mark.e2e
def test_a_directory_that_cannot_be_reached_is_a_warning(tmp_path: Path, slapd: Slapd) -> None:
    slapd.stop()
    result = check(tmp_path, slapd.url)
    assert result.returncode == 0, result.stderr
    assert f"warning: the LDAP directory {slapd.url} cannot be reached" in result.stdout


@pytest.mark.e2e
def test_a_service_account_the_directory_refuses_is_a_warning(tmp_path: Path, slapd: Slapd) -> None:
    result = check(tmp_path, slapd.url, password="not-the-password")
    assert result.returncode == 0, result.stderr
    assert f"warning: ldap.bind_dn {SERVICE_DN} cannot bind (invalidCredentials)" in result.stdout


@pytest.mark.e2e
def test_a_bad_section_stops_check_config_naming_the_key(tmp_path: Path) -> None:
    result = check(tmp_path, "https://dir.example.org")
    assert result.returncode == 2
    assert "ldap" in result.stderr and "ldap.url: must be ldap://" in result.stderr
    missing = check(tmp_path, "ldap://dir", bind_password_file="nowhere")
    assert missing.returncode == 2
    assert f"ldap.bind_password_file: cannot read {tmp_path / 'nowhere'}" in missing.stderr
