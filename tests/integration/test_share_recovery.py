"""A crash at any step of a PUT, COPY, MOVE or DELETE leaves all or nothing after recovery.

The crash is real: a forked child runs the request and dies with ``os._exit`` just
before its n-th change to the file system (rename, mkdir, rmdir, unlink, exchange),
for every n until the request completes.  The parent then runs the start-up
recovery and checks what a client would see.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from davserver.fs import containment, trees, uploads
from davserver.fs.recovery import Outcome, recover
from davserver.fs.share import Share
from davserver.fs.trees import remove_tree
from tests.integration.wsgi_client import WsgiClient, make_client

CRASHED, DONE, FAILED = 70, 71, 72
MUTATORS = ("rename", "replace", "mkdir", "rmdir", "unlink")
Snapshot = dict[str, bytes | None]


def snapshot(top: Path) -> Snapshot | None:
    """Every name below ``top`` with its content (None for folders); None if absent."""
    if not top.exists():
        return None
    found: Snapshot = {}
    for path in sorted(top.rglob("*")):
        found[str(path.relative_to(top))] = None if path.is_dir() else path.read_bytes()
    return found


def hidden(root: Path) -> list[str]:
    return [str(p) for p in root.rglob("*") if uploads.is_temp_name(p.name)]


def make_tree(top: Path, tag: str, files: int = 4) -> None:
    (top / "sub" / "deeper").mkdir(parents=True)
    for i in range(files):
        (top / f"f{i}.txt").write_text(f"{tag} {i}")
        (top / "sub" / f"s{i}.txt").write_text(f"{tag} sub {i}")
    (top / "sub" / "deeper" / "last.txt").write_text(f"{tag} last")


def crash_before_change(n: int) -> None:
    """From now on, die just before the n-th change (counting from 0)."""
    count = [0]

    def guard(real: Callable[..., object]) -> Callable[..., object]:
        def changed(*args: object, **kwargs: object) -> object:
            if count[0] == n:
                os._exit(CRASHED)
            count[0] += 1
            return real(*args, **kwargs)

        return changed

    for name in MUTATORS:
        setattr(os, name, guard(getattr(os, name)))
    trees.exchange = guard(trees.exchange)  # type: ignore[assignment]


def run_crashing(client: WsgiClient, n: int, request: Callable[[WsgiClient], int]) -> int:
    """Run ``request`` in a child that crashes before change ``n``; its exit code."""
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        code = FAILED
        try:
            crash_before_change(n)
            code = DONE if request(client) < 300 else FAILED
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def recovered(root: Path) -> list[Outcome]:
    outcomes = recover(Share(root, state_dir=root / ".davserver"))
    assert hidden(root) == [], "recovery left hidden names behind"
    return outcomes


Check = Callable[[list[Outcome]], None]


def every_crash(
    root: Path, setup: Callable[[], None], request: Callable[[WsgiClient], int], check: Check
) -> int:
    """Crash before each change in turn until the request completes; after each
    crash, recovery runs and ``check`` judges the state.  Returns the crash count."""
    for n in range(500):
        setup()
        code = run_crashing(make_client(root), n, request)
        assert code in (CRASHED, DONE), f"the request failed at n={n} ({code})"
        check(recovered(root))
        if code == DONE:
            return n
    raise AssertionError("the request never completed")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "share"
    make_client(path)
    return path


def reset(root: Path, *names: str) -> None:
    for name in names:
        if (root / name).exists():
            remove_tree(str(root / name))


def copy_to(dest: str) -> Callable[[WsgiClient], int]:
    return lambda client: (
        client.request("COPY", "/src", headers={"Destination": f"http://localhost{dest}"}).status
    )


def move_to(dest: str) -> Callable[[WsgiClient], int]:
    return lambda client: (
        client.request("MOVE", "/src", headers={"Destination": f"http://localhost{dest}"}).status
    )


@pytest.mark.e2e
@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "aside"])
def test_copy_over_an_existing_tree(root: Path, exchange: bool, monkeypatch) -> None:
    if not exchange:  # a file system without RENAME_EXCHANGE
        monkeypatch.setattr(trees, "exchange", lambda *args: False)
    make_tree(root / "src", "new")
    make_tree(root / "dst", "old", files=2)
    new, old = snapshot(root / "src"), snapshot(root / "dst")
    seen: list[tuple[bool, bool]] = []

    def setup() -> None:
        reset(root, "dst")
        make_tree(root / "dst", "old", files=2)

    def check(outcomes: list[Outcome]) -> None:
        state = snapshot(root / "dst")
        assert state in (old, new)
        assert snapshot(root / "src") == new
        for outcome in outcomes:
            assert outcome.message.startswith("finished") == outcome.finished
            assert outcome.finished == (state == new), outcome
        seen.append((state == new, bool(outcomes)))

    every_crash(root, setup, copy_to("/dst"), check)
    assert (False, True) in seen  # rolled back
    assert (True, True) in seen  # finished after the new tree was in place
    assert seen[-1] == (True, False)  # the request that completed left nothing


@pytest.mark.e2e
def test_copy_to_a_new_name(root: Path) -> None:
    make_tree(root / "src", "new")
    new = snapshot(root / "src")
    rolled_back = []

    def check(outcomes: list[Outcome]) -> None:
        assert snapshot(root / "dst") in (None, new)
        assert [o.message for o in outcomes] in ([], ["rolled back an unfinished COPY in the root"])
        rolled_back.extend(outcomes)

    every_crash(root, lambda: reset(root, "dst"), copy_to("/dst"), check)
    assert rolled_back


@pytest.mark.e2e
@pytest.mark.parametrize("target", ["tree", "file"])
def test_move_over_an_existing_destination(root: Path, target: str) -> None:
    def setup() -> None:
        reset(root, "dst", "src")
        make_tree(root / "src", "new")
        if target == "tree":
            make_tree(root / "dst", "old", files=2)
        else:
            (root / "dst").write_text("old file")

    setup()
    new, old = snapshot(root / "src"), snapshot(root / "dst")
    put_back = []

    def check(outcomes: list[Outcome]) -> None:
        source, dest = snapshot(root / "src"), snapshot(root / "dst")
        assert (source, dest) in ((new, old), (None, new)), (source, dest)
        put_back.extend(o for o in outcomes if "the old /dst is back" in o.message)

    every_crash(root, setup, move_to("/dst"), check)
    assert put_back  # the crash between moving the old one aside and moving in


@pytest.mark.e2e
def test_delete_a_tree(root: Path) -> None:
    def setup() -> None:
        reset(root, "tree")
        make_tree(root / "tree", "t")

    setup()
    whole = snapshot(root / "tree")
    finished = []

    def check(outcomes: list[Outcome]) -> None:
        state = snapshot(root / "tree")
        assert state in (whole, None)
        for outcome in outcomes:
            assert outcome.message.endswith("a DELETE in the root"), outcome.message
            assert outcome.finished == (state is None)
        finished.extend(o for o in outcomes if o.message == "finished a DELETE in the root")

    crashes = every_crash(root, setup, lambda c: c.request("DELETE", "/tree").status, check)
    # All but the crashes before the hidden folder was made and before the tree
    # was moved into it (that one is rolled back: the tree is whole).
    assert len(finished) == crashes - 2


@pytest.mark.e2e
def test_put(root: Path) -> None:
    def setup() -> None:
        (root / "doc.txt").write_bytes(b"old" * 1000)

    def put(client: WsgiClient) -> int:
        return client.request("PUT", "/doc.txt", b"new" * 1000).status

    def check(outcomes: list[Outcome]) -> None:
        assert (root / "doc.txt").read_bytes() in (b"old" * 1000, b"new" * 1000)

    assert every_crash(root, setup, put, check) >= 1


# --- what each hidden name means, one by one ------------------------------------------------


def test_each_kind_of_leftover(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    (root / "dir").mkdir()
    (root / "dir" / ".davserver-upload-1a.tmp").write_bytes(b"half")
    (root / ".davserver-copy-2b.tmp" / "x").mkdir(parents=True)
    (root / ".davserver-trash-3c.tmp" / "y").mkdir(parents=True)
    staged = root / "dir" / ".davserver-swap-4d-0.tmp"
    staged.mkdir()
    os.rename(staged, staged.with_name(f".davserver-swap-4d-{staged.stat().st_ino:x}.tmp"))
    (root / "dir" / ".davserver-swap-5e-1.tmp").write_bytes(b"old, swapped out")
    # A MOVE cut short after the old destination went aside: it comes back ...
    (root / ".davserver-aside-6f-move.tmp" / "gone").mkdir(parents=True)
    (root / ".davserver-aside-6f-move.tmp" / "gone" / "keep.txt").write_text("old")
    # ... unless the new one is already there.
    (root / "dir" / ".davserver-aside-7a-copy.tmp" / "there").mkdir(parents=True)
    (root / "dir" / "there").write_text("new")
    # Cut short before anything moved aside; and after, while the old one was removed.
    (root / "dir" / ".davserver-aside-8c-move.tmp").mkdir()
    (root / "dir" / ".davserver-trash-9d-move.tmp" / "half").mkdir(parents=True)
    (root / ".davserver" / ".davserver-upload-8b.tmp").write_bytes(b"state: left alone")
    with caplog.at_level(logging.INFO, logger="davserver.recovery"):
        outcomes = recover(Share(root, state_dir=root / ".davserver"))
    messages = sorted(outcome.message for outcome in outcomes)
    assert messages == [
        "finished a COPY in /dir: removed the replaced tree",
        "finished a COPY onto /dir/there: removed the old version",
        "finished a DELETE in the root",
        "finished a MOVE in /dir: removed the old version",
        "rolled back a COPY in /dir not yet in place",
        "rolled back a MOVE in /dir",
        "rolled back a MOVE onto /gone: the old /gone is back",
        "rolled back an unfinished COPY in the root",
        "rolled back an unfinished upload in /dir",
    ]
    assert (root / "gone" / "keep.txt").read_text() == "old"
    assert (root / "dir" / "there").read_text() == "new"
    assert hidden(root) == [str(root / ".davserver" / ".davserver-upload-8b.tmp")]
    logged = caplog.text
    assert all(message in logged for message in messages)
    assert "4 interrupted operation(s) finished, 5 rolled back" in logged


def test_a_running_server_s_work_is_left_alone(root: Path) -> None:
    """Recovery needs the serving lock exclusively: a second server starting on the
    same root must not take the first one's upload in progress for a leftover."""
    share = Share(root, state_dir=root / ".davserver")
    lock_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(lock_fd, fcntl.LOCK_SH)  # what a running server holds
    try:
        (root / ".davserver-upload-9c.tmp").write_bytes(b"in progress")
        assert recover(share) == []
        assert (root / ".davserver-upload-9c.tmp").exists()
    finally:
        os.close(lock_fd)
    assert len(recover(share)) == 1


def test_recovery_reaches_any_depth(root: Path) -> None:
    top = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    fd = os.dup(top)
    for _ in range(2500):  # 5,000 bytes of path: beyond PATH_MAX
        os.mkdir("d", dir_fd=fd)
        child = containment.open_beneath(fd, ["d"], containment.DIR_FLAGS)
        os.close(fd)
        fd = child
    os.close(os.open(".davserver-upload-aa.tmp", os.O_CREAT | os.O_WRONLY, dir_fd=fd))
    os.close(fd)
    outcomes = recover(Share(root, state_dir=root / ".davserver"))
    assert [o.message for o in outcomes] == ["rolled back an unfinished upload in " + "/d" * 2500]
    trees.remove_at(top, "d")
    os.close(top)
