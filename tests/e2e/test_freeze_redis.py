"""Freezes and broken locks across servers sharing one Redis, and across restarts.

Two davserver instances serve the same directory with one Redis lock store; the
admin listener of the first is used to freeze and to break.  What the second
instance answers shows that the state lives in the store, not in a process.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import requests

from tests.support.redis import RedisServer
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

USERS = {"alice": "alice-secret", "root": "root-secret"}
LOCKINFO = (
    b'<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
    b"</D:lockscope><D:locktype><D:write/></D:locktype><D:owner>Alice</D:owner></D:lockinfo>"
)
ADMIN_URL = re.compile(r" admin=(http://\S+/)")


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def htpasswd(tmp_path: Path) -> Path:
    path = tmp_path / "htpasswd"
    path.write_text(
        "".join(
            f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
            for user, pw in USERS.items()
        )
    )
    return path


def instance(root: Path, redis: RedisServer, htpasswd: Path, *, admin: bool) -> ServerProcess:
    args = ["--lock-store", redis.url, "--htpasswd", str(htpasswd), "--workers", "1"]
    if admin:
        args += ["--admin", "--admin-listen", "127.0.0.1:0", "--admins", "root"]
    return ServerProcess(root, args)


def admin_url(server: ServerProcess) -> str:
    match = ADMIN_URL.search(server.start_line)
    assert match, server.start_line
    return match.group(1)


def api(server: ServerProcess, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(
        method, admin_url(server) + path.lstrip("/"), json=body, auth=USERS_AUTH["root"], timeout=10
    )


USERS_AUTH = {user: (user, password) for user, password in USERS.items()}


def put(url: str, token: str | None = None) -> requests.Response:
    headers = {"Accept": "application/json"}
    if token:
        headers["If"] = f"(<{token}>)"
    return requests.put(url, data=b"new", headers=headers, auth=USERS_AUTH["alice"], timeout=10)


def test_a_freeze_holds_on_every_instance_and_across_restarts(
    tmp_path: Path, redis: RedisServer, htpasswd: Path
) -> None:
    root = tmp_path / "share"
    (root / "proj").mkdir(parents=True)
    (root / "proj" / "a.txt").write_bytes(b"old")
    first = instance(root, redis, htpasswd, admin=True).start()
    second = instance(root, redis, htpasswd, admin=False).start()
    try:
        made = api(first, "POST", "/api/freezes", {"path": "/proj", "reason": "db move"})
        assert made.status_code == 201, made.text
        refused = put(second.url + "proj/a.txt")
        assert refused.status_code == 423
        document = refused.json()
        assert document["reason"] == "db move" and document["locked_by"] == "root"
        assert "locked for maintenance" in document["message"]
        lock = requests.request(
            "LOCK", second.url + "proj/b.txt", data=LOCKINFO, auth=USERS_AUTH["alice"], timeout=10
        )
        assert lock.status_code == 423

        first.stop()
        second.stop()
        first = instance(root, redis, htpasswd, admin=True).start()
        second = instance(root, redis, htpasswd, admin=False).start()

        assert put(second.url + "proj/a.txt").status_code == 423
        (freeze,) = api(first, "GET", "/api/freezes").json()["freezes"]
        assert freeze["root"] == "/proj"
        assert api(first, "DELETE", f"/api/freezes/{freeze['id']}").status_code == 200
        assert put(second.url + "proj/a.txt").status_code == 204
        assert (root / "proj" / "a.txt").read_bytes() == b"new"
    finally:
        first.stop()
        second.stop()


def test_a_broken_lock_is_explained_by_another_instance(
    tmp_path: Path, redis: RedisServer, htpasswd: Path
) -> None:
    root = tmp_path / "share"
    root.mkdir()
    (root / "report.odt").write_bytes(b"draft")
    with (
        instance(root, redis, htpasswd, admin=True) as first,
        instance(root, redis, htpasswd, admin=False) as second,
    ):
        taken = requests.request(
            "LOCK",
            second.url + "report.odt",
            data=LOCKINFO,
            headers={"Depth": "0", "Timeout": "Second-600", "User-Agent": "LibreOffice"},
            auth=USERS_AUTH["alice"],
            timeout=10,
        )
        assert taken.status_code == 200
        token = taken.headers["Lock-Token"].strip("<>")
        (view,) = api(first, "GET", "/api/locks").json()["locks"]
        assert view["client"] == "LibreOffice" and view["principal"] == "alice"
        broken = api(first, "POST", f"/api/locks/{view['id']}/break", {"reason": "gone home"})
        assert broken.status_code == 200, broken.text

        refused = put(second.url + "report.odt", token)
        assert refused.status_code == 423
        document = refused.json()
        assert document["broken_by"] == "root" and document["reason"] == "gone home"
        assert document["broken_at"].endswith("Z")
        refresh = requests.request(
            "LOCK",
            second.url + "report.odt",
            headers={"If": f"(<{token}>)"},
            auth=USERS_AUTH["alice"],
            timeout=10,
        )
        assert refresh.status_code == 412 and "gone home" in refresh.text
        assert put(second.url + "report.odt").status_code == 204  # free for everyone else
