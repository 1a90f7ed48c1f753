"""The ``ldap:`` config section as check-config and serve read it: every
problem names ``ldap``, the key inside it and what is wrong; relative file
names are relative to the config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from davserver import config as davconfig
from davserver.errors import ConfigError
from davserver.runtime import preflight

PEOPLE = "ou=people,dc=example,dc=org"


def load(tmp_path: Path, section: str) -> davconfig.Config:
    path = tmp_path / "davserver.yaml"
    path.write_text(f"root: {tmp_path / 'share'}\nldap:\n{section}")
    return davconfig.load(str(path), {})


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        (f"  url: http://dir\n  user_dn: 'uid={{user}},{PEOPLE}'\n", "ldap.url: must be ldap://"),
        ("  url: ldap://dir\n", "exactly one of user_dn"),
        (
            f"  url: ldap://dir\n  user_dn: 'uid={{user}},{PEOPLE}'\n  search_base: {PEOPLE}\n",
            "exactly one of user_dn",
        ),
        (
            f"  url: ldap://dir\n  user_dn: 'uid=alice,{PEOPLE}'\n",
            "ldap.user_dn: must contain {user}",
        ),
        (
            f"  url: ldap://dir\n  search_base: {PEOPLE}\n  search_filter: '(uid=x)'\n",
            "ldap.search_filter: must contain {user}",
        ),
        (
            f"  url: ldap://dir\n  search_base: {PEOPLE}\n  bind_dn: cn=dav\n",
            "bind_dn and bind_password_file go together",
        ),
        (
            f"  url: ldaps://dir\n  starttls: true\n  user_dn: 'uid={{user}},{PEOPLE}'\n",
            "ldap.starttls",
        ),
        (
            f"  url: ldap://dir\n  user_dn: 'uid={{user}},{PEOPLE}'\n  receive_timeout: 0\n",
            "ldap.receive_timeout: must be between",
        ),
        (
            f"  url: ldap://dir\n  user_dn: 'uid={{user}},{PEOPLE}'\n  cache_size: many\n",
            "ldap.cache_size: must be int",
        ),
        (
            f"  url: ldap://dir\n  user_dn: 'uid={{user}},{PEOPLE}'\n  group_member_attribute: x\n",
            "ldap.group_member_attribute: must be one of",
        ),
        (
            f"  url: ldap://dir\n  user_dn: 'uid={{user}},{PEOPLE}'\n  pasword: x\n",
            "ldap.pasword: unknown",
        ),
    ],
)
def test_a_bad_section_names_the_key_and_the_problem(
    tmp_path: Path, section: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, section)
    assert caught.value.key == "ldap"
    assert problem in str(caught.value)


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    section = (
        f"  url: ldap://dir\n  search_base: {PEOPLE}\n  bind_dn: cn=dav\n"
        "  bind_password_file: missing-password\n"
    )
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, section)
    assert caught.value.key == "ldap"
    assert f"ldap.bind_password_file: cannot read {tmp_path / 'missing-password'}" in str(
        caught.value
    )


def test_relative_files_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "ldap-password").write_text("secret\n")
    (tmp_path / "ca.pem").write_text("")
    config = load(
        tmp_path,
        f"  url: ldap://dir\n  starttls: true\n  ca_file: ca.pem\n  search_base: {PEOPLE}\n"
        "  bind_dn: cn=dav\n  bind_password_file: ldap-password\n  connect_timeout: 0.25\n",
    )
    assert config.ldap is not None
    assert config.ldap["bind_password_file"] == str(tmp_path / "ldap-password")
    assert config.ldap["ca_file"] == str(tmp_path / "ca.pem")


def test_ldap_and_another_domain_controller_are_refused_together(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not both") as caught:
        davconfig.load(
            None,
            {
                "root": str(tmp_path),
                "ldap": {"url": "ldap://dir", "user_dn": f"uid={{user}},{PEOPLE}"},
                "domain_controller": "wsgidav.dc.pam_dc:PAMDomainController",
            },
        )
    assert caught.value.key == "ldap"


def test_a_share_behind_ldap_logins_is_not_called_anonymous(tmp_path: Path) -> None:
    config = load(tmp_path, f"  url: ldap://dir\n  user_dn: 'uid={{user}},{PEOPLE}'\n")
    open_config = davconfig.load(None, {"root": str(tmp_path / "share"), "host": "0.0.0.0"})
    assert preflight.exposure_warning(open_config) is not None
    assert preflight.exposure_warning(config.model_copy(update={"host": "0.0.0.0"})) is None
