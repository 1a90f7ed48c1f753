"""Depth-infinity LOCKs on collections (RFC 4918 §9.10.3 lets a server refuse them):
not on the root for anyone but an administrator (lock_infinity_min_depth), not on a
collection with more members than lock_infinity_max_entries.  Refused with 403 and a
message naming the key and what to do; nothing is locked; Depth 0 is unaffected."""

from __future__ import annotations

from pathlib import Path

import pytest

from davserver import config as davconfig
from davserver.dav.lock_policy import InfinityPolicy
from davserver.errors import ConfigError
from tests.integration.lock_helpers import Dav, token_of


@pytest.fixture
def dav(tmp_path: Path, htpasswd_file: Path) -> Dav:
    dav = Dav(tmp_path / "share", htpasswd=str(htpasswd_file), admins=["alice"])
    (dav.root / "team").mkdir()
    (dav.root / "team" / "doc.txt").write_bytes(b"x")
    return dav


def active(dav: Dav) -> list[object]:
    return list(dav.manager.store.all_locks(dav.clock()))


def test_a_user_cannot_lock_the_whole_share(dav: Dav) -> None:
    refused = dav.lock("/", user="bob", depth="infinity")
    assert refused.status == 403, refused.text
    assert refused.header("Lock-Token") is None
    assert "locks.infinity_min_depth" in refused.text
    assert "Depth: 0" in refused.text
    assert active(dav) == []
    # Bob's writes anywhere are still his to make.
    assert dav.put("/team/doc.txt", b"new", user="bob").status == 204


def test_no_depth_header_means_infinity_and_is_refused_on_the_root(dav: Dav) -> None:
    assert dav.lock("/", user="bob").status == 403


def test_anonymous_clients_are_never_administrators(tmp_path: Path) -> None:
    dav = Dav(tmp_path / "share")
    assert dav.lock("/", depth="infinity").status == 403
    (dav.root / "litmus").mkdir()
    assert dav.lock("/litmus/", depth="infinity").status == 200  # what litmus does


def test_an_administrator_may_lock_the_whole_share(dav: Dav) -> None:
    assert dav.lock("/", user="bob", depth="infinity").status == 403
    granted = dav.lock("/", user="alice", depth="infinity")
    assert granted.status == 200, granted.text
    assert token_of(granted)


def test_depth_0_on_the_root_is_unaffected(dav: Dav) -> None:
    assert dav.lock("/", user="bob", depth="infinity").status == 403
    assert dav.lock("/", user="bob", depth="0").status == 200


def test_folders_below_the_root_may_be_locked_by_anyone(dav: Dav) -> None:
    assert dav.lock("/", user="bob", depth="infinity").status == 403
    assert dav.lock("/team/", user="bob", depth="infinity").status == 200
    assert dav.lock("/team/doc.txt", user="bob", depth="infinity").status == 423


def test_min_depth_0_allows_the_root(tmp_path: Path) -> None:
    dav = Dav(tmp_path / "share", lock_infinity_min_depth=0)
    assert dav.lock("/", depth="infinity").status == 200


def test_min_depth_2_keeps_top_folders_for_administrators(tmp_path: Path) -> None:
    deeper = Dav(tmp_path / "other", lock_infinity_min_depth=2)
    (deeper.root / "a" / "b").mkdir(parents=True)
    assert deeper.lock("/a/", depth="infinity").status == 403
    assert deeper.lock("/a/b/", depth="infinity").status == 200


def big_tree(dav: Dav, files: int) -> None:
    (dav.root / "big" / "sub").mkdir(parents=True)
    for i in range(files):
        (dav.root / "big" / "sub" / f"f{i}.txt").write_bytes(b"")


def test_a_collection_with_too_many_members_is_refused(tmp_path: Path) -> None:
    dav = Dav(tmp_path / "share", lock_infinity_max_entries=5)
    big_tree(dav, 5)  # six members: sub and its five files
    refused = dav.lock("/big/", depth="infinity")
    assert refused.status == 403, refused.text
    assert "more than 5 members" in refused.text
    assert "locks.infinity_max_entries" in refused.text
    assert active(dav) == []
    assert sorted(p.name for p in (dav.root / "big").rglob("*")) == sorted(
        ["sub", *(f"f{i}.txt" for i in range(5))]
    )  # nothing created
    assert dav.lock("/big/", depth="0").status == 200
    assert dav.lock("/big/sub/", depth="infinity").status == 200  # five members: allowed


def test_at_the_limit_is_allowed(tmp_path: Path) -> None:
    dav = Dav(tmp_path / "share", lock_infinity_max_entries=6)
    big_tree(dav, 5)
    assert dav.lock("/big/", depth="infinity").status == 200


def test_zero_allows_only_empty_collections(tmp_path: Path) -> None:
    dav = Dav(tmp_path / "share", lock_infinity_max_entries=0)
    (dav.root / "empty").mkdir()
    big_tree(dav, 1)
    assert dav.lock("/empty/", depth="infinity").status == 200
    assert dav.lock("/big/", depth="infinity").status == 403


def test_null_is_no_limit(tmp_path: Path) -> None:
    file = tmp_path / "davserver.yaml"
    file.write_text("lock_infinity_max_entries: null\n")
    config = davconfig.load(str(file), {"root": str(tmp_path)})
    assert config.locks.infinity_max_entries is None
    dav = Dav(tmp_path / "share")
    dav.app.dav.infinity = InfinityPolicy(max_entries=config.locks.infinity_max_entries)
    big_tree(dav, 20)
    assert dav.lock("/big/", depth="infinity").status == 200


def test_the_defaults(tmp_path: Path) -> None:
    config = davconfig.load(None, {"root": str(tmp_path)})
    assert config.locks.infinity_max_entries == 10_000
    assert config.locks.infinity_min_depth == 1


@pytest.mark.parametrize(
    ("key", "value"),
    [("locks.infinity_max_entries", -1), ("locks.infinity_min_depth", -1)],
)
def test_a_bad_value_is_a_config_error(tmp_path: Path, key: str, value: int) -> None:
    with pytest.raises(ConfigError, match=key):
        davconfig.load(None, {"root": str(tmp_path), key: value})
    assert davconfig.value_at(davconfig.load(None, {"root": str(tmp_path), key: 3}), key) == 3
