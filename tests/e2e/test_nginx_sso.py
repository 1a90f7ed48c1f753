"""Single sign-on in front of davserver (user_header): a real nginx asks a sign-on
service (``auth_request``, as with oauth2-proxy or Authelia) who the session
belongs to and passes the answer on in ``Remote-User``, overwriting whatever the
client sent.  davserver believes it from nginx (trusted_proxies) only: the user
is the lock principal and the access log's user; a client talking to davserver
directly with ``Remote-User`` is refused."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_nginx_proxy import CLIENT, access_line, send
from tests.integration.lock_helpers import XML_TYPE, lockinfo
from tests.support.nginx import nginx_proxy
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

# The README's example, with a stand-in for the sign-on service: a server block
# that answers like oauth2-proxy's /oauth2/auth or Authelia's verify endpoint
# (200 with Remote-User for a known session cookie, 401 for anyone else).
SSO_SITE = """
    map $cookie_session $sso_user {{
        s-alice alice;
        s-bob bob;
        default "";
    }}
    server {{
        listen 127.0.0.1:{spare};
        location = /verify {{
            if ($sso_user = "") {{ return 401; }}
            add_header Remote-User $sso_user;
            return 200;
        }}
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        location / {{
            auth_request /_sso;
            auth_request_set $user $upstream_http_remote_user;
            proxy_set_header Remote-User $user;  # overwrites a client's own Remote-User
            proxy_pass http://127.0.0.1:{backend};
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Connection "";
            proxy_request_buffering off;
            proxy_buffering off;
        }}
        location = /_sso {{
            internal;
            proxy_pass http://127.0.0.1:{spare}/verify;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }}
    }}
"""


@pytest.fixture
def sso(tmp_path: Path) -> Iterator[tuple[ServerProcess, str]]:
    config = tmp_path / "davserver.yaml"
    config.write_text(
        "trusted_proxies: [127.0.0.1]\nuser_header: Remote-User\nmax_connections_per_address: 0\n"
    )
    args = ["--workers", "1", "--lock-store", "memory://", "--config", str(config)]
    with (
        ServerProcess(tmp_path / "share", args) as server,
        nginx_proxy(tmp_path / "nginx", server.port, site=SSO_SITE) as url,
    ):
        yield server, url


def session(user: str, **more: str) -> dict[str, str]:
    return {"Cookie": f"session=s-{user}", **more}


def test_the_signed_in_user_writes_and_holds_the_lock(
    sso: tuple[ServerProcess, str], tmp_path: Path
) -> None:
    server, url = sso
    # The client's own Remote-User is overwritten by the one the sign-on service gave.
    status, _, body = send(
        url, "PUT", "/doc.txt", b"alice's", session("alice", **{"Remote-User": "bob"})
    )
    assert status == 201, body
    assert (tmp_path / "share" / "doc.txt").read_bytes() == b"alice's"
    assert access_line(server, '"PUT /doc.txt').startswith(f"{CLIENT} - alice ")
    headers = session("alice", **{"Content-Type": XML_TYPE})
    status, _, body = send(url, "LOCK", "/doc.txt", lockinfo(), headers)
    assert status == 200, body
    # bob, signed in too, is refused by alice's lock, and told who holds it.
    refused = session("bob", Accept="application/json")
    status, _, body = send(url, "PUT", "/doc.txt", b"bob's", refused)
    assert status == 423
    assert [lock["principal"] for lock in json.loads(body)["locks"]] == ["alice"]
    assert (tmp_path / "share" / "doc.txt").read_bytes() == b"alice's"


def test_no_session_no_entry_and_no_way_around_the_proxy(
    sso: tuple[ServerProcess, str], tmp_path: Path
) -> None:
    server, url = sso
    claimed = {"Remote-User": "alice", "Accept": "application/json"}
    status, _, _ = send(url, "PUT", "/x.txt", b"x", claimed)
    assert status == 401  # nginx: the sign-on service knows no session
    direct = f"http://127.0.0.1:{server.port}/"
    status, _, body = send(direct, "PUT", "/x.txt", b"x", claimed)
    assert status == 403
    assert json.loads(body)["detail"] == "Remote-User is only accepted from http.trusted_proxies"
    assert not (tmp_path / "share" / "x.txt").exists()


def test_an_underscore_spelling_cannot_smuggle_the_user(sso: tuple[ServerProcess, str]) -> None:
    server, _ = sso
    # From 127.0.0.1, the trusted proxy's own address, as a proxy that passes
    # header names with underscores would forward it: ``Remote_User`` is not
    # ``Remote-User`` (in the WSGI environ both would be HTTP_REMOTE_USER).
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("PUT", "/smuggled.txt", body=b"x", headers={"Remote_User": "alice"})
        assert conn.getresponse().status == 201  # anonymous: no login configured
    finally:
        conn.close()
    assert access_line(server, '"PUT /smuggled.txt').startswith("127.0.0.1 - - ")
