"""Passwords of any length, and no "logout" in query strings.

bcrypt reads 72 bytes of a password and bcrypt >= 5 raises for longer ones:
an unknown user with a long password must get 401 (not 500), and a password
over 72 bytes hashed by Apache's ``htpasswd -B`` (which hashes its first 72
bytes) must log in, on the WebDAV port and on the admin listener.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from davserver import config as davconfig
from davserver.admin.http import listener
from tests.integration.lock_helpers import Dav, basic
from tests.integration.wsgi_client import Response, WsgiClient

LONG = "L" * 60 + "ü" * 20  # 100 bytes of UTF-8, more than bcrypt reads
OTHER_TAIL = LONG.encode()[:72].decode() + "x" * 28  # same first 72 bytes


def credentials(user: str, password: str) -> dict[str, str]:
    secret = f"{user}:{password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(secret).decode("ascii")}


def apache_hash(password: str) -> str:
    """The hash Apache's ``htpasswd -nbB`` makes, made in-process: bcrypt of the
    first 72 bytes with Apache's ``$2y$`` prefix (cost 5 to stay fast).
    tests/e2e/test_htpasswd_tool.py checks the real tool's output logs in too."""
    salt = bcrypt.gensalt(rounds=5)
    hashed = bcrypt.hashpw(password.encode()[:72], salt).decode()
    return "$2y$" + hashed.removeprefix("$2b$")


class QueryClient(WsgiClient):
    """The in-process client, passing the query string on as cheroot does."""

    @staticmethod
    def _environ(*args: Any) -> dict[str, Any]:
        environ = WsgiClient._environ(*args)
        environ["QUERY_STRING"] = args[1].partition("?")[2]
        return environ


@pytest.fixture
def long_dav(tmp_path: Path, htpasswd_file: Path) -> Dav:
    """Basic auth with alice, bob and carol, whose 100-byte password is hashed as Apache does."""
    with htpasswd_file.open("a") as file:
        file.write(f"carol:{apache_hash(LONG)}\n")
    dav = Dav(
        tmp_path / "share",
        htpasswd=str(htpasswd_file),
        admin=True,
        admins=["carol"],
        auth_max_failures=100,
    )
    (dav.root / "f.txt").write_bytes(b"hello")
    return dav


def test_unknown_user_with_a_long_password_is_401(long_dav: Dav) -> None:
    for size in (73, 100, 4000):
        response = long_dav.request("GET", "/f.txt", headers=credentials("mallory", "p" * size))
        assert response.status == 401, (size, response.status, response.text)
        assert "Traceback" not in response.text


def test_known_user_with_a_long_wrong_password_is_401(long_dav: Dav) -> None:
    response = long_dav.request("GET", "/f.txt", headers=credentials("alice", "p" * 200))
    assert response.status == 401, response.text


def test_a_long_password_made_by_htpasswd_logs_in(long_dav: Dav) -> None:
    response = long_dav.request("GET", "/f.txt", headers=credentials("carol", LONG))
    assert response.status == 200, response.text
    assert response.body == b"hello"
    # Like Apache: only the first 72 bytes count.
    same_prefix = long_dav.request("GET", "/f.txt", headers=credentials("carol", OTHER_TAIL))
    assert same_prefix.status == 200
    wrong = long_dav.request("GET", "/f.txt", headers=credentials("carol", LONG[:-30]))
    assert wrong.status == 401


def test_the_admin_listener_takes_long_passwords(long_dav: Dav, htpasswd_file: Path) -> None:
    options = {
        "root": str(long_dav.root),
        "htpasswd": str(htpasswd_file),
        "admin": True,
        "admins": ["carol"],
    }
    admin = WsgiClient(listener.build(davconfig.load(None, options), long_dav.app))
    unknown = admin.request("GET", "/api/locks", headers=credentials("mallory", "p" * 100))
    assert unknown.status == 401, unknown.text
    carol = admin.request("GET", "/api/locks", headers=credentials("carol", LONG))
    assert carol.status == 200, carol.text
    bob = admin.request("GET", "/api/locks", headers=credentials("bob", "q" * 90))
    assert bob.status == 401


def test_bcrypt_hashes_of_long_passwords_made_by_python_log_in_too(
    tmp_path: Path, htpasswd_file: Path
) -> None:
    """A hash of the first 72 bytes (what bcrypt < 5 made of a long password)."""
    hashed = bcrypt.hashpw(LONG.encode()[:72], bcrypt.gensalt(rounds=4)).decode()
    with htpasswd_file.open("a") as file:
        file.write(f"dave:{hashed}\n")
    dav = Dav(tmp_path / "share", htpasswd=str(htpasswd_file))
    (dav.root / "f.txt").write_bytes(b"hello")
    assert dav.request("GET", "/f.txt", headers=credentials("dave", LONG)).status == 200


@pytest.mark.parametrize("query", ["x=blogout", "logout", "a=1&logout=yes"])
def test_logout_in_a_query_string_does_not_refuse_valid_credentials(
    auth_dav: Dav, query: str
) -> None:
    client = QueryClient(auth_dav.app.wsgi)
    response: Response = client.request(
        "GET", f"/f.txt?{query}", headers={"Authorization": basic("alice")}
    )
    assert response.status == 200, response.text
    assert response.body == b"hello"
    anonymous = client.request("GET", f"/f.txt?{query}")
    assert anonymous.status == 401
