"""Quotas with shared folders: a file moved out of a shared folder into the
mover's home folder is the mover's.  It kept its writer as owner before, who
could then neither reach nor delete it: another user could use up anyone's
quota by moving their files in /team into a home folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.lock_helpers import Dav, xml

D = "{DAV:}"
USED = (
    b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>'
    b"<D:quota-used-bytes/></D:prop></D:propfind>"
)


@pytest.fixture
def team(tmp_path: Path, htpasswd_file: Path) -> Dav:
    dav = Dav(
        tmp_path / "share",
        htpasswd=str(htpasswd_file),
        user_root="users/{user}",
        shared_folders=["/team"],
        quota_bytes=1000,
    )
    (dav.root / "team").mkdir()
    return dav


def used(dav: Dav, user: str) -> int:
    answer = dav.request("PROPFIND", "/", USED, {"Depth": "0"}, user=user)
    assert answer.status == 207, answer.text
    return int(str(xml(answer).findtext(f"{D}response/{D}propstat/{D}prop/{D}quota-used-bytes")))


def test_a_file_moved_out_of_a_shared_folder_is_charged_to_the_mover(team: Dav) -> None:
    assert team.request("PUT", "/team/big", b"b" * 900, user="bob").status == 201
    moved = team.request("MOVE", "/team/big", headers={"Destination": "/mine"}, user="alice")
    assert moved.status == 201, moved.text
    assert (team.root / "users" / "alice" / "mine").read_bytes() == b"b" * 900
    assert (used(team, "bob"), used(team, "alice")) == (0, 900)
    # bob's quota is his again
    assert team.request("PUT", "/team/more", b"c" * 900, user="bob").status == 201


def test_a_move_out_past_the_movers_quota_is_507_and_nothing_moves(team: Dav) -> None:
    assert team.request("PUT", "/mine", b"a" * 600, user="alice").status == 201
    assert team.request("MKCOL", "/team/dir", user="bob").status == 201
    assert team.request("PUT", "/team/dir/f", b"b" * 600, user="bob").status == 201
    moved = team.request("MOVE", "/team/dir", headers={"Destination": "/dir"}, user="alice")
    assert moved.status == 507, moved.text
    assert "quota of 1000 bytes for alice" in moved.text
    assert (team.root / "team" / "dir" / "f").read_bytes() == b"b" * 600
    assert not (team.root / "users" / "alice" / "dir").exists()
    assert (used(team, "bob"), used(team, "alice")) == (600, 600)


def test_a_move_into_a_shared_folder_keeps_the_owner(team: Dav) -> None:
    assert team.request("PUT", "/mine", b"a" * 600, user="alice").status == 201
    moved = team.request("MOVE", "/mine", headers={"Destination": "/team/mine"}, user="alice")
    assert moved.status == 201, moved.text
    assert (used(team, "alice"), used(team, "bob")) == (600, 0)
