"""The one translation between a user's view and the share (dav/user_roots.py)."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from davserver.config.checks import template_problem
from davserver.dav.destination import Destination
from davserver.dav.logins.admins import Admins
from davserver.dav.user_roots import IDENTITY, UserRoots, UserView
from davserver.errors import (
    Conflict,
    Forbidden,
    Frozen,
    LockConflict,
    LockTokenMissing,
    NotFound,
    Unauthenticated,
)
from davserver.locking.model import Depth, Lock, LockKind, Scope

ALICE = UserView("/users/alice")


def lock(root: str, kind: LockKind = LockKind.WRITE) -> Lock:
    return Lock(
        token="opaquelocktoken:00000000-0000-0000-0000-000000000001",
        root=root,
        scope=Scope.EXCLUSIVE,
        depth=Depth.INFINITY,
        owner="",
        principal="alice",
        timeout=60,
        expires_at=100.0,
        created_at=40.0,
        kind=kind,
        reason="backup" if kind is LockKind.FREEZE else "",
    )


@pytest.mark.parametrize(
    ("view", "real"),
    [("/", "/users/alice"), ("/a.txt", "/users/alice/a.txt"), ("/d/e", "/users/alice/d/e")],
)
def test_paths_map_both_ways(view: str, real: str) -> None:
    assert ALICE.to_real(view) == real
    assert ALICE.to_view(real) == view


def test_above_or_beside_the_root_is_the_users_root() -> None:
    for real in ("/", "/users", "/users/alicex", "/users/bob/a.txt"):
        assert ALICE.to_view(real) == "/"


def test_identity_changes_nothing() -> None:
    assert IDENTITY.to_real("/users/x") == "/users/x" == IDENTITY.to_view("/users/x")
    refusal = NotFound("/users/alice/a.txt does not exist")
    assert IDENTITY.error(refusal) is refusal


def test_a_destination_is_mapped_and_keeps_its_suffix() -> None:
    mapped = ALICE.destination(Destination("/b.txt", False, "?x"))
    assert mapped == Destination("/users/alice/b.txt", False, "?x")


def test_lock_errors_are_rebuilt_in_the_view() -> None:
    held = lock("/users/alice/a.txt")
    shown = ALICE.error(LockTokenMissing([held]))
    assert isinstance(shown, LockTokenMissing)
    assert str(shown) == "locked by /a.txt: the lock token was not submitted"
    assert shown.locks[0].root == "/a.txt" and shown.locks[0].token == held.token
    conflict = ALICE.error(LockConflict([held], "/users/alice/a.txt", below=True))
    assert isinstance(conflict, LockConflict) and conflict.below
    assert str(conflict) == "/a.txt conflicts with locks on /a.txt"
    frozen = ALICE.error(Frozen([lock("/users", LockKind.FREEZE)], "/users/alice/a.txt"))
    assert type(frozen) is Frozen
    assert str(frozen) == "/a.txt is locked for maintenance (frozen at /)"
    assert frozen.locks[0].root == "/" and frozen.locks[0].collection


def test_other_messages_name_the_view_and_keep_their_data() -> None:
    refusal = Unauthenticated("no /users/alice/x or /users/alice here", "realm")
    shown = ALICE.error(refusal)
    assert isinstance(shown, Unauthenticated) and shown.realm == "realm"
    assert str(shown) == "no /x or / here"
    similar = Conflict("the parent collection of /users/alicex/y does not exist")
    assert ALICE.error(similar) is similar


@pytest.mark.parametrize(
    "template",
    ["users", "/users/{user}", "users//{user}", "a/../{user}", "{user}/{x}", ".h/{user}"],
)
def test_bad_templates(template: str) -> None:
    assert template_problem(template) is not None
    with pytest.raises(ValueError):
        UserRoots(template, "/")


def test_folders_are_made_0700_under_any_umask(tmp_path: Path) -> None:
    homes = UserRoots("home/{user}", str(tmp_path), admins=["root"])
    old = os.umask(0o277)
    try:
        assert homes.view("alice") == UserView("/home/alice")
    finally:
        os.umask(old)
    for folder in (tmp_path / "home", tmp_path / "home" / "alice"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert homes.view("root") is IDENTITY
    assert not (tmp_path / "home" / "root").exists()
    with pytest.raises(Unauthenticated):
        homes.view(None)


def test_concurrent_first_logins_make_one_folder(tmp_path: Path) -> None:
    homes = UserRoots("home/{user}", str(tmp_path))
    (tmp_path / "home").mkdir()
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def login() -> None:
        barrier.wait()
        try:
            homes.view("alice")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=login) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(os.listdir(tmp_path / "home")) == ["alice"]  # no temporary left


def test_a_link_or_file_in_the_way_is_403_and_nothing_is_made_elsewhere(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "share"
    root.mkdir()
    (root / "home").symlink_to(outside)
    homes = UserRoots("home/{user}", str(root))
    with pytest.raises(Forbidden, match="home folder cannot be used"):
        homes.view("alice")
    assert list(outside.iterdir()) == []
    (root / "home").unlink()
    (root / "home").write_bytes(b"file")
    with pytest.raises(Forbidden, match="not a folder"):
        homes.view("alice")


def test_shared_folders_keep_their_path_in_every_view() -> None:
    view = UserView("/users/alice", ("/team",))
    assert view.to_real("/team") == "/team" and view.to_real("/team/a") == "/team/a"
    assert view.to_real("/teamwork") == "/users/alice/teamwork"
    assert view.to_view("/team/a") == "/team/a"
    assert view.is_mount("/team") and view.is_mount("/users/alice")
    assert not view.is_mount("/team/a") and not IDENTITY.is_mount("/team")
    assert view.shadowed() == frozenset({"/users/alice/team"})


def test_a_home_folder_that_would_be_a_shared_folder_is_403(tmp_path: Path) -> None:
    homes = UserRoots("{user}", str(tmp_path), shared=["/team"])
    with pytest.raises(Forbidden, match="would be a shared folder"):
        homes.view("team")
    assert not (tmp_path / "team").exists()
    assert homes.view("alice") == UserView("/alice", ("/team",))


def test_an_administrator_the_login_controller_vouches_for_sees_the_whole_share(
    tmp_path: Path,
) -> None:
    admins = Admins(["root"], check=lambda user: user == "carol")  # e.g. ldap.admin_group
    homes = UserRoots("home/{user}", str(tmp_path), admins=admins)
    assert homes.view("carol") is IDENTITY and homes.view("root") is IDENTITY
    assert homes.view("dave") == UserView("/home/dave")
    assert sorted(os.listdir(tmp_path / "home")) == ["dave"]
