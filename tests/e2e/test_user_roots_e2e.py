"""Home folders on the real server (``user_root: users/{user}``), as deployed:
the server runs as the unprivileged test user.  alice works with rclone (a real
client: it lists by PROPFIND and follows the hrefs it is given), bob with plain
HTTP requests; ROOT/team is the shared folder /team of both.  What is on
disk is checked, and again after a restart."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
import requests

from tests.conftest import USERS
from tests.support.server import ServerProcess
from tests.support.tools import require_tool

pytestmark = pytest.mark.e2e


def rclone(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """rclone against the server as alice (an on-the-fly webdav remote)."""
    tool = require_tool("rclone")
    obscured = subprocess.run(
        [tool, "obscure", USERS["alice"]], capture_output=True, text=True, check=True
    ).stdout.strip()
    remote = [
        f"--webdav-url={server.url}",
        "--webdav-user=alice",
        f"--webdav-pass={obscured}",
        "--config=/dev/null",
    ]
    return subprocess.run(
        [tool, *args, *remote], capture_output=True, text=True, timeout=60, check=False
    )


def start(root: Path, config: Path) -> ServerProcess:
    return ServerProcess(root, ["--config", str(config)]).start()


def test_two_users_each_in_their_own_root_across_a_restart(
    tmp_path: Path, htpasswd_file: Path
) -> None:
    root = tmp_path / "share"
    config = tmp_path / "davserver.yaml"
    config.write_text(
        f"htpasswd: {htpasswd_file}\nuser_root: users/{{user}}\nshared_folders: [/team]\n"
    )
    (root / "team").mkdir(parents=True)
    local = tmp_path / "report.txt"
    local.write_bytes(b"alice's report\n")
    bob = ("bob", USERS["bob"])

    server = start(root, config)
    try:
        copied = rclone(server, "copyto", str(local), ":webdav:docs/report.txt")
        assert copied.returncode == 0, copied.stderr
        listed = rclone(server, "lsf", "-R", ":webdav:")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.split() == ["docs/", "team/", "docs/report.txt"]
        shared = rclone(server, "copyto", str(local), ":webdav:team/from-alice.txt")
        assert shared.returncode == 0, shared.stderr
        from_alice = requests.get(f"{server.url}team/from-alice.txt", auth=bob, timeout=10)
        assert (from_alice.status_code, from_alice.content) == (200, b"alice's report\n")
        assert (
            requests.put(f"{server.url}b.txt", data=b"bob", auth=bob, timeout=10).status_code == 201
        )
        for path in (
            "docs/report.txt",
            "users/alice/docs/report.txt",
            "%2e%2e/alice/docs/report.txt",
        ):
            assert requests.get(server.url + path, auth=bob, timeout=10).status_code in (400, 404)
        escape = requests.request(
            "COPY",
            f"{server.url}b.txt",
            headers={"Destination": f"{server.url}../alice/docs/x.txt"},
            auth=bob,
            timeout=10,
        )
        assert escape.status_code == 409
        assert server.user is not None
        owner = server.user.uid
    finally:
        server.stop()

    home = root / "users" / "alice"
    assert (home / "docs" / "report.txt").read_bytes() == b"alice's report\n"
    assert (root / "users" / "bob" / "b.txt").read_bytes() == b"bob"
    assert sorted(os.listdir(home)) == ["docs"]  # bob's COPY made nothing here
    assert sorted(os.listdir(root / "users")) == ["alice", "bob"]
    assert (root / "team" / "from-alice.txt").read_bytes() == b"alice's report\n"
    st = home.stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (owner, 0o700)
    inode = st.st_ino

    server = start(root, config)
    try:
        listed = rclone(server, "lsf", "-R", ":webdav:")
        assert listed.returncode == 0, listed.stderr
        assert sorted(listed.stdout.split()) == [
            "docs/",
            "docs/report.txt",
            "team/",
            "team/from-alice.txt",
        ]
        got = requests.get(f"{server.url}b.txt", auth=bob, timeout=10)
        assert (got.status_code, got.content) == (200, b"bob")
    finally:
        server.stop()
    assert home.stat().st_ino == inode  # the same folder, not made again
