"""The admin listener over the network: credentials in clear from other machines are
refused as on the WebDAV port, and check-config warns about such a listener."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bcrypt
import pytest

from davserver import config as davconfig
from davserver.admin.http import listener
from tests.integration.lock_helpers import Dav
from tests.integration.test_admin_api import USERS, QueryClient, auth
from tests.integration.wsgi_client import Response
from tests.support.config_file import write_config
from tests.support.server import run_davserver

TOKEN = "metrics-token-0123456789abcdef"
REFUSED = (
    "Basic credentials over plain HTTP from another machine are refused: "
    "use https (tls.cert/tls.key) or set auth.allow_insecure: true"
)


class RemoteClient(QueryClient):
    """The in-process client, as if the requests came from ``address`` over ``scheme``."""

    address = "127.0.0.1"
    scheme = "http"

    def _environ(self, *args: Any) -> dict[str, Any]:  # type: ignore[override]
        environ = QueryClient._environ(*args)
        environ["wsgi.url_scheme"] = self.scheme
        return environ


def write_htpasswd(path: Path) -> Path:
    path.write_text(
        "".join(
            f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
            for user, pw in USERS.items()
        )
    )
    return path


def admin_client(tmp_path: Path, **extra: Any) -> RemoteClient:
    tmp_path.mkdir(exist_ok=True)
    token = tmp_path / "metrics.token"
    token.write_text(TOKEN)
    options = {
        "htpasswd": str(write_htpasswd(tmp_path / "htpasswd")),
        "admin": True,
        "admins": ["root"],
        "metrics.users": ["bob"],
        "metrics.token_file": str(token),
        "admin.audit_log": str(tmp_path / "audit.jsonl"),
        **extra,
    }
    dav = Dav(tmp_path / "share", **options)
    config = davconfig.load(None, {"root": str(dav.root), **options})
    return RemoteClient(listener.build(config, dav.app))


def get(client: RemoteClient, path: str, headers: dict[str, str]) -> Response:
    return client.request("GET", path, b"", headers, remote_addr=client.address)


@pytest.mark.parametrize("address", ["192.0.2.7", "2001:db8::7"])
def test_credentials_in_clear_from_another_machine_are_refused(
    tmp_path: Path, address: str
) -> None:
    client = admin_client(tmp_path)
    client.address = address
    for path, headers in (
        ("/api/locks", auth("root")),
        ("/locks", auth("root")),
        ("/metrics", auth("bob")),
        ("/metrics", {"Authorization": f"Bearer {TOKEN}"}),
    ):
        response = get(client, path, headers)
        assert response.status == 403, (path, headers)
        assert REFUSED in response.text
    assert get(client, "/healthz", {}).status == 200  # probes send no credentials


def test_over_https_or_from_this_machine_they_are_accepted(tmp_path: Path) -> None:
    client = admin_client(tmp_path)
    client.address = "192.0.2.7"
    assert get(client, "/api/locks", auth("root")).status == 403  # plain HTTP: refused
    client.scheme = "https"
    assert get(client, "/api/locks", auth("root")).status == 200
    assert get(client, "/metrics", {"Authorization": f"Bearer {TOKEN}"}).status == 200
    client.address, client.scheme = "127.0.0.1", "http"  # e.g. a TLS proxy on this machine
    assert get(client, "/api/locks", auth("root")).status == 200


def test_allow_insecure_auth_accepts_them_as_on_the_webdav_port(tmp_path: Path) -> None:
    strict = admin_client(tmp_path / "strict")
    strict.address = "192.0.2.7"
    assert get(strict, "/api/locks", auth("root")).status == 403
    lenient = admin_client(tmp_path / "lenient", allow_insecure_auth=True)
    lenient.address = "192.0.2.7"
    assert get(lenient, "/api/locks", auth("root")).status == 200


def check_config(tmp_path: Path, **values: Any) -> str:
    (tmp_path / "share").mkdir(exist_ok=True)
    lines = {
        "root": str(tmp_path / "share"),
        "auth.htpasswd": str(write_htpasswd(tmp_path / "htpasswd")),
        "admin.enabled": True,
        "admin.users": ["root"],
        **values,
    }
    path = write_config(tmp_path / "davserver.yaml", lines)
    result = run_davserver("check-config", str(path))
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.e2e
def test_check_config_warns_about_a_plain_http_admin_listener_on_the_network(
    tmp_path: Path,
) -> None:
    shown = check_config(tmp_path, **{"admin.listen": "0.0.0.0:8081"})
    assert "warning: admin.listen 0.0.0.0:8081 is reachable from other machines" in shown
    assert "plain HTTP" in shown
    for quiet in ({"admin.listen": "127.0.0.1:8081"}, {"admin.listen": "[::1]:8081"}):
        assert "admin.listen" not in check_config(tmp_path, **quiet), quiet


def test_an_admin_certificate_without_its_key_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(davconfig.ConfigError, match=r"admin\.tls_key"):
        davconfig.load(
            None,
            {
                "root": str(tmp_path),
                "htpasswd": str(write_htpasswd(tmp_path / "htpasswd")),
                "admin": True,
                "admins": ["root"],
                "admin.tls_cert": str(tmp_path / "cert.pem"),
            },
        )
