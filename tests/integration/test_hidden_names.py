"""One rule for hidden names: a nested state directory hides itself, never its parent."""

from __future__ import annotations

from pathlib import Path

import pytest

from davserver.fs.hidden import HiddenNames
from tests.integration.wsgi_client import WsgiClient, make_client

STATE = b"SQLite format 3\x00 the lock database"
PROPFIND_ALL = b'<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>'


@pytest.fixture
def nested(tmp_path: Path) -> tuple[WsgiClient, Path]:
    """A share whose state directory is ROOT/projects/.state."""
    root = tmp_path / "share"
    state = root / "projects" / ".state"
    state.mkdir(parents=True)
    (state / "locks.sqlite").write_bytes(STATE)
    (root / "projects" / "plan.txt").write_bytes(b"plan")
    return make_client(root, state_dir=str(state)), root


def test_the_folder_holding_the_state_directory_is_served(nested) -> None:
    client, root = nested
    listing = client.request("PROPFIND", "/", PROPFIND_ALL, {"Depth": "1"})
    assert listing.status == 207 and b"/projects/" in listing.body
    assert client.request("GET", "/projects/plan.txt").body == b"plan"
    assert client.request("PUT", "/projects/new.txt", b"new").status == 201
    assert (root / "projects" / "new.txt").read_bytes() == b"new"
    assert client.request("MKCOL", "/projects/sub").status == 201
    inside = client.request("PROPFIND", "/projects/", PROPFIND_ALL, {"Depth": "1"})
    assert inside.status == 207 and b"plan.txt" in inside.body
    assert b".state" not in inside.body and b"locks.sqlite" not in inside.body
    deep = client.request("PROPFIND", "/", PROPFIND_ALL, {"Depth": "infinity"})
    assert deep.status == 207 and b".state" not in deep.body and b"new.txt" in deep.body


@pytest.mark.parametrize(
    "path", ["/projects/.state", "/projects/.STATE/", "//projects/.state/locks.sqlite"]
)
@pytest.mark.parametrize("method", ["GET", "PROPFIND", "PUT", "DELETE", "MKCOL"])
def test_the_nested_state_directory_does_not_exist(nested, method: str, path: str) -> None:
    client, root = nested
    answer = client.request(method, path, b"x" if method == "PUT" else b"", {"Depth": "0"})
    assert answer.status in (403, 404), (method, path, answer.status)
    assert STATE not in answer.body
    assert sorted(p.name for p in (root / "projects" / ".state").iterdir()) == ["locks.sqlite"]


@pytest.mark.parametrize("method", ["COPY", "MOVE"])
@pytest.mark.parametrize("dest", ["/projects/.state", "/projects/.State/locks.sqlite"])
def test_the_nested_state_directory_is_no_destination(nested, method: str, dest: str) -> None:
    client, root = nested
    answer = client.request(
        method, "/projects/plan.txt", headers={"Destination": f"http://localhost{dest}"}
    )
    assert answer.status == 403, answer.status
    assert (root / "projects" / "plan.txt").read_bytes() == b"plan"
    assert (root / "projects" / ".state" / "locks.sqlite").read_bytes() == STATE


def test_the_folder_holding_it_can_be_copied_without_it(nested) -> None:
    client, root = nested
    answer = client.request("COPY", "/projects", headers={"Destination": "http://localhost/p2"})
    assert answer.status == 201
    assert sorted(p.name for p in (root / "p2").iterdir()) == ["plan.txt"]


def test_the_rule(tmp_path: Path) -> None:
    root = tmp_path / "share"
    (root / "a" / "b").mkdir(parents=True)
    rule = HiddenNames(str(root), str(root / "a" / "b"))
    assert [rule.is_hidden(p) for p in ("/", "/a", "/a/", "/a/c", "/a/bb")] == [False] * 5
    assert all(
        rule.is_hidden(p) for p in ("/a/b", "/A/B/", "/a/b/x", "/x/.davserver-upload-1-.tmp")
    )
    assert rule.is_state_name("/A", "B") and not rule.is_state_name("/", "a")
    outside = HiddenNames(str(root), str(tmp_path / "state"))
    assert not outside.is_hidden("/state") and not outside.is_hidden("/a")
    assert outside.is_hidden("/a/.Davserver-copy-12-.TMP/x")
