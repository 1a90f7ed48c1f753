"""Per-user, per-path permissions, enforced by every method (COPY/MOVE destinations
and LOCK included) with 403 and a clear message; listings show only what a user may see."""

from __future__ import annotations

from pathlib import Path

import pytest

from davserver.config.permission_rules import Access, parse_rules
from davserver.dav.permissions import Permissions
from tests.integration.lock_helpers import NS, Dav, lockinfo, xml

RULES = [
    {"path": "/", "users": ["*"], "access": "read"},
    {"path": "/alice", "users": ["alice"], "access": "write"},
    {"path": "/team", "users": ["alice", "bob"], "access": "write"},
    {"path": "/team/archive", "users": ["*"], "access": "read"},
    {"path": "/private", "users": ["*"], "access": "none"},
    {"path": "/private", "users": ["alice"], "access": "write"},
]


@pytest.fixture
def dav(tmp_path: Path, htpasswd_file: Path) -> Dav:
    dav = Dav(tmp_path / "share", htpasswd=str(htpasswd_file), permissions=RULES)
    for folder in ("alice", "team/archive", "private", "public"):
        (dav.root / folder).mkdir(parents=True)
    (dav.root / "public" / "readme.txt").write_bytes(b"hello")
    (dav.root / "team" / "archive" / "old.txt").write_bytes(b"old")
    (dav.root / "private" / "secret.txt").write_bytes(b"secret")
    return dav


def test_rules_resolve_most_specific_path_and_named_user_first() -> None:
    perms = Permissions(parse_rules(RULES))
    assert perms.access("bob", "/public/readme.txt") is Access.READ
    assert perms.access("alice", "/alice/x") is Access.WRITE
    assert perms.access("bob", "/alice/x") is Access.READ
    assert perms.access("bob", "/team/archive/old.txt") is Access.READ
    assert perms.access("bob", "/private/secret.txt") is Access.NONE
    assert perms.access("alice", "/private/secret.txt") is Access.WRITE
    assert perms.access(None, "/public") is Access.READ
    assert Permissions().access("anyone", "/x") is Access.WRITE


@pytest.mark.parametrize(
    "rule",
    [{"path": "relative", "access": "read"}, {"path": "/", "access": "all"}, {"path": "/", "x": 1}],
)
def test_bad_rules_are_config_errors(tmp_path: Path, rule: dict[str, object]) -> None:
    from davserver import config
    from davserver.errors import ConfigError

    with pytest.raises(ConfigError, match="permissions"):
        config.load(None, {"root": str(tmp_path), "permissions": [rule]})


def test_read_only_subtree_refuses_every_write(dav: Dav) -> None:
    for method, path, headers in [
        ("PUT", "/public/new.txt", {}),
        ("DELETE", "/public/readme.txt", {}),
        ("MKCOL", "/public/sub", {}),
        ("PROPPATCH", "/public/readme.txt", {}),
        ("MOVE", "/public/readme.txt", {"Destination": "/public/moved.txt"}),
    ]:
        response = dav.request(method, path, b"", headers, user="bob")
        assert response.status == 403, (method, response.text)
        assert "bob may not write" in response.text
    lock = dav.lock("/public/readme.txt", user="bob")
    assert lock.status == 403
    assert sorted(p.name for p in (dav.root / "public").iterdir()) == ["readme.txt"]


def test_copy_into_a_read_only_folder_is_refused_but_out_of_it_allowed(dav: Dav) -> None:
    into = dav.request(
        "COPY", "/team/archive/old.txt", headers={"Destination": "/public/old.txt"}, user="bob"
    )
    assert into.status == 403
    assert not (dav.root / "public" / "old.txt").exists()
    out = dav.request(
        "COPY", "/public/readme.txt", headers={"Destination": "/team/readme.txt"}, user="bob"
    )
    assert out.status == 201
    assert (dav.root / "team" / "readme.txt").read_bytes() == b"hello"


def test_depth_infinity_needs_the_level_below_too(dav: Dav) -> None:
    """/team is writable, /team/archive read-only: deleting or locking /team whole is not."""
    assert dav.request("DELETE", "/team/", user="bob").status == 403
    assert (dav.root / "team" / "archive" / "old.txt").exists()
    assert dav.lock("/team", user="bob").status == 403
    assert dav.lock("/team", user="bob", depth="0").status == 200
    move = dav.request("MOVE", "/team/", headers={"Destination": "/alice/team/"}, user="alice")
    assert move.status == 403


def test_confined_folder_is_invisible_and_unreachable(dav: Dav) -> None:
    assert dav.request("GET", "/private/secret.txt", user="bob").status == 403
    assert dav.request("PROPFIND", "/private/", headers={"Depth": "0"}, user="bob").status == 403
    listing = dav.request("PROPFIND", "/", headers={"Depth": "1"}, user="bob")
    hrefs = {h.text for h in xml(listing).iterfind(".//D:response/D:href", NS)}
    assert "/private/" not in hrefs and "/public/" in hrefs
    page = dav.request("GET", "/", headers={"Accept": "text/html"}, user="bob")
    assert "private" not in page.text and "public" in page.text
    alice = dav.request("PROPFIND", "/", headers={"Depth": "1"}, user="alice")
    assert "/private/" in {h.text for h in xml(alice).iterfind(".//D:response/D:href", NS)}
    assert dav.request("GET", "/private/secret.txt", user="alice").status == 200


def test_anonymous_rule(tmp_path: Path) -> None:
    rules = [{"path": "/", "users": ["anonymous"], "access": "read"}]
    dav = Dav(tmp_path / "share", permissions=rules)
    (dav.root / "f.txt").write_bytes(b"x")
    assert dav.request("GET", "/f.txt").status == 200
    assert dav.request("PUT", "/f.txt", b"y").status == 403
    assert (dav.root / "f.txt").read_bytes() == b"x"


def test_lock_owner_size_limit(tmp_path: Path) -> None:
    dav = Dav(tmp_path / "share", lock_owner_max_bytes=100)
    (dav.root / "f.txt").write_bytes(b"x")
    owner = "<D:owner>" + "o" * 200 + "</D:owner>"
    response = dav.request("LOCK", "/f.txt", lockinfo(owner=owner))
    assert response.status == 413
    assert "DAV:owner" in response.text
    assert dav.manager.store.all_locks(dav.clock()) == []


def test_shared_locks_per_resource_are_limited(tmp_path: Path) -> None:
    dav = Dav(tmp_path / "share", shared_locks_per_resource=3)
    (dav.root / "f.txt").write_bytes(b"x")
    for _ in range(3):
        assert dav.lock("/f.txt", scope="shared").status == 200
    refused = dav.lock("/f.txt", scope="shared")
    assert refused.status == 423
    assert "locks.shared_per_resource" in refused.text
    assert len(dav.manager.store.all_locks(dav.clock())) == 3


def test_a_423_stays_small_however_many_locks_block(tmp_path: Path) -> None:
    dav = Dav(tmp_path / "share")
    (dav.root / "d").mkdir()
    for i in range(60):
        (dav.root / "d" / f"f{i}.txt").write_bytes(b"x")
        assert dav.lock(f"/d/f{i}.txt", depth="0").status == 200
    refused = dav.request("DELETE", "/d/")
    assert refused.status == 423
    assert len(refused.body) < 20_000
    assert "40 more locks" in refused.text
    hrefs = xml(refused).findall("D:lock-token-submitted/D:href", NS)
    assert len(hrefs) == 20
    assert len(list((dav.root / "d").iterdir())) == 60
