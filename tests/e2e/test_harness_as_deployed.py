"""The harness itself: test servers run as deployed (tests/support/serveruser.py)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import requests

from tests.support.server import ServerProcess, children_of
from tests.support.serveruser import (
    LOST_FOUND,
    SHARED_BY_ROOT,
    SHARED_FILE,
    SHARED_TEXT,
    give_to_server,
    server_user,
)

pytestmark = pytest.mark.e2e


def uids_of(pid: int) -> set[int]:
    """Real, effective, saved and file-system uid of a process (/proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return {int(uid) for uid in line.split()[1:5]}
    raise AssertionError(f"no Uid line for {pid}")


def test_server_runs_unprivileged_on_a_share_with_foreign_entries(tmp_path: Path) -> None:
    root = tmp_path / "share"
    with ServerProcess(root) as server:
        assert server.proc is not None
        user = server_user()
        assert uids_of(server.proc.pid) == {user.uid}
        if os.geteuid() == 0:
            assert user.uid != 0
        assert root.stat().st_uid == user.uid
        lost, shared = root / LOST_FOUND, root / SHARED_BY_ROOT
        assert stat.S_IMODE(lost.stat().st_mode) == 0o700
        assert stat.S_IMODE(shared.stat().st_mode) == 0o755
        assert (shared / SHARED_FILE).read_bytes() == SHARED_TEXT
        if os.geteuid() == 0:
            owners = {p.stat().st_uid for p in (lost, shared, shared / SHARED_FILE)}
            assert owners == {0}
        # what the server's user may read is served; what it may not change is refused
        answer = requests.get(server.url + f"{SHARED_BY_ROOT}/{SHARED_FILE}", timeout=10)
        assert answer.status_code == 200 and answer.content == SHARED_TEXT
        if os.geteuid() == 0:
            put = requests.put(server.url + f"{SHARED_BY_ROOT}/{SHARED_FILE}", b"x", timeout=10)
            assert put.status_code == 403, put.text
            assert (shared / SHARED_FILE).read_bytes() == SHARED_TEXT


def test_workers_run_as_the_same_user(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "share", ["--workers", "2"]) as server:
        assert server.proc is not None
        workers = children_of(server.proc.pid)
        assert workers
        for pid in workers:
            assert uids_of(pid) == {server_user().uid}


def test_a_file_given_to_the_server_can_be_changed_by_it(tmp_path: Path) -> None:
    root = tmp_path / "share"
    with ServerProcess(root) as server:
        note = root / "note.txt"
        note.write_text("by the test")
        give_to_server(note)
        answer = requests.put(server.url + "note.txt", b"by the server", timeout=10)
        assert answer.status_code == 204, answer.text
        assert note.read_bytes() == b"by the server"
