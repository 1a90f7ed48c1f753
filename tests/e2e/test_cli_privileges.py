"""`davserver locks …` run as root leaves the server's state as the server's user owns it.

Run as root, the command acts as the owner of the lock database (the user the
server runs as): the audit trail and database files it creates are that user's,
so the unprivileged server still writes them afterwards.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import bcrypt
import pytest
import requests

from tests.support.server import ServerProcess, run_davserver
from tests.support.serveruser import server_user

pytestmark = pytest.mark.e2e

USERS = {"alice": "alice-secret", "root": "root-secret"}
ADMIN_URL = re.compile(r" admin=(http://\S+/)")
LOCKINFO = (
    b'<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
    b"</D:lockscope><D:locktype><D:write/></D:locktype><D:owner>Alice</D:owner></D:lockinfo>"
)


def start(root: Path, htpasswd: Path) -> ServerProcess:
    args = ["--htpasswd", str(htpasswd), "--workers", "1", "--admin"]
    args += ["--admin-listen", "127.0.0.1:0", "--admins", "root"]
    return ServerProcess(root, args).start()


def take(server: ServerProcess, name: str) -> str:
    answer = requests.request(
        "LOCK", server.url + name, data=LOCKINFO, auth=("alice", USERS["alice"]), timeout=10
    )
    assert answer.status_code in (200, 201), answer.text
    return answer.headers["Lock-Token"].strip("<>")


def api(server: ServerProcess, method: str, path: str, body: object = None) -> requests.Response:
    match = ADMIN_URL.search(server.start_line)
    assert match, server.start_line
    url = match.group(1) + path.lstrip("/")
    return requests.request(method, url, json=body, auth=("root", USERS["root"]), timeout=10)


def owners(state: Path) -> dict[str, int]:
    return {str(p.relative_to(state)): p.lstat().st_uid for p in [state, *state.rglob("*")]}


def audit(state: Path) -> list[tuple[str, str]]:
    lines = (state / "audit.jsonl").read_text().splitlines()
    return [(entry["action"], entry["via"]) for entry in map(json.loads, lines)]


def test_cli_as_root_leaves_the_state_to_the_servers_user(tmp_path: Path) -> None:
    user = server_user()
    root = tmp_path / "share"
    root.mkdir()
    state = root / ".davserver"
    htpasswd = tmp_path / "htpasswd"
    hashed = {u: bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=4)) for u, p in USERS.items()}
    htpasswd.write_text("".join(f"{u}:{h.decode()}\n" for u, h in hashed.items()))
    server = start(root, htpasswd)
    try:
        token = take(server, "a.txt")
        take(server, "b.txt")
        done = run_davserver("locks", "break", token, "--state-dir", str(state), "--reason", "r")
        assert done.returncode == 0, done.stderr
        assert f"acting as {user.name}" in done.stderr or not user.switch
        assert set(owners(state).values()) == {user.uid}, owners(state)
        (held,) = api(server, "GET", "/api/locks").json()["locks"]
        broken = api(server, "POST", f"/api/locks/{held['id']}/break", {"reason": "api"})
        assert broken.status_code == 200, broken.text
        assert audit(state) == [("break", "cli"), ("break", "api")]
        server.stop()
        # No server runs: the command opens the database alone (its -wal and -shm too).
        args = ("--state-dir", str(state), "--reason", "move")
        done = run_davserver("locks", "freeze", "/proj", *args)
        assert done.returncode == 0, done.stderr
        assert set(owners(state).values()) == {user.uid}, owners(state)
        server = start(root, htpasswd)
        take(server, "c.txt")  # the server writes the lock database
        (freeze,) = api(server, "GET", "/api/freezes").json()["freezes"]
        assert api(server, "DELETE", f"/api/freezes/{freeze['id']}").status_code == 200
        assert audit(state)[2:] == [("freeze", "cli"), ("unfreeze", "api")]
    finally:
        server.stop()
