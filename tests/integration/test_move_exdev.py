"""MOVE across file systems (rename fails with EXDEV: another file system mounted
below the root) is as safe as one rename (RFC 4918 §9.9, §7): the source
vanishes in the same held step in which the copy appears at the destination, a
lock taken meanwhile wins (423), a change inside the source while it is copied
is 409 (never a lost update), and on any fault the source and the destination
stay as they were, with no hidden leftovers.

Most tests simulate EXDEV (the MOVE's own rename raises it); one moves between
the share's file system and a tmpfs really mounted below the root.  The other
client acts at fixed points of the operation, never by timing.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from davserver.fs import moves, trees
from davserver.fs.containment import Place, fsync_dir, syncfs
from tests.integration.lock_helpers import Dav, assert_423_submitted
from tests.support.tools import small_tmpfs

TREE = {"f0.txt": b"zero", "sub/f1.txt": b"one", "sub/deeper/f2.txt": b"two"}


@pytest.fixture
def dav(tmp_path: Path) -> Dav:
    dav = Dav(tmp_path / "share")
    for name, data in TREE.items():
        (dav.root / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        (dav.root / "src" / name).write_bytes(data)
    (dav.root / "dst").mkdir()
    return dav


@pytest.fixture
def exdev(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every MOVE's own rename fails as between two file systems."""

    def rename_entry(source: Place, target: Place) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(moves, "rename_entry", rename_entry)


def tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".davserver" not in p.relative_to(folder).parts
    }


def leftovers(dav: Dav) -> list[str]:
    return [p.name for p in dav.root.rglob(".davserver-*")]


def move(dav: Dav, source: str, dest: str, **headers: str) -> Any:
    return dav.request("MOVE", source, headers={"Destination": dest, **headers})


def when_visible(
    monkeypatch: pytest.MonkeyPatch, dav: Dav, dest: str, act: Callable[[], object]
) -> list[object]:
    """Run ``act`` once, at the first directory flush after ``dest`` appeared."""
    done: list[object] = []
    real = fsync_dir

    def flush(fd: int) -> None:
        real(fd)
        if not done and (dav.root / dest.lstrip("/")).exists():
            done.append(act())

    monkeypatch.setattr(trees, "fsync_dir", flush)
    return done


def while_staged(monkeypatch: pytest.MonkeyPatch, act: Callable[[], object]) -> list[object]:
    """Run ``act`` once, when the copy of the source is complete (not yet in place)."""
    done: list[object] = []
    real = syncfs

    def flush(fd: int) -> None:
        real(fd)
        if not done:
            done.append(act())

    monkeypatch.setattr(trees, "syncfs", flush)
    return done


@pytest.mark.usefixtures("exdev")
def test_a_tree_moves_whole_and_the_source_goes(dav: Dav) -> None:
    answer = move(dav, "/src/", "/dst/moved/")
    assert answer.status == 201, answer.text
    assert tree(dav.root / "dst" / "moved") == TREE
    assert not (dav.root / "src").exists()
    assert leftovers(dav) == []


@pytest.mark.usefixtures("exdev")
def test_over_an_existing_tree_and_file_the_old_ones_are_replaced(dav: Dav) -> None:
    (dav.root / "dst" / "old").mkdir()
    (dav.root / "dst" / "old" / "stale.txt").write_bytes(b"stale")
    (dav.root / "dst" / "f.txt").write_bytes(b"old file")
    assert move(dav, "/src/", "/dst/old/").status == 204
    assert tree(dav.root / "dst" / "old") == TREE
    assert move(dav, "/dst/old/f0.txt", "/dst/f.txt").status == 204
    assert (dav.root / "dst" / "f.txt").read_bytes() == b"zero"
    assert not (dav.root / "dst" / "old" / "f0.txt").exists()
    assert leftovers(dav) == []


@pytest.mark.usefixtures("exdev")
def test_the_source_is_gone_from_view_when_the_destination_appears(
    dav: Dav, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No moment in which both exist: a LOCK could take the source there and
    # lose its resource to the removal after it.
    seen = when_visible(monkeypatch, dav, "/dst/moved", lambda: (dav.root / "src").exists())
    assert move(dav, "/src/", "/dst/moved/").status == 201
    assert seen == [False]


@pytest.mark.usefixtures("exdev")
def test_a_lock_on_the_source_taken_while_it_is_copied_wins(
    dav: Dav, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = while_staged(monkeypatch, lambda: dav.locked("/src/sub/f1.txt", depth="0"))
    answer = move(dav, "/src/", "/dst/moved/")
    assert tokens, "the hook never ran"
    assert_423_submitted(answer, "/src/sub/f1.txt")
    assert tree(dav.root / "src") == TREE
    assert not (dav.root / "dst" / "moved").exists()
    assert [lock.token for lock in dav.manager.discover("/src/sub/f1.txt")] == tokens
    assert leftovers(dav) == []


@pytest.mark.usefixtures("exdev")
def test_a_put_into_the_source_while_it_is_copied_is_never_lost(
    dav: Dav, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = while_staged(monkeypatch, lambda: dav.put("/src/sub/f1.txt", b"newer").status)
    answer = move(dav, "/src/", "/dst/moved/")
    assert done == [204]
    assert answer.status == 409, answer.text
    assert tree(dav.root / "src") == {**TREE, "sub/f1.txt": b"newer"}
    assert not (dav.root / "dst" / "moved").exists()
    assert leftovers(dav) == []


@pytest.mark.usefixtures("exdev")
def test_a_source_that_cannot_be_set_aside_is_refused_with_nothing_changed(
    dav: Dav, monkeypatch: pytest.MonkeyPatch
) -> None:
    (dav.root / "dst" / "moved").mkdir()
    (dav.root / "dst" / "moved" / "keep.txt").write_bytes(b"keep")

    def refuse(target: Place, put_in_place: Callable[[], object], op: str = "") -> Any:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(moves, "set_aside", refuse)
    answer = move(dav, "/src/", "/dst/moved/")
    assert answer.status == 403, answer.text
    assert tree(dav.root / "src") == TREE
    assert tree(dav.root / "dst") == {"moved/keep.txt": b"keep"}
    assert leftovers(dav) == []


@pytest.mark.usefixtures("exdev")
@pytest.mark.parametrize("existing", [False, True])
def test_a_full_disk_at_the_install_puts_the_source_back(
    dav: Dav, monkeypatch: pytest.MonkeyPatch, existing: bool
) -> None:
    if existing:
        (dav.root / "dst" / "moved").mkdir()
        (dav.root / "dst" / "moved" / "keep.txt").write_bytes(b"keep")

    def full(target: Place, staged: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(moves, "put_in_place", full)
    answer = move(dav, "/src/", "/dst/moved/")
    assert answer.status == 507, answer.text
    assert tree(dav.root / "src") == TREE
    assert tree(dav.root / "dst") == ({"moved/keep.txt": b"keep"} if existing else {})
    assert leftovers(dav) == []


@pytest.fixture
def mounted(dav: Dav) -> Iterator[Path]:
    with small_tmpfs(dav.root / "other", "4m") as folder:
        yield folder


@pytest.mark.e2e
def test_a_real_move_between_two_file_systems(
    dav: Dav, mounted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = when_visible(monkeypatch, dav, "/other/moved", lambda: (dav.root / "src").exists())
    answer = move(dav, "/src/", "/other/moved/")
    assert answer.status == 201, answer.text
    assert seen == [False]
    assert tree(mounted / "moved") == TREE
    assert not (dav.root / "src").exists()
    # And back, over an existing file.
    (dav.root / "f.txt").write_bytes(b"old")
    assert move(dav, "/other/moved/sub/f1.txt", "/f.txt").status == 204
    assert (dav.root / "f.txt").read_bytes() == b"one"
    assert not (mounted / "moved" / "sub" / "f1.txt").exists()
    assert leftovers(dav) == []


@pytest.mark.e2e
def test_a_real_move_loses_no_put_made_while_it_copies(
    dav: Dav, mounted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = while_staged(monkeypatch, lambda: dav.put("/src/sub/f1.txt", b"newer").status)
    answer = move(dav, "/src/", "/other/moved/")
    assert done == [204]
    assert answer.status == 409, answer.text
    assert tree(dav.root / "src") == {**TREE, "sub/f1.txt": b"newer"}
    assert list(mounted.iterdir()) == []
    assert leftovers(dav) == []
