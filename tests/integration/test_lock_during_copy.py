"""A lock taken while a COPY, MOVE or DELETE runs wins (RFC 4918 §7):
the lock check is held atomically with the step that makes the result
visible, so the request answers 423 naming the new lock, the staged copy is gone,
and the lock holder's bytes and lock stay.  And a COPY whose source changes under
it is 409, never a partial 201.

The other client acts at a fixed point of the operation (while the copy is
staged, or just before the install), never by timing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from davserver.fs import trees
from tests.integration.lock_helpers import Dav, assert_423_submitted

ALICE = b"alice's bytes"


@pytest.fixture
def dav(tmp_path: Path) -> Dav:
    dav = Dav(tmp_path / "share")
    src = dav.root / "bigtree"
    for folder in ("", "sub", "sub/deeper"):
        (src / folder).mkdir(exist_ok=True)
        for n in range(5):
            (src / folder / f"f{n}.txt").write_bytes(b"bob's copy %d" % n)
    (src / "sub" / "x.txt").write_bytes(b"bob's x")
    (dav.root / "big.bin").write_bytes(b"b" * 300_000)
    return dav


def while_staged(monkeypatch: pytest.MonkeyPatch, act: Callable[[], object]) -> list[object]:
    """Run ``act`` once, when a COPY's staged tree or file is complete."""
    done: list[object] = []

    def hook(real: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            result = real(*args, **kwargs)
            if not done:
                done.append(act())
            return result

        return run

    monkeypatch.setattr(trees, "syncfs", hook(trees.syncfs))
    monkeypatch.setattr(trees, "stage_copy", hook(trees.stage_copy))
    return done


def alice_locks_and_writes(dav: Dav, path: str) -> Callable[[], str]:
    def act() -> str:
        token = dav.locked(path, depth="0")
        assert dav.put(path, ALICE, token=token).status in (201, 204)
        return token

    return act


def leftovers(dav: Dav) -> list[str]:
    return [p.name for p in dav.root.rglob(".davserver-*")]


def assert_alice_won(dav: Dav, answer: Any, path: str, token: str) -> None:
    assert_423_submitted(answer, path)
    assert (dav.root / path.lstrip("/")).read_bytes() == ALICE
    assert [lock.token for lock in dav.manager.discover(path)] == [token]
    assert dav.put(path, b"alice again", token=token).status == 204
    assert leftovers(dav) == []


@pytest.mark.parametrize("existing", [True, False])
def test_copy_of_a_tree_loses_to_a_lock_taken_while_it_is_staged(
    dav: Dav, monkeypatch: pytest.MonkeyPatch, existing: bool
) -> None:
    if existing:
        (dav.root / "dest" / "sub").mkdir(parents=True)
        (dav.root / "dest" / "sub" / "x.txt").write_bytes(b"old")
        path = "/dest/sub/x.txt"
    else:
        path = "/dest"  # a LOCK on the unmapped destination creates it
    done = while_staged(monkeypatch, alice_locks_and_writes(dav, path))
    answer = dav.request("COPY", "/bigtree", headers={"Destination": "/dest"})
    assert done, "the copy was never staged"
    assert_alice_won(dav, answer, path, str(done[0]))


def test_copy_of_a_file_loses_to_a_lock_taken_while_it_is_staged(
    dav: Dav, monkeypatch: pytest.MonkeyPatch
) -> None:
    (dav.root / "target.bin").write_bytes(b"old")
    done = while_staged(monkeypatch, alice_locks_and_writes(dav, "/target.bin"))
    answer = dav.request("COPY", "/big.bin", headers={"Destination": "/target.bin"})
    assert_alice_won(dav, answer, "/target.bin", str(done[0]))


def before_install(dav: Dav, monkeypatch: pytest.MonkeyPatch, act: Callable[[], object]) -> None:
    """Run ``act`` between the first lock check and the change (MOVE, DELETE)."""
    store = dav.manager.store
    real = store.ensure_writable

    def run() -> None:
        real()
        act()

    monkeypatch.setattr(store, "ensure_writable", run)


def test_move_loses_to_a_lock_on_the_destination_taken_meanwhile(
    dav: Dav, monkeypatch: pytest.MonkeyPatch
) -> None:
    (dav.root / "dest" / "sub").mkdir(parents=True)
    (dav.root / "dest" / "sub" / "x.txt").write_bytes(b"old")
    tokens: list[str] = []
    before_install(
        dav, monkeypatch, lambda: tokens.append(alice_locks_and_writes(dav, "/dest/sub/x.txt")())
    )
    answer = dav.request("MOVE", "/bigtree", headers={"Destination": "/dest"})
    assert_alice_won(dav, answer, "/dest/sub/x.txt", tokens[0])
    assert (dav.root / "bigtree" / "sub" / "x.txt").read_bytes() == b"bob's x"


def test_move_loses_to_a_lock_on_the_source_taken_meanwhile(
    dav: Dav, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens: list[str] = []
    before_install(
        dav, monkeypatch, lambda: tokens.append(alice_locks_and_writes(dav, "/bigtree/sub/x.txt")())
    )
    answer = dav.request("MOVE", "/bigtree", headers={"Destination": "/elsewhere"})
    assert_alice_won(dav, answer, "/bigtree/sub/x.txt", tokens[0])
    assert not (dav.root / "elsewhere").exists()


def test_delete_loses_to_a_lock_taken_meanwhile(dav: Dav, monkeypatch: pytest.MonkeyPatch) -> None:
    tokens: list[str] = []
    before_install(
        dav, monkeypatch, lambda: tokens.append(alice_locks_and_writes(dav, "/bigtree/sub/x.txt")())
    )
    answer = dav.request("DELETE", "/bigtree")
    assert_alice_won(dav, answer, "/bigtree/sub/x.txt", tokens[0])
    assert (dav.root / "bigtree" / "f0.txt").exists()


def test_delete_forgets_only_the_locks_it_judged(dav: Dav, monkeypatch: pytest.MonkeyPatch) -> None:
    """A LOCK on the deleted URL right after it vanished is on a new resource: it stays."""
    (dav.root / "dir").mkdir()
    (dav.root / "dir" / "f.txt").write_bytes(b"f")
    tokens: list[str] = []
    real = trees.fsync_dir

    def after_vanishing(fd: int) -> None:
        real(fd)
        if not tokens and not (dav.root / "dir").exists():
            tokens.append(dav.locked("/dir", depth="0"))

    monkeypatch.setattr("davserver.fs.removal.fsync_dir", after_vanishing)
    answer = dav.request("DELETE", "/dir")
    assert answer.status == 204, answer.text
    assert tokens, "the hook never ran"
    assert [lock.token for lock in dav.manager.discover("/dir")] == tokens


def test_copy_whose_source_is_deleted_meanwhile_is_409_and_copies_nothing(
    dav: Dav, monkeypatch: pytest.MonkeyPatch
) -> None:
    def delete_source() -> int:
        return dav.request("DELETE", "/bigtree").status

    done = while_staged(monkeypatch, delete_source)
    answer = dav.request("COPY", "/bigtree", headers={"Destination": "/dest"})
    assert done == [204]
    assert answer.status == 409, answer.text
    assert not (dav.root / "dest").exists()
    assert leftovers(dav) == []


def test_copy_whose_member_vanishes_meanwhile_is_409_and_copies_nothing(
    dav: Dav, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = trees.open_file

    def vanishing(dir_fd: int, name: str) -> Any:
        if name == "x.txt":
            raise FileNotFoundError(2, "gone", name)
        return real(dir_fd, name)

    monkeypatch.setattr(trees, "open_file", vanishing)
    (dav.root / "dest").mkdir()
    (dav.root / "dest" / "keep.txt").write_bytes(b"keep")
    answer = dav.request("COPY", "/bigtree", headers={"Destination": "/dest"})
    assert answer.status == 409, answer.text
    assert "x.txt" in answer.text
    assert [p.name for p in (dav.root / "dest").iterdir()] == ["keep.txt"]
    assert leftovers(dav) == []
