"""Shared locks do not lock out their own holders (RFC 4918 §6.1, §7):
where several shared locks cover a resource, each holder writes with
their own token; someone without one gets 423 naming them all; and a shared lock
on a member does not let its holder change a folder another holder's lock covers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.lock_helpers import PROPPATCH_SET, XML_TYPE, Dav, assert_423_submitted


@pytest.fixture
def dav(tmp_path: Path, htpasswd_file: Path) -> Dav:
    dav = Dav(tmp_path / "share", htpasswd=str(htpasswd_file))
    (dav.root / "f.txt").write_bytes(b"v0")
    (dav.root / "dir").mkdir()
    (dav.root / "dir" / "m.txt").write_bytes(b"member")
    return dav


def both_lock(dav: Dav, path: str, depth: str = "0") -> tuple[str, str]:
    alice = dav.locked(path, scope="shared", depth=depth, user="alice")
    bob = dav.locked(path, scope="shared", depth=depth, user="bob")
    return alice, bob


def test_each_holder_puts_with_their_own_token(dav: Dav) -> None:
    alice, bob = both_lock(dav, "/f.txt")
    assert dav.put("/f.txt", b"alice", token=alice, user="alice").status == 204
    assert dav.put("/f.txt", b"bob", token=bob, user="bob").status == 204
    assert (dav.root / "f.txt").read_bytes() == b"bob"
    assert_423_submitted(dav.put("/f.txt", b"x", user="alice"), "/f.txt")  # no token
    assert_423_submitted(dav.put("/f.txt", b"x", token=alice, user="bob"), "/f.txt")


def test_each_holder_proppatches_with_their_own_token(dav: Dav) -> None:
    alice, bob = both_lock(dav, "/f.txt")
    for user, token in (("alice", alice), ("bob", bob)):
        answer = dav.request(
            "PROPPATCH",
            "/f.txt",
            PROPPATCH_SET,
            {"Content-Type": XML_TYPE, "If": f"(<{token}>)"},
            user=user,
        )
        assert answer.status == 207, answer.text
        assert "200 OK" in answer.text
    refused = dav.request("PROPPATCH", "/f.txt", PROPPATCH_SET, {"Content-Type": XML_TYPE})
    assert refused.status in (401, 423)


def test_a_holder_deletes_with_their_own_token(dav: Dav) -> None:
    alice, _ = both_lock(dav, "/f.txt")
    answer = dav.request("DELETE", "/f.txt", headers={"If": f"(<{alice}>)"}, user="alice")
    assert answer.status == 204, answer.text
    assert not (dav.root / "f.txt").exists()
    assert dav.manager.locks_below("/") == []  # both locks went with the resource


def test_a_holder_moves_with_their_own_token(dav: Dav) -> None:
    _, bob = both_lock(dav, "/dir", depth="infinity")
    headers = {"Destination": "/moved", "If": f"(<{bob}>)"}
    assert dav.request("MOVE", "/dir", headers=headers, user="bob").status == 201
    assert (dav.root / "moved" / "m.txt").read_bytes() == b"member"
    assert dav.manager.locks_below("/") == []


def test_my_member_lock_does_not_let_me_delete_the_folder_of_another_holder(dav: Dav) -> None:
    mine = dav.locked("/dir/m.txt", scope="shared", depth="0", user="alice")
    dav.locked("/dir", scope="shared", depth="infinity", user="bob")
    answer = dav.request("DELETE", "/dir", headers={"If": f"</dir/m.txt> (<{mine}>)"}, user="alice")
    assert_423_submitted(answer, "/dir/")
    assert (dav.root / "dir" / "m.txt").read_bytes() == b"member"
    # the member itself is hers to write: her shared lock is one of those covering it
    assert dav.put("/dir/m.txt", b"hers", token=mine, user="alice").status == 204
    moved = dav.request(
        "MOVE",
        "/dir",
        headers={"Destination": "/away", "If": f"</dir/m.txt> (<{mine}>)"},
        user="alice",
    )
    assert_423_submitted(moved, "/dir/")


def test_an_exclusive_lock_of_another_user_still_stops_a_holder(dav: Dav) -> None:
    mine = dav.locked("/dir", scope="shared", depth="0", user="alice")
    dav.locked("/dir/m.txt", scope="exclusive", depth="0", user="bob")
    answer = dav.request("DELETE", "/dir", headers={"If": f"</dir/> (<{mine}>)"}, user="alice")
    assert_423_submitted(answer, "/dir/m.txt")
