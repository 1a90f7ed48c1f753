"""DELETE of a tree holding what the server's user may not remove (RFC 4918 §9.6.1),
crashed before each of its changes in turn, then recovered as that user.

The request and the recovery run in forked children that drop to the unprivileged
test user (root ignores file modes); after every crash the share holds the whole
old tree or the result — never less of what could not be removed, never a hidden
name — and the request that finally completes answers 207.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from davserver.fs.recovery import recover
from davserver.fs.share import Share
from davserver.fs.trees import remove_tree
from tests.integration.test_share_recovery import (
    CRASHED,
    DONE,
    FAILED,
    crash_before_change,
    hidden,
    snapshot,
)
from tests.integration.wsgi_client import make_client
from tests.support.serveruser import give_to_server, server_user
from tests.support.tools import require_root

MULTI = 73


def as_server_user(work: Callable[[], int]) -> int:
    """Run ``work`` in a child that is the server's user; its exit code."""
    user = server_user()
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        code = FAILED
        try:
            os.setgroups([])
            os.setgid(user.gid)
            os.setuid(user.uid)
            code = work()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def make_proj(root: Path) -> None:
    """/proj/ (the server's) with a.txt, sub/b.txt and root's shared-by-root/r.txt."""
    if (root / "proj").exists():
        remove_tree(str(root / "proj"))
    (root / "proj" / "sub").mkdir(parents=True)
    (root / "proj" / "shared-by-root").mkdir()
    (root / "proj" / "a.txt").write_text("a")
    (root / "proj" / "sub" / "b.txt").write_text("b")
    (root / "proj" / "shared-by-root" / "r.txt").write_text("r")
    give_to_server(root / "proj")
    os.chown(root / "proj" / "shared-by-root", 0, 0)
    os.chown(root / "proj" / "shared-by-root" / "r.txt", 0, 0)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    require_root("files the server's user may not remove")
    path = tmp_path / "share"
    make_client(path)
    give_to_server(path)
    return path


def delete_crashing(root: Path, n: int) -> int:
    def work() -> int:
        client = make_client(root)
        crash_before_change(n)
        status = client.request("DELETE", "/proj/").status
        return MULTI if status == 207 else DONE if status < 300 else FAILED

    return as_server_user(work)


def recovered(root: Path) -> None:
    def work() -> int:
        recover(Share(root, state_dir=root / ".davserver"))
        return DONE

    assert as_server_user(work) == DONE
    assert hidden(root) == [], "recovery left hidden names behind"


@pytest.mark.e2e
def test_a_crash_at_any_step_leaves_the_old_tree_or_the_result(root: Path) -> None:
    make_proj(root)
    whole = snapshot(root / "proj")
    result = {"shared-by-root": None, "shared-by-root/r.txt": b"r"}
    seen = set()
    for n in range(200):
        make_proj(root)
        code = delete_crashing(root, n)
        assert code in (CRASHED, MULTI), f"the DELETE failed at n={n} ({code})"
        recovered(root)
        state = snapshot(root / "proj")
        assert state in (whole, result), (n, state)
        seen.add(state == result)
        if code == MULTI:
            break
    else:
        raise AssertionError("the DELETE never completed")
    assert seen == {True, False}
    assert n >= 4  # the crashes landed at every step of the walk


@pytest.mark.e2e
def test_a_file_that_cannot_go_is_403_and_stays(root: Path) -> None:
    make_proj(root)

    def work() -> int:
        answer = make_client(root).request("DELETE", "/proj/shared-by-root/r.txt")
        assert b"Permission denied" in answer.body
        return DONE if answer.status == 403 else FAILED

    assert as_server_user(work) == DONE
    assert (root / "proj" / "shared-by-root" / "r.txt").read_text() == "r"
    recovered(root)
