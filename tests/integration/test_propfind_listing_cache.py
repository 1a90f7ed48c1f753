"""PROPFIND Depth 1 of a folder whose members' responses are cached: each member's
``DAV:response`` is the one Depth 0 on it gives, whether it was rendered or found
in the cache, and a cached listing takes its members' locks from the lock index
at once, not member by member."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote

import pytest

from davserver.dav.methods import propfind, propfind_props
from davserver.dav.methods.propfind_render import XML_INVALID
from davserver.dav.methods.render_cache import RenderCache
from davserver.fs.share import Entry
from davserver.locking.model import Depth, Lock, Scope
from tests.integration.test_propfind import Server, named
from tests.integration.test_user_roots import Homes

LIVE = named(
    "D:resourcetype",
    "D:getcontentlength",
    "D:getlastmodified",
    "D:displayname",
    "D:getetag",
    "D:lockdiscovery",
)
RESPONSE_HREF = re.compile(r"<D:href>([^<]*)</D:href>")
RESPONSE = re.compile(r"<D:response><D:href>([^<]*)</D:href>.*?</D:response>")


def responses(server: Server, path: str, depth: str) -> dict[str, str]:
    body = server.propfind(path, LIVE, depth=depth).response.body
    assert isinstance(body, bytes)
    text = body.decode()
    return {m.group(1): m.group(0) for m in RESPONSE.finditer(text)}


def members_as_depth_0(server: Server, folder: str) -> None:
    listed = responses(server, folder, "1")
    assert len(listed) == len(list((server.root / folder.strip("/")).iterdir())) + 1
    for href, xml in listed.items():
        if href != folder:
            assert responses(server, unquote(href), "0") == {href: xml}


@pytest.fixture
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    cache: RenderCache[str] = RenderCache(
        propfind_props.RENDERED_MAX, propfind_props.RENDERED_MAX_BYTES
    )
    monkeypatch.setattr(propfind_props, "_rendered", cache)
    locks: RenderCache[object] = RenderCache(
        propfind_props.RENDERED_MAX, propfind_props.RENDERED_LOCKS_MAX_BYTES
    )
    monkeypatch.setattr(propfind_props, "_rendered_locks", locks)


@pytest.mark.usefixtures("fresh_cache")
def test_each_member_answers_as_depth_0_rendered_or_cached(tmp_path: Path) -> None:
    server = Server(tmp_path / "share")
    folder = server.root / "pf"
    (folder / "sub").mkdir(parents=True)
    for i in range(12):
        (folder / f"f{i:02d}.txt").write_bytes(b"x" * i)
    (folder / "a&b <c>.txt").write_bytes(b"escaped")
    server.lock("/pf/f01.txt", scope=Scope.SHARED)
    server.lock("/pf/f01.txt", scope=Scope.SHARED)  # two locks: sorted as Depth 0 has them
    server.lock("/pf/f02.txt", scope=Scope.SHARED)
    server.lock("/pf/sub", Depth.INFINITY, Scope.SHARED)
    members_as_depth_0(server, "/pf/")  # rendered
    members_as_depth_0(server, "/pf/")  # cached
    (folder / "f03.txt").write_bytes(b"changed")  # another size: another key
    members_as_depth_0(server, "/pf/")
    folder_lock = server.lock("/pf", Depth.INFINITY, Scope.SHARED)  # inherited by every member
    members_as_depth_0(server, "/pf/")
    assert "f05.txt" in responses(server, "/pf/", "1")["/pf/f05.txt"]
    assert folder_lock.token in responses(server, "/pf/", "1")["/pf/f05.txt"]
    server.dav.locks.release(folder_lock.token, "/pf", None)
    listed = responses(server, "/pf/", "1")
    assert folder_lock.token not in listed["/pf/f05.txt"]
    assert "<D:lockdiscovery/>" in listed["/pf/f05.txt"]
    members_as_depth_0(server, "/pf/")


@pytest.mark.usefixtures("fresh_cache")
def test_a_cached_listing_asks_the_lock_index_about_no_member_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = Server(tmp_path / "share")
    folder = server.root / "pf"
    folder.mkdir()
    for i in range(20):
        (folder / f"f{i:02d}.txt").write_bytes(b"x")
    server.lock("/pf/f01.txt")
    server.lock("/pf/f07.txt")
    asked: list[str] = []
    of = propfind.LockIndex.of

    def counted(self: propfind.LockIndex, entry: Entry) -> Sequence[Lock]:
        asked.append(entry.path)
        return of(self, entry)

    monkeypatch.setattr(propfind.LockIndex, "of", counted)
    first = server.propfind("/pf/", LIVE).response.body
    asked.clear()
    assert server.propfind("/pf/", LIVE).response.body == first
    assert asked == ["/pf"]  # the folder itself; its members' locks came at once


@pytest.mark.usefixtures("fresh_cache")
def test_lock_discovery_is_cached_without_hashing_locks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Lock's hash (eighteen fields, enums hashed in Python) cost more than its
    text: the rendered-lock cache is keyed by what the text is made of."""
    server = Server(tmp_path / "share")
    (server.root / "doc.txt").write_bytes(b"x")
    lock = server.lock("/doc.txt")
    first = responses(server, "/doc.txt", "0")

    def refused(self: Lock) -> int:
        raise AssertionError("a Lock was hashed")

    monkeypatch.setattr(Lock, "__hash__", refused)
    assert responses(server, "/doc.txt", "0") == first
    assert lock.token in first["/doc.txt"]
    server.clock.now += 1  # a second less: another key, and the text says so
    again = responses(server, "/doc.txt", "0")["/doc.txt"]
    assert "Second-599" in again and "Second-600" in first["/doc.txt"]


@pytest.mark.usefixtures("fresh_cache")
def test_a_kept_lock_text_is_per_mount_and_makes_no_href(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = Server(tmp_path / "share")
    (server.root / "doc.txt").write_bytes(b"x")
    lock = server.lock("/doc.txt")
    body = named("D:lockdiscovery")
    first = server.propfind("/doc.txt", body, depth="0", mount="/a").response.body
    assert b"<D:lockroot><D:href>/a/doc.txt</D:href>" in first
    made: list[str] = []
    lock_href = type(server.dav).lock_href

    def counted(self: object, request: object, lock: Lock) -> str:
        made.append(lock.token)
        return lock_href(self, request, lock)  # type: ignore[arg-type]

    monkeypatch.setattr(type(server.dav), "lock_href", counted)
    assert server.propfind("/doc.txt", body, depth="0", mount="/a").response.body == first
    assert made == []  # kept: neither rendered nor its href made again
    other = server.propfind("/doc.txt", body, depth="0", mount="/b").response.body
    assert b"<D:lockroot><D:href>/b/doc.txt</D:href>" in other
    assert made == [lock.token]


def test_a_kept_response_is_per_user_view(tmp_path: Path) -> None:
    """Home folders: one file has an href in its user's view and another in an
    administrator's; a response kept for one is not the other's."""
    homes = Homes(tmp_path)
    assert homes.request("MKCOL", "/docs/").status == 201
    assert homes.request("PUT", "/docs/a.txt", b"x").status == 201
    headers = {"Depth": "1", "Content-Type": "application/xml"}

    def hrefs(path: str, user: str) -> list[str]:
        answer = homes.request("PROPFIND", path, LIVE, headers, user=user)
        assert answer.status == 207, answer.text
        return sorted(RESPONSE_HREF.findall(answer.text))

    for _ in range(2):
        assert hrefs("/docs/", "alice") == ["/docs/", "/docs/a.txt"]
        assert hrefs("/users/alice/docs/", "root") == [
            "/users/alice/docs/",
            "/users/alice/docs/a.txt",
        ]


@pytest.mark.usefixtures("fresh_cache")
def test_a_second_later_a_locked_file_is_not_rendered_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a lock's timeout changes from one second to the next: the rest of
    the response is kept, lock discovery goes in between."""
    server = Server(tmp_path / "share")
    folder = server.root / "pf"
    folder.mkdir()
    for i in range(5):
        (folder / f"f{i}.txt").write_bytes(b"x")
    server.lock("/pf/f1.txt")
    first = responses(server, "/pf/", "1")
    rendered: list[str] = []
    named_ = propfind_props.Renderer._named

    def counted(self: propfind_props.Renderer, entry: Entry, getters: object) -> str:
        rendered.append(entry.path)
        return named_(self, entry, getters)  # type: ignore[arg-type]

    monkeypatch.setattr(propfind_props.Renderer, "_named", counted)
    server.clock.now += 1
    later = responses(server, "/pf/", "1")
    assert rendered == ["/pf"]  # the folder: folders are not kept
    assert later["/pf/f1.txt"] == first["/pf/f1.txt"].replace("Second-600", "Second-599")
    assert later["/pf/f2.txt"] == first["/pf/f2.txt"]
    members_as_depth_0(server, "/pf/")


def test_names_that_are_printable_are_xml_text() -> None:
    """The listing tests ``str.isprintable`` before XML_INVALID: no character
    XML cannot carry may be printable."""
    invalid = [chr(c) for c in range(0x110000) if XML_INVALID.match(chr(c))]
    assert len(invalid) > 2000  # controls, surrogates, U+FFFE and U+FFFF
    assert not any(c.isprintable() for c in invalid)
