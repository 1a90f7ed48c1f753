"""Helpers for the PROPFIND fast-path tests: send a request with the fast path on and
off, and compare the answers in a canonical form (href -> (status, property) -> XML).

A :class:`Probe` spies on ``propfind_fast.render`` (did the fast path answer or
decline?) and counts WsgiDAV resource look-ups, so that no comparison passes
because both answers came from WsgiDAV.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from lxml import etree

from davserver.dav import propfind_fast, quota
from davserver.dav.fs_provider import DavFilesystemProvider
from tests.integration.lock_helpers import NS, XML_TYPE, Dav
from tests.integration.wsgi_client import Response

MOUNT = "/dav"
OWNER_MARKUP = (
    '<D:owner xmlns:x="urn:example:owner"><x:person role="a&amp;b">Zoë &lt;Ω&gt;'
    "<x:mail>zoe@example.org</x:mail></x:person> <D:href>DOMAIN\\zoë</D:href></D:owner>"
)


def propfind_body(inner: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<D:propfind xmlns:D="DAV:" xmlns:Z="urn:example:z" xmlns:Q="urn:example:q&amp;more"'
        ' xmlns:W="urn:schemas-microsoft-com:">'
        f"{inner}</D:propfind>"
    ).encode()


def named(*names: str) -> bytes:
    return propfind_body("<D:prop>" + "".join(f"<{n}/>" for n in names) + "</D:prop>")


BENCH = named("D:lockdiscovery", "D:getetag", "D:getcontentlength")
ALLPROP = propfind_body("<D:allprop/>")
ALLPROP_INCLUDE = propfind_body("<D:allprop/><D:include><D:quota-used-bytes/></D:include>")
LIVE = named(
    "D:resourcetype",
    "D:creationdate",
    "D:getcontentlength",
    "D:getcontenttype",
    "D:getlastmodified",
    "D:displayname",
    "D:getetag",
    "D:lockdiscovery",
    "D:supportedlock",
)
UNKNOWN_FIRST = named("D:nosuchprop", "Z:missing", "D:displayname", "D:nosuchprop")
DEAD = named("Z:colour", "Z:note", "Z:missing", "W:Win32FileAttributes", "W:Win32CreationTime")
QUOTA = named("D:quota-available-bytes", "D:quota-used-bytes", "D:getetag")
NO_NAMESPACE = propfind_body('<D:prop><plain xmlns=""/><D:displayname/></D:prop>')
BODIES = {
    "empty": b"",
    "allprop": ALLPROP,
    "allprop-include": ALLPROP_INCLUDE,
    "bench": BENCH,
    "live": LIVE,
    "unknown-first": UNKNOWN_FIRST,
    "dead": DEAD,
    "quota": QUOTA,
    "no-namespace": NO_NAMESPACE,
}

NAMES = [
    "a.txt",
    "space name.bin",
    "100% sure.txt",
    "x&y<z>.xml",
    "q?.txt",
    "h#tag.txt",
    "quote\"'.txt",
    "paren(1),$-_|.!*~.txt",
    unicodedata.normalize("NFC", "café.txt"),
    unicodedata.normalize("NFD", "café.txt"),
    "日本語.md",
    "tab\tname.txt",
    "cr\rname.txt",
    "archive.tar.gz",
    "noext",
    ".dotfile",
]


# --- canonical form ------------------------------------------------------------------


def canonical_element(element: Any) -> tuple[Any, ...]:
    """Tag, attributes, text and children; prefixes and namespace declarations ignored."""
    return (
        element.tag,
        tuple(sorted(element.attrib.items())),
        element.text or "",
        tuple((canonical_element(child), child.tail or "") for child in element),
    )


def canonical(response: Response) -> dict[str, dict[tuple[str, str], list[Any]]]:
    assert response.status == 207, (response.status, response.text[:500])
    root = etree.fromstring(response.body)
    assert root.tag == "{DAV:}multistatus"
    result: dict[str, dict[tuple[str, str], list[Any]]] = {}
    for item in root.iterfind("D:response", NS):
        href = item.findtext("D:href", namespaces=NS)
        assert href not in result, f"{href} listed twice"
        props: dict[tuple[str, str], list[Any]] = {}
        for propstat in item.iterfind("D:propstat", NS):
            status = propstat.findtext("D:status", namespaces=NS)
            for prop in propstat.find("D:prop", NS):
                props.setdefault((status, prop.tag), []).append(canonical_element(prop))
        result[href] = props
    return result


# --- fixtures and helpers --------------------------------------------------------------


class Probe:
    """Counts fast-path outcomes and WsgiDAV resource look-ups."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.answered = 0
        self.declined = 0
        self.resource_lookups = 0
        real_render = propfind_fast.render
        real_lookup = DavFilesystemProvider.get_resource_inst

        def render(*args: Any) -> bytes:
            try:
                payload = real_render(*args)
            except Exception:  # answer() turns what it expects into "let WsgiDAV answer"
                self.declined += 1
                raise
            self.answered += 1
            return payload

        def lookup(provider: Any, *args: Any) -> Any:
            self.resource_lookups += 1
            return real_lookup(provider, *args)

        monkeypatch.setattr(propfind_fast, "render", render)
        monkeypatch.setattr(DavFilesystemProvider, "get_resource_inst", lookup)

    def reset(self) -> None:
        self.answered = self.declined = self.resource_lookups = 0


def make_probe(monkeypatch: pytest.MonkeyPatch) -> Probe:
    # quota-available-bytes follows the disk; a value that depends only on the
    # path keeps both answers comparable and still shows a wrong path.
    monkeypatch.setattr(quota, "available_bytes", lambda path: 10_000 + len(path))
    return Probe(monkeypatch)


def populate(folder: Path) -> None:
    folder.mkdir(parents=True)
    for index, name in enumerate(NAMES):
        (folder / name).write_bytes(b"x" * index)
    (folder / "sub").mkdir()
    (folder / "sub" / "deep.txt").write_bytes(b"deep")
    (folder / "empty").mkdir()
    (folder / ".davserver-upload-1234.tmp").write_bytes(b"partial")
    (folder / ".DAVSERVER-UPLOAD-99.TMP").write_bytes(b"partial")
    os.symlink("a.txt", folder / "link-to-file")
    os.symlink("sub", folder / "link-to-dir")
    os.symlink("nowhere", folder / "dangling")
    os.symlink("/etc", folder / "outside")
    os.mkfifo(folder / "fifo")


def make_dav(tmp_path: Path) -> Dav:
    """The app on a share with /docs (see ``populate``) and /top.txt."""
    dav = Dav(tmp_path / "share", lock_allow_infinite=True)
    populate(dav.root / "docs")
    (dav.root / "top.txt").write_bytes(b"top")
    return dav


def propfind(
    dav: Dav,
    path: str,
    body: bytes,
    depth: str | None,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> Response:
    headers = {"Content-Type": XML_TYPE, **(headers or {})}
    if depth is not None:
        headers["Depth"] = depth
    return dav.request("PROPFIND", path, body, headers, **kwargs)


def compare(
    dav: Dav,
    probe: Probe,
    path: str,
    body: bytes,
    depth: str | None,
    *,
    fast: bool = True,
    **kw: Any,
) -> Response:
    """Both answers are equivalent; the fast path answered (``fast``) or declined."""
    probe.reset()
    propfind_fast.ENABLED = False
    try:
        slow = propfind(dav, path, body, depth, **kw)
    finally:
        propfind_fast.ENABLED = True
    assert probe.answered == probe.declined == 0
    lookups_slow = probe.resource_lookups
    probe.reset()
    quick = propfind(dav, path, body, depth, **kw)
    assert (probe.answered, probe.declined) == ((1, 0) if fast else (0, 1))
    assert quick.status == slow.status
    if slow.status != 207:
        return quick
    if not fast:  # both are WsgiDAV's, which is not always well-formed XML (xml: names)
        assert quick.body == slow.body
        return quick
    assert canonical(quick) == canonical(slow)
    if b"xmlns:NS" not in slow.body:
        # WsgiDAV declares NS1, NS2, ... only for properties outside DAV: (where our
        # prefixes differ); everything else is rendered byte for byte the same.
        assert quick.body == slow.body
    assert set(quick.headers) == set(slow.headers)
    for header in set(slow.headers) - {"date", "content-length"}:
        assert quick.header(header) == slow.header(header), header
    assert quick.header("content-length") == str(len(quick.body))
    assert quick.header("date")
    assert probe.resource_lookups <= max(3, lookups_slow // 10)
    return quick


def path_of(*segments: str) -> str:
    return "/" + "/".join(quote(s) for s in segments)


def lock(dav: Dav, path: str, **kwargs: Any) -> str:
    """LOCK a path given unencoded (``/docs/x&y<z>.xml``)."""
    return dav.locked(path_of(*path.strip("/").split("/")), **kwargs)
