"""PROPFIND (RFC 4918 §9.1) answered by the method handler, in-process.

The tests call :func:`davserver.dav.methods.propfind.handle` with a parsed
:class:`Request` and read the 207 the way a client does: parse it with lxml and
look at hrefs, statuses and property values.  Refusals are the exceptions the
dispatcher renders (404, 400, 403 propfind-finite-depth, 412).
"""

from __future__ import annotations

import contextlib
import email.utils
import io
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from davserver.dav.methods import propfind
from davserver.dav.methods.base import Dav
from davserver.dav.request import Request
from davserver.dav.response import Response
from davserver.errors import Forbidden, NotFound, PreconditionFailed, RequestError
from davserver.fs.share import Share
from davserver.http.adapter import build_request
from davserver.locking.manager import LockManager
from davserver.locking.model import Depth, Lock, LockRequest, Scope
from davserver.lockstore.memory import MemoryLockStore, MemoryPropertyStore

D = "{DAV:}"
OK = "HTTP/1.1 200 OK"
NOT_FOUND = "HTTP/1.1 404 Not Found"
XML_TYPE = 'application/xml; charset="utf-8"'
OWNER = '<D:owner xmlns:D="DAV:"><D:href>mailto:zoe@example.org</D:href></D:owner>'


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def environ(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    """A minimal WSGI environ, as the HTTP layer hands it to the dispatcher."""
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "HTTP_HOST": "localhost",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)),
        **extra,
    }
    for name, value in (headers or {}).items():
        env["HTTP_" + name.upper().replace("-", "_")] = value
    return env


@dataclass
class Multistatus:
    """A parsed 207: href -> property name -> (status, element)."""

    response: Response
    tree: Any

    @property
    def hrefs(self) -> list[str]:
        return [r.findtext(D + "href") for r in self.tree.iter(D + "response")]

    def props(self, href: str) -> dict[str, tuple[str, Any]]:
        found: dict[str, tuple[str, Any]] = {}
        for response in self.tree.iter(D + "response"):
            if response.findtext(D + "href") != href:
                continue
            for stat in response.iter(D + "propstat"):
                status = stat.findtext(D + "status")
                for prop in stat.find(D + "prop"):
                    assert prop.tag not in found, f"{prop.tag} listed twice for {href}"
                    found[prop.tag] = (status, prop)
            return found
        raise AssertionError(f"{href} not in {self.hrefs}")

    def value(self, href: str, name: str) -> Any:
        status, element = self.props(href)[name]
        assert status == OK, (name, status)
        return element

    def tokens(self, href: str) -> set[str]:
        discovery = self.value(href, D + "lockdiscovery")
        return {e.findtext(D + "locktoken/" + D + "href") for e in discovery.iter(D + "activelock")}


class Server:
    """The share, lock manager and property store a handler works with."""

    def __init__(self, root: Path):
        root.mkdir(parents=True, exist_ok=True)
        (root / ".davserver").mkdir(exist_ok=True)
        self.root = root
        self.clock = Clock()
        self.dav = Dav(
            share=Share(root, state_dir=root / ".davserver"),
            locks=LockManager(MemoryLockStore(), self.clock),
            props=MemoryPropertyStore(),
        )

    def call(
        self,
        handler: Callable[[Request, Dav], Response],
        method: str,
        path: str,
        body: bytes = b"",
        **headers: str,
    ) -> Response:
        mount = headers.pop("mount", "")
        env = environ(method, path, body, {k.replace("_", "-"): v for k, v in headers.items()})
        env["SCRIPT_NAME"] = mount
        request = build_request(env)
        request.check()
        return handler(request, self.dav)

    def propfind(
        self, path: str, body: bytes = b"", depth: str | None = "1", **headers: str
    ) -> Multistatus:
        if depth is not None:
            headers["Depth"] = depth
        answer = self.call(propfind.handle, "PROPFIND", path, body, **headers)
        assert answer.status == 207
        assert answer.header("Content-Type") == XML_TYPE
        if not isinstance(answer.body, bytes):  # a long answer is sent as it is rendered
            answer.body = b"".join(answer.body)
        return Multistatus(answer, etree.fromstring(answer.body))

    def lock(self, path: str, depth: Depth = Depth.ZERO, scope: Scope = Scope.EXCLUSIVE) -> Lock:
        collection = (self.root / path.lstrip("/")).is_dir()
        request = LockRequest(path, scope, depth, OWNER, None, 600, collection=collection)
        return self.dav.locks.acquire(request)


def body(inner: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<D:propfind xmlns:D="DAV:" xmlns:Z="urn:example:z">{inner}</D:propfind>'
    ).encode()


def named(*names: str) -> bytes:
    return body("<D:prop>" + "".join(f"<{n}/>" for n in names) + "</D:prop>")


@pytest.fixture
def server(tmp_path: Path) -> Server:
    server = Server(tmp_path / "share")
    docs = server.root / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.txt").write_bytes(b"hello")
    (docs / "b.bin").write_bytes(b"\x00" * 10)
    (docs / "sub" / "deep.txt").write_bytes(b"x")
    return server


# --- values of live properties (§15) -----------------------------------------------------


def test_file_live_properties(server: Server) -> None:
    entry = server.dav.share.lookup("/docs/a.txt")
    assert entry is not None
    answer = server.propfind("/docs/a.txt", depth="0")
    assert answer.hrefs == ["/docs/a.txt"]
    props = answer.props("/docs/a.txt")
    assert {status for status, _ in props.values()} == {OK}
    assert len(props[D + "resourcetype"][1]) == 0
    assert props[D + "getcontentlength"][1].text == "5"
    assert props[D + "getcontenttype"][1].text == "text/plain"
    assert props[D + "getetag"][1].text == entry.etag  # quoted, as GET's ETag header
    assert props[D + "getetag"][1].text.startswith('"')
    modified = email.utils.parsedate_to_datetime(props[D + "getlastmodified"][1].text)
    assert int(modified.timestamp()) == entry.mtime
    assert props[D + "getlastmodified"][1].text.endswith(" GMT")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", props[D + "creationdate"][1].text)
    assert props[D + "displayname"][1].text == "a.txt"
    scopes = {e[0].tag for e in props[D + "supportedlock"][1].iter(D + "lockscope")}
    assert scopes == {D + "exclusive", D + "shared"}
    assert len(props[D + "lockdiscovery"][1]) == 0


def test_collection_live_properties_and_root_displayname(server: Server) -> None:
    answer = server.propfind("/", depth="0")
    assert answer.hrefs == ["/"]
    props = answer.props("/")
    assert props[D + "resourcetype"][1][0].tag == D + "collection"
    assert props[D + "displayname"][1].text is None  # the root has no name
    for name in ("getcontentlength", "getcontenttype", "getetag"):
        assert D + name not in props  # allprop lists what a collection has


def test_unknown_content_type_is_octet_stream(server: Server) -> None:
    (server.root / "docs" / "data:x").write_bytes(b"")
    answer = server.propfind("/docs/data:x", named("D:getcontenttype"), depth="0")
    assert answer.value("/docs/data%3Ax", D + "getcontenttype").text == "application/octet-stream"


# --- Depth (§9.1, §10.2) ----------------------------------------------------------------------


def test_depth_one_lists_members_in_name_order_with_collection_slashes(server: Server) -> None:
    (server.root / "docs" / ".davserver-upload-x.tmp").write_bytes(b"")  # an upload on its way
    os.symlink(server.root / "docs" / "a.txt", server.root / "docs" / "link")
    answer = server.propfind("/docs")
    assert answer.hrefs == ["/docs/", "/docs/a.txt", "/docs/b.bin", "/docs/sub/"]


def test_depth_zero_and_depth_one_on_a_file(server: Server) -> None:
    assert server.propfind("/docs/", depth="0").hrefs == ["/docs/"]
    assert server.propfind("/docs/a.txt", depth="1").hrefs == ["/docs/a.txt"]


def test_no_depth_means_infinity(server: Server) -> None:
    expected = ["/docs/", "/docs/a.txt", "/docs/b.bin", "/docs/sub/", "/docs/sub/deep.txt"]
    assert server.propfind("/docs/", depth=None).hrefs == expected
    assert server.propfind("/docs/", depth="infinity").hrefs == expected


def test_the_state_directory_is_neither_listed_nor_found(server: Server) -> None:
    assert "/.davserver/" not in server.propfind("/").hrefs
    with pytest.raises(NotFound):
        server.propfind("/.davserver/", depth="0")


LEVELS = 1100


@pytest.fixture
def deep_server(tmp_path: Path) -> Iterator[Server]:
    """A share holding /d/d/.../d/f, 1,100 levels deep (one letter per level keeps
    the path under PATH_MAX).  Removed bottom-up afterwards: shutil.rmtree, and
    so pytest's clean-up of old temporary directories, recurses per level."""
    server = Server(tmp_path / "s")
    root = str(server.root)
    fd = os.open(root, os.O_RDONLY)
    for _ in range(LEVELS):
        os.mkdir("d", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(os.open("f", os.O_CREAT | os.O_WRONLY, dir_fd=fd))
    os.close(fd)
    yield server
    with contextlib.suppress(FileNotFoundError):
        os.unlink(root + "/d" * LEVELS + "/f")
    for level in range(LEVELS, 0, -1):
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(root + "/d" * level)


def test_depth_infinity_over_a_tree_1100_levels_deep(deep_server: Server) -> None:
    top = deep_server.lock("/d", Depth.INFINITY)
    request_body = named("D:lockdiscovery", "D:getcontentlength")
    answer = deep_server.propfind("/", request_body, depth="infinity")
    deepest = "/d" * LEVELS
    assert len(answer.hrefs) == LEVELS + 2  # the root, every level and the file
    assert answer.hrefs[-1] == deepest + "/f"
    assert answer.tokens(deepest + "/f") == {top.token}  # inherited all the way down
    assert answer.value(deepest + "/f", D + "getcontentlength").text == "0"


def test_depth_infinity_beyond_the_limit_is_refused_before_rendering(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server.dav.limits, "propfind_infinity_max", 5)
    assert len(server.propfind("/docs/", depth="infinity").hrefs) == 5  # exactly the limit
    (server.root / "docs" / "c.txt").write_bytes(b"")
    with pytest.raises(Forbidden) as refused:
        server.propfind("/docs/", depth=None)
    assert refused.value.condition == "propfind-finite-depth"
    assert len(server.propfind("/docs/", depth="1").hrefs) == 5  # Depth 1 still answers


# --- bodies (§9.1, §14.20) -------------------------------------------------------------------


def test_named_properties_with_404_for_those_missing(server: Server) -> None:
    answer = server.propfind(
        "/docs/", named("D:displayname", "D:getcontentlength", "D:nosuch", "Z:missing", "D:getetag")
    )
    folder = answer.props("/docs/")
    assert folder[D + "displayname"][0] == OK
    for name in (D + "getcontentlength", D + "nosuch", "{urn:example:z}missing", D + "getetag"):
        status, element = folder[name]
        assert status == NOT_FOUND
        assert len(element) == 0 and not element.text
    file = answer.props("/docs/a.txt")
    assert file[D + "getcontentlength"][0] == OK
    assert file["{urn:example:z}missing"][0] == NOT_FOUND
    assert len(file) == 5


def test_named_property_without_namespace(server: Server) -> None:
    answer = server.propfind("/docs/a.txt", body('<D:prop><plain xmlns=""/></D:prop>'), depth="0")
    assert answer.props("/docs/a.txt")["plain"][0] == NOT_FOUND


def test_propname_lists_names_only_live_and_dead(server: Server) -> None:
    server.dav.props.set(
        "/docs/a.txt", "{urn:example:z}colour", '<Z:colour xmlns:Z="urn:example:z">blue</Z:colour>'
    )
    answer = server.propfind("/docs/", body("<D:propname/>"))
    file = answer.props("/docs/a.txt")
    assert {status for status, _ in file.values()} == {OK}
    assert all(len(element) == 0 and element.text is None for _, element in file.values())
    assert {D + "getetag", D + "getcontentlength", D + "lockdiscovery"} <= file.keys()
    assert "{urn:example:z}colour" in file
    folder = answer.props("/docs/")
    assert D + "getetag" not in folder
    assert {D + "quota-available-bytes", D + "quota-used-bytes"} <= folder.keys()


def test_allprop_has_dead_properties_but_no_quota(server: Server) -> None:
    server.dav.props.set(
        "/docs", "{urn:example:z}note", '<Z:note xmlns:Z="urn:example:z">n</Z:note>'
    )
    for request_body in (b"", body("<D:allprop/>")):
        folder = server.propfind("/docs/", request_body, depth="0").props("/docs/")
        assert folder["{urn:example:z}note"][1].text == "n"
        assert D + "quota-used-bytes" not in folder
        assert D + "lockdiscovery" in folder


def test_allprop_with_include(server: Server) -> None:
    request_body = body(
        "<D:allprop/><D:include><D:quota-used-bytes/><D:displayname/><Z:nothing/></D:include>"
    )
    answer = server.propfind("/docs/", request_body)
    folder = answer.props("/docs/")
    assert int(folder[D + "quota-used-bytes"][1].text) >= 6  # a.txt and b.bin at least
    assert folder[D + "displayname"][0] == OK  # once, although allprop has it too
    assert folder["{urn:example:z}nothing"][0] == NOT_FOUND
    assert answer.props("/docs/a.txt")[D + "quota-used-bytes"][0] == NOT_FOUND  # files have none


def test_damaged_stored_values_never_break_the_answer(server: Server) -> None:
    z = "{urn:example:z}"
    server.dav.props.set("/docs/a.txt", z + "broken", "not <xml")
    server.dav.props.set("/docs/a.txt", z + "control", "bad\x01value")
    declared = '<?xml version="1.0" encoding="utf-8"?><Z:old xmlns:Z="urn:example:z">d</Z:old>'
    server.dav.props.set("/docs/a.txt", z + "old", declared)
    owner = "plain <owner"  # stored before owners were validated
    request = LockRequest("/docs/b.bin", Scope.EXCLUSIVE, Depth.ZERO, owner, None, 600)
    server.dav.locks.acquire(request)
    answer = server.propfind("/docs/")  # parses: nothing above made it malformed
    props = answer.props("/docs/a.txt")
    assert props[z + "broken"][1].text == "not <xml"
    assert props[z + "control"][1].text == "bad\ufffdvalue"
    assert props[z + "old"][1].text == "d"
    discovery = answer.value("/docs/b.bin", D + "lockdiscovery")
    assert discovery.findtext(f"{D}activelock/{D}owner") == owner


def test_names_in_unusual_namespaces(server: Server) -> None:
    request_body = (
        b'<D:propfind xmlns:D="DAV:" xmlns:Q="urn:example:q&amp;more">'
        b'<D:prop><Q:x/><D:displayname xml:lang="en"/><xml:lang/></D:prop></D:propfind>'
    )
    props = server.propfind("/docs/", request_body, depth="0").props("/docs/")
    assert props["{urn:example:q&more}x"][0] == NOT_FOUND
    assert props["{http://www.w3.org/XML/1998/namespace}lang"][0] == NOT_FOUND
    assert props[D + "displayname"][0] == OK


def test_quota_properties_of_a_collection(server: Server) -> None:
    folder = server.propfind(
        "/docs/", named("D:quota-available-bytes", "D:quota-used-bytes"), depth="0"
    )
    assert int(folder.value("/docs/", D + "quota-available-bytes").text) > 0
    assert int(folder.value("/docs/", D + "quota-used-bytes").text) == 16


@pytest.mark.parametrize(
    "request_body",
    [
        b'<D:lockinfo xmlns:D="DAV:"/>',
        body("<D:allprop/><D:prop><D:getetag/></D:prop>"),
        body("<D:prop/>"),
        body("<D:prop><!-- nothing --></D:prop>"),
        body(""),
        body("<D:prop><D:getetag/></D:prop><D:include><D:displayname/></D:include>"),
        body("<D:propname/><D:allprop/>"),
        b"<D:propfind xmlns:D='DAV:'><D:allprop></D:propfind>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "e">]><D:propfind xmlns:D="DAV:"/>',
    ],
)
def test_bad_bodies_are_400(server: Server, request_body: bytes) -> None:
    with pytest.raises(RequestError):
        server.propfind("/docs/", request_body)


def test_unknown_elements_are_ignored(server: Server) -> None:
    request_body = body("<Z:hint/><D:prop><D:displayname/></D:prop>")
    assert (
        server.propfind("/docs/", request_body, depth="0").value("/docs/", D + "displayname").text
        == "docs"
    )


def test_missing_target_is_404(server: Server) -> None:
    with pytest.raises(NotFound):
        server.propfind("/docs/nothing.txt", depth="0")


# --- hrefs ------------------------------------------------------------------------------------


def test_hrefs_are_percent_encoded_below_the_mount(server: Server) -> None:
    (server.root / "docs" / "x&y <z>.txt").write_bytes(b"")
    (server.root / "docs" / "Zoë").mkdir()
    answer = server.propfind("/docs/", named("D:displayname"), mount="/dav")
    assert "/dav/docs/x%26y%20%3Cz%3E.txt" in answer.hrefs
    assert "/dav/docs/Zo%C3%AB/" in answer.hrefs
    assert answer.value("/dav/docs/x%26y%20%3Cz%3E.txt", D + "displayname").text == "x&y <z>.txt"


def test_names_xml_cannot_carry_are_left_out_of_listings(server: Server) -> None:
    docs = os.fsencode(server.root / "docs")
    os.close(os.open(docs + b"/ctl\x01.txt", os.O_CREAT | os.O_WRONLY))
    os.mkdir(docs + b"/bad\xff")  # not UTF-8: a lone surrogate in Python
    os.close(os.open(docs + b"/bad\xff/inner.txt", os.O_CREAT | os.O_WRONLY))
    listed = server.propfind("/docs/", depth="infinity").hrefs
    assert listed == ["/docs/", "/docs/a.txt", "/docs/b.bin", "/docs/sub/", "/docs/sub/deep.txt"]


def test_a_target_xml_cannot_name_is_still_answered(server: Server) -> None:
    docs = os.fsencode(server.root / "docs")
    os.close(os.open(docs + b"/ctl\x01.txt", os.O_CREAT | os.O_WRONLY))
    os.close(os.open(docs + b"/raw\xff.txt", os.O_CREAT | os.O_WRONLY))
    control = server.propfind("/docs/ctl\x01.txt", depth="0")
    assert control.hrefs == ["/docs/ctl%01.txt"]
    assert D + "displayname" not in control.props("/docs/ctl%01.txt")
    undecodable = server.propfind(
        "/docs/raw\udcff.txt", named("D:displayname", "D:getcontentlength"), depth="0"
    )
    assert undecodable.hrefs == ["/docs/raw%FF.txt"]
    props = undecodable.props("/docs/raw%FF.txt")
    assert props[D + "displayname"][0] == NOT_FOUND
    assert props[D + "getcontentlength"][0] == OK


# --- lock discovery (§15.8) ------------------------------------------------------------------


def test_lockdiscovery_content(server: Server) -> None:
    lock = server.lock("/docs", Depth.INFINITY, Scope.SHARED)
    server.clock.now += 100
    answer = server.propfind("/docs/", named("D:lockdiscovery"), depth="0", mount="/dav")
    (active,) = answer.value("/dav/docs/", D + "lockdiscovery")
    assert active.tag == D + "activelock"
    assert active.find(D + "lockscope")[0].tag == D + "shared"
    assert active.find(D + "locktype")[0].tag == D + "write"
    assert active.findtext(D + "depth") == "infinity"  # lower case: LibreOffice compares it
    assert active.findtext(D + "timeout") == "Second-500"
    assert active.findtext(f"{D}locktoken/{D}href") == lock.token
    assert active.findtext(f"{D}lockroot/{D}href") == "/dav/docs/"
    owner = active.find(D + "owner")
    assert owner.findtext(D + "href") == "mailto:zoe@example.org"  # as the client sent it


def test_inherited_locks_cover_every_depth(server: Server) -> None:
    (server.root / "docs" / "sub" / "c" / "d").mkdir(parents=True)
    deep = server.lock("/docs/sub", Depth.INFINITY, Scope.SHARED)
    shallow = server.lock("/docs", Depth.ZERO, Scope.SHARED)
    own = server.lock("/docs/sub/c/d", Depth.ZERO, Scope.SHARED)
    answer = server.propfind("/", named("D:lockdiscovery"), depth="infinity")
    assert answer.tokens("/docs/") == {shallow.token}
    assert answer.tokens("/docs/a.txt") == set()  # a depth-0 lock covers the folder only
    assert answer.tokens("/docs/sub/") == {deep.token}
    assert answer.tokens("/docs/sub/c/") == {deep.token}
    assert answer.tokens("/docs/sub/c/d/") == {deep.token, own.token}
    for href in answer.hrefs:  # the same as each entry's own Depth 0 answer
        alone = server.propfind(href, named("D:lockdiscovery"), depth="0")
        assert alone.tokens(href) == answer.tokens(href), href


def test_locks_from_above_the_target_are_inherited(server: Server) -> None:
    lock = server.lock("/", Depth.INFINITY)
    answer = server.propfind("/docs/sub/", named("D:lockdiscovery"))
    assert answer.tokens("/docs/sub/deep.txt") == {lock.token}
    root = answer.value("/docs/sub/deep.txt", D + "lockdiscovery").findtext(
        f".//{D}lockroot/{D}href"
    )
    assert root == "/"


def test_expired_locks_are_not_discovered(server: Server) -> None:
    server.lock("/docs/a.txt")
    server.clock.now += 601
    assert server.propfind("/docs/", named("D:lockdiscovery")).tokens("/docs/a.txt") == set()


# --- conditionals (§10.4, RFC 9110 §13) -------------------------------------------------------


def test_locks_never_block_a_read(server: Server) -> None:
    lock = server.lock("/docs/a.txt")
    assert server.propfind("/docs/a.txt", depth="0").tokens("/docs/a.txt") == {lock.token}


def test_if_header_and_if_match_are_evaluated(server: Server) -> None:
    entry = server.dav.share.lookup("/docs/a.txt")
    assert entry is not None and entry.etag is not None
    with pytest.raises(PreconditionFailed):
        server.propfind("/docs/a.txt", depth="0", If="(<opaquelocktoken:nothing-here>)")
    with pytest.raises(PreconditionFailed):
        server.propfind("/docs/a.txt", depth="0", If_Match='"other"')
    assert server.propfind("/docs/a.txt", depth="0", If_Match=entry.etag).hrefs == ["/docs/a.txt"]


# --- repeated listings: rendered entries are reused only while nothing changed ------------

LISTING = named("D:getetag", "D:getcontentlength", "D:lockdiscovery", "D:getlastmodified")


def test_a_repeated_listing_shows_every_change_to_a_file(server: Server) -> None:
    path = server.root / "docs" / "a.txt"
    first = server.propfind("/docs/", LISTING)
    assert server.propfind("/docs/", LISTING).response.body == first.response.body
    old_etag = first.value("/docs/a.txt", D + "getetag").text

    path.write_bytes(b"HELLO")  # same size, same second: only the nanoseconds differ
    again = server.propfind("/docs/", LISTING)
    new_etag = again.value("/docs/a.txt", D + "getetag").text
    assert new_etag != old_etag
    assert new_etag == server.dav.share.lookup("/docs/a.txt").etag  # type: ignore[union-attr]

    path.write_bytes(b"longer content")
    assert server.propfind("/docs/", LISTING).value("/docs/a.txt", D + "getcontentlength").text == (
        "14"
    )
    (server.root / "docs" / "b.bin").rename(server.root / "docs" / "c.bin")
    assert "/docs/b.bin" not in server.propfind("/docs/", LISTING).hrefs


def test_a_repeated_listing_shows_locks_taken_refreshed_and_released(server: Server) -> None:
    assert not server.propfind("/docs/", LISTING).tokens("/docs/a.txt")
    lock = server.lock("/docs/a.txt")
    listed = server.propfind("/docs/", LISTING)
    assert listed.tokens("/docs/a.txt") == {lock.token}
    timeout = listed.value("/docs/a.txt", D + "lockdiscovery").findtext(".//" + D + "timeout")
    assert timeout == "Second-600"

    server.clock.now += 100  # the time left goes down, listing after listing
    later = server.propfind("/docs/", LISTING).value("/docs/a.txt", D + "lockdiscovery")
    assert later.findtext(".//" + D + "timeout") == "Second-500"

    server.dav.locks.release(lock.token, "/docs/a.txt", None)
    assert not server.propfind("/docs/", LISTING).tokens("/docs/a.txt")


def test_the_same_file_under_another_mount_gets_its_own_hrefs(server: Server) -> None:
    server.propfind("/docs/", LISTING)
    mounted = server.propfind("/docs/", LISTING, mount="/dav")
    assert "/dav/docs/a.txt" in mounted.hrefs
    assert "/docs/a.txt" not in mounted.hrefs
