"""Shared folders (``shared_folders: [/team]`` with ``user_root``): ROOT/team is
/team inside every user's root, listed with their own members, one resource
for everyone's locks, and never deleted, moved or replaced through a view."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from davserver import config as davconfig
from davserver.errors import ConfigError
from tests.integration.lock_helpers import PROPFIND_LOCKDISCOVERY, Dav, xml

D = "{DAV:}"
JSON = {"Accept": "application/json"}


@pytest.fixture
def team(tmp_path: Path, htpasswd_file: Path) -> Dav:
    """Home folders, and ROOT/team shown as /team in each of them."""
    dav = Dav(
        tmp_path / "share",
        htpasswd=str(htpasswd_file),
        user_root="users/{user}",
        shared_folders=["/team"],
    )
    (dav.root / "team").mkdir()
    (dav.root / "team" / "plan.txt").write_bytes(b"plan")
    return dav


def response_hrefs(dav: Dav, path: str, user: str, depth: str) -> list[str]:
    answer = dav.request("PROPFIND", path, headers={"Depth": depth}, user=user)
    assert answer.status == 207, answer.text
    return sorted(str(h.text) for h in xml(answer).iterfind(f"{D}response/{D}href"))


def test_a_shared_folder_is_listed_and_shared_in_every_root(team: Dav) -> None:
    (team.root / "users" / "alice" / "team").mkdir(parents=True)
    (team.root / "users" / "alice" / "team" / "own.txt").write_bytes(b"hidden by /team")
    assert team.request("PUT", "/mine.txt", b"m", user="alice").status == 201
    assert response_hrefs(team, "/", "alice", "1") == ["/", "/mine.txt", "/team/"]
    assert response_hrefs(team, "/", "alice", "infinity") == [
        "/",
        "/mine.txt",
        "/team/",
        "/team/plan.txt",
    ]
    assert response_hrefs(team, "/", "bob", "1") == ["/", "/team/"]
    assert team.request("PUT", "/team/a.txt", b"from alice", user="alice").status == 201
    assert (team.root / "team" / "a.txt").read_bytes() == b"from alice"
    got = team.request("GET", "/team/a.txt", user="bob")
    assert (got.status, got.body) == (200, b"from alice")
    page = team.request("GET", "/", headers={"Accept": "text/html"}, user="bob")
    assert 'href="/team/"' in page.text and "/users/" not in page.text


def test_locks_in_a_shared_folder_are_seen_by_everyone_at_one_path(team: Dav) -> None:
    team.locked("/team/plan.txt", user="alice")
    [lock] = team.manager.records()
    assert lock.root == "/team/plan.txt"
    refused = team.request("PUT", "/team/plan.txt", b"bob", JSON, user="bob")
    assert refused.status == 423
    assert [held["root"] for held in json.loads(refused.body)["locks"]] == ["/team/plan.txt"]
    roots = [
        active.findtext(f"{D}lockroot/{D}href")
        for active in team.lockdiscovery("/team/plan.txt", user="bob")
    ]
    assert roots == ["/team/plan.txt"]
    listed = team.request(
        "PROPFIND", "/", PROPFIND_LOCKDISCOVERY, {"Depth": "infinity"}, user="bob"
    )
    assert listed.status == 207
    assert "<D:href>/team/plan.txt</D:href>" in listed.text
    assert (team.root / "team" / "plan.txt").read_bytes() == b"plan"


def test_a_shared_folder_cannot_be_deleted_moved_or_replaced(team: Dav) -> None:
    assert team.request("PUT", "/x.txt", b"x", user="alice").status == 201
    assert team.request("DELETE", "/team/", user="alice").status == 403
    assert (
        team.request("MOVE", "/team/", headers={"Destination": "/t/"}, user="alice").status == 403
    )
    moved = team.request("MOVE", "/x.txt", headers={"Destination": "/team"}, user="alice")
    assert moved.status == 403
    assert (team.root / "team" / "plan.txt").read_bytes() == b"plan"
    assert (team.root / "users" / "alice" / "x.txt").read_bytes() == b"x"


@pytest.mark.parametrize(
    ("folders", "template", "message"),
    [
        (["/team"], None, "set user_root too"),
        (["/users"], "users/{user}", "outside the home folders"),
        (["/users/x"], "users/{user}", "directly below the root"),
        (["/a/b"], "users/{user}", "directly below the root"),
        (["/.team"], "users/{user}", "hidden"),
    ],
)
def test_check_config_refuses_bad_shared_folders(
    tmp_path: Path, folders: list[str], template: str | None, message: str
) -> None:
    options = {"root": str(tmp_path), "htpasswd": "x", "shared_folders": folders}
    if template:
        options["user_root"] = template
    with pytest.raises(ConfigError) as refused:
        davconfig.load(None, options)
    assert refused.value.key == "shared_folders"
    assert message in str(refused.value)
