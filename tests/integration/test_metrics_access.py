"""Reading /metrics on the admin listener without administrator rights, in-process:
the users of ``metrics_users`` and the bearer token of ``metrics_token_file``."""

from __future__ import annotations

import os
from pathlib import Path

import bcrypt
import pytest

from davserver import config as davconfig
from davserver.admin.http import listener
from davserver.admin.http.metrics_access import MetricsToken
from davserver.errors import StartupError
from tests.integration.lock_helpers import Dav
from tests.integration.test_admin_api import USERS, QueryClient, auth
from tests.integration.wsgi_client import Response

TOKEN = "s3cret-scrape-token-0123456789"


class Listener:
    def __init__(self, tmp_path: Path, htpasswd: Path):
        self.token_file = tmp_path / "metrics.token"
        self.token_file.write_text(TOKEN + "\n")
        options = {
            "htpasswd": str(htpasswd),
            "admin": True,
            "admins": ["root"],
            "metrics.users": ["bob"],
            "metrics.token_file": str(self.token_file),
            "admin.audit_log": str(tmp_path / "audit.jsonl"),
        }
        dav = Dav(tmp_path / "share", **options)
        config = davconfig.load(None, {"root": str(dav.root), **options})
        self.client = QueryClient(listener.build(config, dav.app))

    def get(self, path: str, headers: dict[str, str]) -> Response:
        return self.client.request("GET", path, b"", headers)


@pytest.fixture
def admin(tmp_path: Path) -> Listener:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(
        "".join(
            f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
            for user, pw in USERS.items()
        )
    )
    return Listener(tmp_path, htpasswd)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_metrics_user_reads_metrics_and_nothing_else(admin: Listener) -> None:
    metrics = admin.get("/metrics", auth("bob"))
    assert metrics.status == 200 and b"davserver" in metrics.body
    for path in ("/api/locks", "/locks", "/"):
        assert admin.get(path, auth("bob")).status == 403, path
    assert admin.get("/metrics", auth("alice")).status == 403  # neither admin nor reader
    assert admin.get("/metrics", auth("root")).status == 200  # administrators keep access
    assert admin.get("/api/locks", auth("root")).status == 200


def test_the_metrics_token_reads_metrics_and_nothing_else(admin: Listener) -> None:
    metrics = admin.get("/metrics", bearer(TOKEN))
    assert metrics.status == 200 and b"davserver" in metrics.body
    for path in ("/api/locks", "/locks"):
        assert admin.get(path, bearer(TOKEN)).status == 403, path


def test_a_wrong_token_is_401(admin: Listener) -> None:
    for token in ("wrong", TOKEN + "x", TOKEN[:-1], ""):
        response = admin.get("/metrics", bearer(token))
        assert response.status == 401, token
        assert b"davserver_" not in response.body


def test_a_new_token_in_the_file_replaces_the_old_one(admin: Listener) -> None:
    replacement = admin.token_file.with_name("metrics.token.new")
    replacement.write_text("another-token-abcdefghijklmnop\n")
    os.replace(replacement, admin.token_file)  # how a secret is usually rotated
    assert admin.get("/metrics", bearer(TOKEN)).status == 401
    assert admin.get("/metrics", bearer("another-token-abcdefghijklmnop")).status == 200


def test_an_empty_token_file_stops_the_listener_from_starting(tmp_path: Path) -> None:
    token = tmp_path / "empty.token"
    token.write_text("\n")
    with pytest.raises(StartupError, match="no token"):
        MetricsToken(token)
