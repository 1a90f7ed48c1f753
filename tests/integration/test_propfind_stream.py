"""PROPFIND answers sent as they are rendered (RFC 4918 §9.1, §13), in-process.

What a user relies on: a long listing is the same document it always was —
every entry's ``DAV:response`` exactly as a Depth 0 PROPFIND of that entry gives
it, in name order — but it starts going out before the whole of it is rendered;
a member whose dead properties cannot be read (a property store error) is
listed with its live properties and why; the render cache stays bounded even within one
listing; the access log counts the bytes that went out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from davserver.dav.methods import propfind, propfind_props
from davserver.dav.methods.render_cache import RenderCache
from davserver.errors import StoreError, StoreUnavailable
from davserver.locking.model import Depth, Scope
from tests.integration.lock_helpers import Dav
from tests.integration.test_access_log import access  # noqa: F401 (fixture)
from tests.integration.test_propfind import OK, D, Server, body, named
from tests.support.access_records import AccessRecords

FILES = 600  # about 250 KB of answer: several pieces
Z = "{urn:example:z}"


@pytest.fixture
def server(tmp_path: Path) -> Server:
    server = Server(tmp_path / "share")
    docs = server.root / "docs"
    (docs / "sub folder").mkdir(parents=True)
    for i in range(FILES):
        (docs / f"f-{i:04d}.txt").write_bytes(b"x" * i)
    for i in range(0, FILES, 7):
        value = f'<ns0:tag xmlns:ns0="urn:example:z">value &amp; {i}</ns0:tag>'
        server.dav.props.set(f"/docs/f-{i:04d}.txt", Z + "tag", value)
    server.lock("/docs/sub folder", Depth.INFINITY)
    server.lock("/docs/f-0003.txt", scope=Scope.SHARED)
    return server


def streamed(server: Server, path: str, request_body: bytes, depth: str = "1") -> Any:
    answer = server.call(propfind.handle, "PROPFIND", path, request_body, Depth=depth)
    assert answer.status == 207
    assert not isinstance(answer.body, bytes), "a long listing is sent as it is rendered"
    assert answer.header("Content-Length") is None
    return etree.fromstring(b"".join(answer.body))


def canonical(element: Any) -> bytes:
    return etree.tostring(element, method="c14n")


QUERIES = {
    "allprop": b"",
    "propname": body("<D:propname/>"),
    "live": named("D:getetag", "D:getcontentlength", "D:lockdiscovery", "D:resourcetype"),
    "dead": named("D:displayname", "Z:tag", "Z:missing"),
}


@pytest.mark.parametrize("query", sorted(QUERIES))
def test_a_long_listing_is_streamed_and_is_each_entrys_depth_0_answer(
    server: Server, query: str
) -> None:
    tree = streamed(server, "/docs", QUERIES[query])
    responses = list(tree.iter(D + "response"))
    names = sorted(p.name for p in (server.root / "docs").iterdir())
    paths = ["/docs", *(f"/docs/{name}" for name in names)]  # the target, then by name
    assert len(responses) == len(paths) == FILES + 2
    for path, response in zip(paths, responses, strict=True):
        alone = server.propfind(path, QUERIES[query], depth="0").tree
        (expected,) = alone.iter(D + "response")
        assert canonical(response) == canonical(expected), path
    short = server.call(propfind.handle, "PROPFIND", "/docs/f-0001.txt", QUERIES[query], Depth="0")
    assert isinstance(short.body, bytes)  # one piece: sent whole, with its Content-Length


def test_a_member_the_store_fails_for_is_listed_with_why(server: Server) -> None:
    """A property store failure fails the dead properties, not the member: its live
    properties come as usual and the response says why no dead one is listed.  An
    unavailable store is not asked again for the members after it."""
    get_all = server.dav.props.get_all
    asked: list[str] = []

    def failing(path: str) -> dict[str, str]:
        asked.append(path)
        if path == "/docs/f-0500.txt":
            raise StoreError("cannot read the properties: disk I/O error")
        if path == "/docs/f-0501.txt":
            raise StoreUnavailable("the property store cannot be reached")
        return get_all(path)

    server.dav.props.get_all = failing  # type: ignore[method-assign]
    tree = streamed(server, "/docs", b"")
    by_href = {r.findtext(D + "href"): r for r in tree.iter(D + "response")}
    assert len(by_href) == FILES + 2
    for href, why in (("/docs/f-0500.txt", "disk I/O error"), ("/docs/f-0501.txt", "reached")):
        member = by_href[href]
        assert member.find(D + "status") is None
        assert member.findtext(f"{D}propstat/{D}status") == OK
        assert member.find(f"{D}propstat/{D}prop/{D}getetag") is not None
        assert why in member.findtext(D + "responsedescription")
    assert "/docs/f-0502.txt" not in asked  # the store is down: not waited for again
    fine = by_href["/docs/f-0499.txt"]
    assert fine.findtext(f"{D}propstat/{D}status") == OK
    assert fine.find(D + "responsedescription") is None


def test_the_render_cache_stays_bounded_within_one_listing(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = RenderCache(100, propfind_props.RENDERED_MAX_BYTES)
    monkeypatch.setattr(propfind_props, "_rendered", cache)
    query = named("D:getetag", "D:getcontentlength")
    first = canonical(streamed(server, "/docs", query))
    assert len(cache) <= 100
    assert canonical(streamed(server, "/docs", query)) == first


def test_the_render_cache_is_used_by_the_next_listing(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(propfind_props, "_rendered", RenderCache(100_000, 2**30))
    calls: list[str] = []
    render = propfind_props.Renderer._named

    def counting(self: Any, entry: Any, getters: Any) -> str:
        calls.append(entry.path)
        return render(self, entry, getters)

    monkeypatch.setattr(propfind_props.Renderer, "_named", counting)
    query = named("D:getetag", "D:getcontentlength")
    streamed(server, "/docs", query)
    assert len(calls) == FILES + 2
    calls.clear()
    streamed(server, "/docs", query)
    assert calls == ["/docs", "/docs/sub folder"]  # files came from the cache


def test_the_access_log_counts_what_a_streamed_answer_sent(
    tmp_path: Path,
    access: AccessRecords,  # noqa: F811
) -> None:
    dav = Dav(tmp_path / "share")
    for i in range(FILES):
        (dav.root / f"f-{i:04d}.txt").write_bytes(b"x")
    answer = dav.request("PROPFIND", "/", headers={"Depth": "1"})
    assert answer.status == 207
    assert answer.header("Content-Length") is None
    assert len(list(etree.fromstring(answer.body).iter(D + "response"))) == FILES + 1
    record = access.access[-1]
    assert record["method"] == "PROPFIND"
    assert record["bytes_out"] == len(answer.body)
