"""Administrators log in to the admin listener the way users log in to the WebDAV
port: through the configured controller (LDAP against a real slapd, or a site's
own ``domain_controller``) and the same Basic-auth step (shared throttle, the
plain-HTTP rule, 503 while the directory is away).  ``ldap.admin_group``
members are administrators for the admin listener and the lock policy alike."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from wsgidav.dc.base_dc import BaseDomainController

from davserver import config as davconfig
from davserver.admin.http import listener
from davserver.errors import ConfigError
from tests.integration.lock_helpers import Dav
from tests.integration.wsgi_client import Response, WsgiClient
from tests.support.server import run_davserver
from tests.support.slapd import (
    DAVADMINS,
    GROUPS,
    PASSWORDS,
    PEOPLE,
    SERVICE_DN,
    SERVICE_PASSWORD,
    Slapd,
)

TEMPLATE = f"uid={{user}},{PEOPLE}"
STRANGER = "192.0.2.7"


def credentials(user: str, password: str | None = None) -> dict[str, str]:
    secret = PASSWORDS.get(user, "") if password is None else password
    token = base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


class Site:
    """The WebDAV app and its admin listener's app over one configuration."""

    def __init__(self, tmp_path: Path, **options: Any):
        options = {"admin": True, "audit_log": str(tmp_path / "audit.jsonl"), **options}
        self.dav = Dav(tmp_path / "share", auth_max_failures=3, **options)
        self.dav.app.throttle.clock = self.dav.clock
        config = davconfig.load(None, {"root": str(self.dav.root), **options})
        self.admin = WsgiClient(listener.build(config, self.dav.app))

    def api(self, headers: dict[str, str], *, remote_addr: str = "127.0.0.1") -> Response:
        return self.admin.request("GET", "/api/locks", headers=headers, remote_addr=remote_addr)

    def freeze(self, headers: dict[str, str]) -> Response:
        body = json.dumps({"path": "/team", "reason": "migration"}).encode()
        all_headers = {**headers, "Content-Type": "application/json"}
        return self.admin.request("POST", "/api/freezes", body, all_headers)

    def lock_root(self, headers: dict[str, str]) -> Response:
        return self.dav.lock("/", depth="infinity", headers=headers)


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    with Slapd(tmp_path_factory.mktemp("slapd")) as server:
        yield server


def ldap_site(tmp_path: Path, url: str, *, admins: list[str] | None = None, **ldap: Any) -> Site:
    section = {"url": url, "user_dn": TEMPLATE, **ldap}
    site = Site(tmp_path, ldap=section, admins=admins or [])
    (site.dav.root / "team").mkdir()
    return site


def test_an_admin_group_member_uses_the_api_with_her_ldap_password(
    tmp_path: Path, slapd: Slapd
) -> None:
    site = ldap_site(tmp_path, slapd.url, admin_group=DAVADMINS)
    listing = site.api(credentials("carol"))
    assert listing.status == 200, listing.text
    assert json.loads(listing.body)["locks"] == []
    frozen = site.freeze(credentials("carol"))
    assert frozen.status == 201, frozen.text
    freezes = [lock for lock in site.dav.manager.records() if lock.is_freeze]
    assert [(lock.root, lock.principal) for lock in freezes] == [("/team", "carol")]
    audit = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert json.loads(audit[-1])["by"] == "carol"


def test_a_directory_user_outside_the_admin_group_is_403(tmp_path: Path, slapd: Slapd) -> None:
    site = ldap_site(tmp_path, slapd.url, admin_group=DAVADMINS)
    alice = site.api(credentials("alice"))
    assert alice.status == 403
    assert "alice is not an administrator" in alice.text
    assert site.freeze(credentials("alice")).status == 403
    assert not [lock for lock in site.dav.manager.records() if lock.is_freeze]


def test_a_wrong_directory_password_is_401_and_throttled_with_the_webdav_port(
    tmp_path: Path, slapd: Slapd
) -> None:
    site = ldap_site(tmp_path, slapd.url, admin_group=DAVADMINS)
    wrong = site.api(credentials("carol", "a-guess"))
    assert wrong.status == 401
    assert (wrong.header("WWW-Authenticate") or "").startswith('Basic realm="davserver admin"')
    assert "wrong user name or password" in wrong.text
    assert site.api(credentials("carol", "")).status == 401  # never an anonymous bind
    # Two failures here and one on the WebDAV port: one count, the fourth try is 429.
    port = site.dav.request("GET", "/", headers=credentials("carol", "another"))
    assert port.status == 401
    assert site.api(credentials("carol")).status == 429


def test_directory_logins_in_clear_from_another_machine_are_403(
    tmp_path: Path, slapd: Slapd
) -> None:
    site = ldap_site(tmp_path, slapd.url, admin_group=DAVADMINS)
    answer = site.api(credentials("carol"), remote_addr=STRANGER)
    assert answer.status == 403
    assert "plain HTTP" in answer.text


def test_admin_group_members_may_lock_the_root_with_depth_infinity(
    tmp_path: Path, slapd: Slapd
) -> None:
    """The lock policy asks the same place as the admin listener."""
    site = ldap_site(tmp_path, slapd.url, admin_group=DAVADMINS)
    alice = site.lock_root(credentials("alice"))
    assert alice.status == 403
    assert "for administrators only" in alice.text
    carol = site.lock_root(credentials("carol"))
    assert carol.status == 200, carol.text
    held = site.dav.manager.store.find("/", False, site.dav.clock())
    assert [(lock.root, lock.principal) for lock in held] == [("/", "carol")]


def test_named_admins_log_in_through_the_directory_too(tmp_path: Path, slapd: Slapd) -> None:
    site = ldap_site(tmp_path, slapd.url, admins=["alice"], admin_group=DAVADMINS)
    assert site.api(credentials("alice")).status == 200
    assert site.api(credentials("carol")).status == 200
    assert site.api(credentials("bob")).status == 403


def test_without_admin_group_only_the_named_admins_administer(tmp_path: Path, slapd: Slapd) -> None:
    site = ldap_site(tmp_path, slapd.url, admins=["bob"])
    assert site.api(credentials("bob")).status == 200
    assert site.api(credentials("carol")).status == 403
    assert site.lock_root(credentials("carol")).status == 403


def test_an_uncached_admin_login_is_503_while_the_directory_hangs(
    tmp_path: Path, slapd: Slapd
) -> None:
    site = ldap_site(
        tmp_path,
        slapd.url,
        admins=["alice"],
        admin_group=DAVADMINS,
        retry_after=9,
        connect_timeout=0.5,
        receive_timeout=0.5,
    )
    assert site.api(credentials("carol")).status == 200
    slapd.pause()
    try:
        assert site.api(credentials("carol")).status == 200  # remembered, membership too
        for user in ("alice", "bob"):
            answer = site.api(credentials(user))
            assert answer.status == 503, user
            assert answer.header("Retry-After") == "9"
            assert "login directory (LDAP) cannot be reached" in answer.text
    finally:
        slapd.resume()
    assert site.api(credentials("alice")).status == 200


class SiteController(BaseDomainController):  # type: ignore[misc]
    """A site's own controller: one password for everyone, and its own admins."""

    def __init__(self, wsgidav_app: Any, config: dict[str, Any]):
        super().__init__(wsgidav_app, config)
        self.password = config["site_dc"]["password"]
        self.checked: list[str] = []

    def get_domain_realm(self, path_info: str, environ: dict[str, Any] | None) -> str:
        return "site"

    def require_authentication(self, realm: str, environ: dict[str, Any] | None) -> bool:
        return True

    def supports_http_digest_auth(self) -> bool:
        return False

    def basic_auth_user(
        self, realm: str, user_name: str, password: str, environ: dict[str, Any] | None
    ) -> bool:
        self.checked.append(user_name)
        return bool(password == self.password)

    def is_admin(self, user: str) -> bool:
        return user == "ops"


def test_admin_logins_go_through_a_configured_domain_controller(tmp_path: Path) -> None:
    site = Site(
        tmp_path,
        domain_controller=f"{__name__}:SiteController",
        domain_controller_config={"site_dc": {"password": "open sesame"}},
        admins=["dana"],
    )
    controller = site.dav.app.controller
    assert site.api(credentials("dana", "open sesame")).status == 200
    assert site.api(credentials("ops", "open sesame")).status == 200  # its is_admin
    assert site.api(credentials("erin", "open sesame")).status == 403
    assert site.api(credentials("dana", "wrong")).status == 401
    assert controller.checked == ["dana", "ops", "erin", "dana"]


def test_the_admin_listener_needs_some_login_source(tmp_path: Path) -> None:
    base = {"root": str(tmp_path), "admin": True, "admins": ["root"]}
    with pytest.raises(ConfigError) as refused:
        davconfig.load(None, base)
    assert "auth.htpasswd, ldap, auth.domain_controller or auth.user_header" in str(refused.value)
    ldap = {"url": "ldap://127.0.0.1:1", "user_dn": TEMPLATE}
    assert davconfig.load(None, {**base, "ldap": ldap}).admin
    spec = f"{__name__}:SiteController"
    assert davconfig.load(None, {**base, "domain_controller": spec}).admin
    grouped = {**base, "admins": [], "ldap": {**ldap, "admin_group": DAVADMINS}}
    assert davconfig.load(None, grouped).ldap == {**ldap, "admin_group": DAVADMINS}
    with pytest.raises(ConfigError) as nobody:
        davconfig.load(None, {**base, "admins": [], "ldap": ldap})
    assert "ldap.admin_group" in str(nobody.value)


@pytest.mark.e2e
def test_check_config_accepts_an_ldap_admin_listener_and_warns_of_a_missing_group(
    tmp_path: Path, slapd: Slapd
) -> None:
    (tmp_path / "ldap-password").write_text(SERVICE_PASSWORD + "\n")
    (tmp_path / "share").mkdir()
    section = {"url": slapd.url, "search_base": PEOPLE, "bind_dn": SERVICE_DN}
    section["bind_password_file"] = "ldap-password"
    config = tmp_path / "davserver.yaml"

    def check(group: str) -> Any:
        settings = {"root": str(tmp_path / "share"), "admin": {"enabled": True, "users": []}}
        config.write_text(yaml.safe_dump({**settings, "ldap": {**section, "admin_group": group}}))
        return run_davserver("check-config", str(config))

    good = check(DAVADMINS)
    assert good.returncode == 0, good.stderr
    assert "warning" not in good.stdout, good.stdout
    typo = check(f"cn=davadmin,{GROUPS}")
    assert typo.returncode == 0, typo.stderr
    assert (
        f"warning: ldap.admin_group cn=davadmin,{GROUPS} is not found in the directory: "
        "none of its members administers"
    ) in typo.stdout
