"""The PROPFIND render caches are bounded in bytes, not only in entries: long names
(and long lock owners) must not turn 20,000 entries into hundreds of MiB."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from davserver.dav.methods import propfind_props
from davserver.dav.methods.render_cache import ENTRY_OVERHEAD, RenderCache
from davserver.locking.model import Depth, LockRequest, Scope
from tests.integration.test_propfind import Server, named

LIVE = named(
    "D:resourcetype",
    "D:creationdate",
    "D:getcontentlength",
    "D:getcontenttype",
    "D:getlastmodified",
    "D:displayname",
    "D:getetag",
    "D:lockdiscovery",
)
FOLDER = "/" + "/".join(c * 200 for c in "abc")  # deep: every href carries 600 bytes


def test_long_names_fill_the_cache_up_to_its_bytes_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = Server(tmp_path / "share")
    folder = server.root / FOLDER.lstrip("/")
    folder.mkdir(parents=True)
    for i in range(300):
        (folder / (f"{i:04d}" + "&" * 240)).write_bytes(b"x")  # "&": 3 bytes in an href
    cache: RenderCache[object] = RenderCache(propfind_props.RENDERED_MAX, 2**20)
    monkeypatch.setattr(propfind_props, "_rendered", cache)
    first = server.propfind(FOLDER, LIVE).response.body
    assert 0 < len(cache) < 300  # 300 such entries are more than 1 MiB
    assert cache.bytes <= 2**20
    assert server.propfind(FOLDER, LIVE).response.body == first


def test_a_lock_listed_every_second_fills_its_cache_up_to_its_bytes_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = Server(tmp_path / "share")
    (server.root / "doc.txt").write_bytes(b"x")
    owner = "<D:owner xmlns:D='DAV:'>" + "o" * 4000 + "</D:owner>"
    request = LockRequest("/doc.txt", Scope.EXCLUSIVE, Depth.ZERO, owner, None, 600)
    server.dav.locks.acquire(request)
    cache: RenderCache[object] = RenderCache(propfind_props.RENDERED_MAX, 64 * 1024)
    monkeypatch.setattr(propfind_props, "_rendered_locks", cache)
    for _ in range(40):  # each second left is another key
        server.propfind("/doc.txt", named("D:lockdiscovery"), depth="0")
        server.clock.now += 1
    assert 0 < len(cache) < 40
    assert cache.bytes <= 64 * 1024


def test_the_cache_keeps_at_most_its_entries_and_bytes() -> None:
    cache: RenderCache[object] = RenderCache(max_entries=10, max_bytes=100_000)
    for i in range(25):
        cache.put("kind", i, f"value {i}")
    assert len(cache) <= 10
    assert cache.get("kind", 24) == "value 24"
    cache.clear()
    big, key_text = "x" * 30_000, "k" * 10_000
    for i in range(4):  # each costs about 40 KB: emptied before the third
        cache.put("big", i, big, key_text)
    assert cache.bytes <= 100_000
    assert len(cache) == 2
    assert cache.get("big", 3) == big
    assert cache.bytes == 2 * (ENTRY_OVERHEAD + sys.getsizeof(big) + sys.getsizeof(key_text))


def test_a_value_larger_than_the_whole_cache_is_not_kept() -> None:
    cache: RenderCache[object] = RenderCache(max_entries=10, max_bytes=1_000)
    cache.put("kind", 1, "small")
    cache.put("kind", 2, "x" * 5_000)
    assert cache.get("kind", 2) is None
    assert cache.get("kind", 1) == "small"  # and it did not empty the cache either
