"""What one If header may cost (RFC 4918 §10.4): beyond max_if_header_bytes, the
number of its conditions (if_header_max_conditions) and of the different resources
its tagged lists name (if_header_max_resources) are limited — 400 naming the key,
nothing changed — and evaluating it reads each resource's locks once, not once per
token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from davserver import config as davconfig
from davserver.errors import ConfigError
from tests.integration.lock_helpers import Dav


def untagged(count: int, scheme: str = "urn:uuid:") -> str:
    return " ".join(f"(<{scheme}{i:08d}-0000-4000-8000-000000000000>)" for i in range(count))


def tagged(count: int) -> str:
    return " ".join(f'</r{i}.txt> ([W/"x"])' for i in range(count))


def test_more_conditions_than_the_default_is_400_naming_the_key(tmp_path: Path) -> None:
    dav = Dav(tmp_path / "share")
    value = untagged(257)
    assert len(value) < 16384  # inside the byte limit
    refused = dav.put("/new.txt", b"data", headers={"If": value})
    assert refused.status == 400, refused.text
    assert "257 conditions" in refused.text
    assert "locks.if_header_max_conditions" in refused.text
    assert not (dav.root / "new.txt").exists()


def test_conditions_are_counted_over_all_lists(tmp_path: Path) -> None:
    dav = Dav(tmp_path / "share", if_header_max_conditions=3)
    (dav.root / "f.txt").write_bytes(b"x")
    headers = {"If": '(Not <DAV:no-lock> [W/"a"]) (Not [W/"b"] Not [W/"c"])'}
    refused = dav.put("/f.txt", b"new", headers=headers)
    assert refused.status == 400
    assert "locks.if_header_max_conditions" in refused.text
    assert (dav.root / "f.txt").read_bytes() == b"x"
    allowed = {"If": '(Not <DAV:no-lock>) (Not [W/"b"] Not [W/"c"])'}
    assert dav.put("/f.txt", b"new", headers=allowed).status == 204


def test_more_tagged_resources_than_allowed_is_400_naming_the_key(tmp_path: Path) -> None:
    dav = Dav(tmp_path / "share")
    refused = dav.put("/new.txt", b"data", headers={"If": tagged(65)})
    assert refused.status == 400, refused.text
    assert "65 different tagged resources" in refused.text
    assert "locks.if_header_max_resources" in refused.text
    assert not (dav.root / "new.txt").exists()
    # Lists of one tag count once: the limit is on lookups, not on lists.
    same = " ".join(['</new.txt> (Not [W/"x"])'] * 100)
    assert dav.put("/new.txt", b"data", headers={"If": same}).status == 201


def test_a_refresh_with_a_header_over_a_limit_is_400(tmp_path: Path) -> None:
    dav = Dav(tmp_path / "share", if_header_max_conditions=2)
    token = dav.locked("/f.txt")
    headers = {"If": f"(<{token}>) (<urn:x:1>) (<urn:x:2>)"}
    refused = dav.request("LOCK", "/f.txt", headers=headers)
    assert refused.status == 400
    assert "locks.if_header_max_conditions" in refused.text
    assert dav.request("LOCK", "/f.txt", headers={"If": f"(<{token}>)"}).status == 200


class CountingStore:
    """The lock store, counting the reads a request makes."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name in ("get", "find", "find_below"):
            self.reads += 1
        return attribute


def test_many_tokens_cost_one_store_read_not_one_each(tmp_path: Path) -> None:
    dav = Dav(tmp_path / "share")
    token = dav.locked("/f.txt")
    store = CountingStore(dav.manager.store)
    dav.manager.store = store
    headers = {"If": untagged(250)}
    refused = dav.put("/f.txt", b"new", headers=headers)
    assert refused.status == 412  # false: none of the tokens is the lock's
    assert store.reads <= 3, store.reads
    store.reads = 0
    refresh = {"If": untagged(250) + f" (<{token}>)"}
    assert dav.request("LOCK", "/f.txt", headers=refresh).status == 200
    assert store.reads <= 4, store.reads


def test_the_defaults(tmp_path: Path) -> None:
    config = davconfig.load(None, {"root": str(tmp_path)})
    assert config.locks.if_header_max_conditions == 256
    assert config.locks.if_header_max_resources == 64


@pytest.mark.parametrize("key", ["locks.if_header_max_conditions", "locks.if_header_max_resources"])
def test_a_bad_value_is_a_config_error(tmp_path: Path, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        davconfig.load(None, {"root": str(tmp_path), key: 0})
    assert davconfig.value_at(davconfig.load(None, {"root": str(tmp_path), key: 3}), key) == 3


def test_a_broken_lock_is_still_explained(tmp_path: Path) -> None:
    dav = Dav(tmp_path / "share")
    token = dav.locked("/f.txt")
    assert dav.manager.break_lock(token, "admin", "stuck") is not None
    store = CountingStore(dav.manager.store)
    dav.manager.store = store
    answer = dav.put("/f.txt", b"new", headers={"If": untagged(100, "a:") + f" (<{token}>)"})
    assert answer.status == 423, answer.text
    assert "stuck" in answer.text
    assert store.reads <= 3, store.reads  # not one per submitted token
