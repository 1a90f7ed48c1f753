"""Logins are checked by a WsgiDAV domain controller, called from davserver's own
Basic-auth step: the htpasswd controller by default, any other one named in the
config (``domain_controller``), built as WsgiDAV builds it."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from wsgidav.dc.base_dc import BaseDomainController

from davserver import config as davconfig
from davserver.errors import ConfigError, StartupError
from davserver.runtime.application import build_app
from davserver.runtime.preflight import problems
from tests.integration.lock_helpers import Dav, basic
from tests.support.access_records import capture_access


class SiteController(BaseDomainController):  # type: ignore[misc]
    """A site's own controller, written against WsgiDAV's interface only."""

    built: list[tuple[Any, dict[str, Any]]] = []

    def __init__(self, wsgidav_app: Any, config: dict[str, Any]):
        super().__init__(wsgidav_app, config)
        self.password = config["site_dc"]["password"]
        SiteController.built.append((wsgidav_app, config))

    def get_domain_realm(self, path_info: str, environ: dict[str, Any] | None) -> str:
        return self._calc_realm_from_path_provider(path_info, environ)  # type: ignore[no-any-return]

    def require_authentication(self, realm: str, environ: dict[str, Any] | None) -> bool:
        return True

    def supports_http_digest_auth(self) -> bool:
        return False

    def basic_auth_user(
        self, realm: str, user_name: str, password: str, environ: dict[str, Any] | None
    ) -> bool:
        return password == self.password and environ is not None and realm == "/"


def credentials(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def site_dav(tmp_path: Path) -> Dav:
    return Dav(
        tmp_path / "share",
        domain_controller=f"{__name__}:SiteController",
        domain_controller_config={"site_dc": {"password": "open sesame"}},
    )


def test_a_configured_controller_checks_the_logins(tmp_path: Path) -> None:
    dav = site_dav(tmp_path)
    (dav.root / "f.txt").write_bytes(b"hello")
    wrong = dav.request("GET", "/f.txt", headers={"Authorization": credentials("carol", "x")})
    assert wrong.status == 401
    # The controller names the realm (its share path, as under WsgiDAV).
    assert (wrong.header("WWW-Authenticate") or "").startswith('Basic realm="/"')
    assert dav.request("GET", "/f.txt").status == 401
    with capture_access() as access:
        right = dav.request(
            "PUT", "/f.txt", b"new", headers={"Authorization": credentials("carol", "open sesame")}
        )
    assert right.status == 204
    assert (dav.root / "f.txt").read_bytes() == b"new"
    assert access.last()["user"] == "carol"  # the principal: locks, logs, permissions
    lock = dav.lock("/f.txt", headers={"Authorization": credentials("carol", "open sesame")})
    assert lock.status == 200
    assert "carol" in str(dav.manager.store.find("/f.txt", False, dav.clock())[0].principal)


def test_a_failed_login_at_a_configured_controller_is_throttled(tmp_path: Path) -> None:
    dav = site_dav(tmp_path)
    (dav.root / "f.txt").write_bytes(b"hello")
    guess = {"Authorization": credentials("carol", "guess")}
    statuses = [dav.request("GET", "/f.txt", headers=guess).status for _ in range(12)]
    assert statuses[0] == 401 and statuses[-1] == 429


def test_a_controller_that_cannot_be_loaded_stops_the_start(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    config = davconfig.load(
        None, {"root": str(root), "lock_store": "memory://", "domain_controller": "no.such:Thing"}
    )
    with pytest.raises(StartupError, match=r"no\.such:Thing"):
        build_app(config)
    # check-config says so too (the checks serve runs before it starts).
    assert any("domain_controller no.such:Thing" in problem for problem in problems(config))
    with pytest.raises(ConfigError, match=r"module\.path:ClassName"):
        davconfig.load(None, {"root": str(root), "domain_controller": "not a spec"})


def test_a_class_that_is_no_domain_controller_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    config = davconfig.load(
        None, {"root": str(root), "lock_store": "memory://", "domain_controller": "pathlib:Path"}
    )
    with pytest.raises(StartupError, match="BaseDomainController"):
        build_app(config)


def test_logout_in_the_query_does_not_refuse_valid_credentials(auth_dav: Dav) -> None:
    """WsgiDAV's authenticator refused any request whose query contained "logout";
    davserver has no logout, so a file named like that is served like any other."""
    for query in ("x=blogout", "logout", "view=logout&y=1"):
        answer = auth_dav.request("GET", f"/f.txt?{query}", user="alice")
        assert answer.status == 200, (query, answer.status)
        assert answer.body == b"hello"
    assert auth_dav.request("GET", "/f.txt?x=blogout").status == 401


def test_the_default_controller_is_the_htpasswd_file(auth_dav: Dav) -> None:
    answer = auth_dav.request("GET", "/f.txt", headers={"Authorization": basic("alice")})
    assert answer.status == 200
    assert auth_dav.request("GET", "/f.txt", headers={"Authorization": "Basic eDp5"}).status == 401
