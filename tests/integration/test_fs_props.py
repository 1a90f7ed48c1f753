"""ETags, getlastmodified, quota (RFC 4331) and Win32 properties (in-process)."""

from __future__ import annotations

import email.utils
import os
import time
from pathlib import Path

import pytest
from lxml import etree

from davserver.fs import quota
from tests.integration.wsgi_client import WsgiClient, make_client

NS = {"D": "DAV:", "Z": "urn:schemas-microsoft-com:"}
QUOTA_PROPFIND = (
    b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>'
    b"<D:quota-available-bytes/><D:quota-used-bytes/></D:prop></D:propfind>"
)
WIN32_PROPPATCH = """<?xml version="1.0" encoding="utf-8" ?>
<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop>
<Z:Win32CreationTime>{created}</Z:Win32CreationTime>
<Z:Win32LastAccessTime>{accessed}</Z:Win32LastAccessTime>
<Z:Win32LastModifiedTime>{modified}</Z:Win32LastModifiedTime>
<Z:Win32FileAttributes>{attributes}</Z:Win32FileAttributes>
</D:prop></D:set></D:propertyupdate>"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "share"


@pytest.fixture
def client(root: Path) -> WsgiClient:
    return make_client(root)


def propstats(body: bytes) -> dict[str, str]:
    """Property name (Clark) -> status line, for a one-resource multistatus."""
    tree = etree.fromstring(body)
    result = {}
    for propstat in tree.iterfind(".//D:propstat", NS):
        status = propstat.findtext("D:status", namespaces=NS)
        for prop in propstat.find("D:prop", NS):
            result[prop.tag] = status
    return result


def prop_text(body: bytes, name: str) -> str | None:
    element = etree.fromstring(body).find(f".//D:propstat/D:prop/{name}", NS)
    return None if element is None else element.text


# --- ETags ---------------------------------------------------------------------------------


def test_etag_changes_on_same_size_rewrite_in_one_second(client: WsgiClient, root: Path) -> None:
    tags = set()
    for content in (b"aaaa", b"bbbb", b"cccc", b"aaaa"):
        response = client.request("PUT", "/doc.txt", content)
        assert response.status in (201, 204)
        assert (root / "doc.txt").read_bytes() == content
        tags.add(response.header("ETag"))
        assert client.request("HEAD", "/doc.txt").header("ETag") == response.header("ETag")
    assert len(tags) == 4


def test_etag_changes_when_file_is_rewritten_in_place(client: WsgiClient, root: Path) -> None:
    path = root / "doc.txt"
    path.write_bytes(b"aaaa")
    os.utime(path, ns=(10**18, 10**18))
    before = client.request("HEAD", "/doc.txt").header("ETag")
    with path.open("r+b") as handle:  # same inode, same size, other bytes
        handle.write(b"bbbb")
    os.utime(path, ns=(10**18 + 1, 10**18 + 1))
    assert client.request("HEAD", "/doc.txt").header("ETag") != before


def test_if_match_with_old_etag_fails_after_rewrite(client: WsgiClient, root: Path) -> None:
    old = client.request("PUT", "/doc.txt", b"1111").header("ETag")
    client.request("PUT", "/doc.txt", b"2222")
    response = client.request("PUT", "/doc.txt", b"3333", {"If-Match": old or ""})
    assert response.status == 412
    assert (root / "doc.txt").read_bytes() == b"2222"


def test_getlastmodified_is_rfc1123_gmt(client: WsgiClient, root: Path) -> None:
    (root / "doc.txt").write_bytes(b"x")
    os.utime(root / "doc.txt", (784111777, 784111777))
    response = client.request("PROPFIND", "/doc.txt", headers={"Depth": "0"})
    assert prop_text(response.body, "D:getlastmodified") == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert client.request("HEAD", "/doc.txt").header("Last-Modified") == (
        "Sun, 06 Nov 1994 08:49:37 GMT"
    )


# --- Quota ---------------------------------------------------------------------------------


def test_quota_on_collections(client: WsgiClient, root: Path) -> None:
    (root / "a").mkdir()
    (root / "a" / "one.bin").write_bytes(b"1" * 1000)
    (root / "two.bin").write_bytes(b"2" * 234)
    (root / ".davserver" / "big.db").write_bytes(b"s" * 5000)  # state is not counted
    (root / ".davserver-upload-x.tmp").write_bytes(b"t" * 7000)  # nor unfinished uploads
    response = client.request("PROPFIND", "/", QUOTA_PROPFIND, {"Depth": "0"})
    assert response.status == 207
    assert set(propstats(response.body).values()) == {"HTTP/1.1 200 OK"}
    assert prop_text(response.body, "D:quota-used-bytes") == "1234"
    available = int(prop_text(response.body, "D:quota-available-bytes") or -1)
    st = os.statvfs(root)
    assert abs(available - st.f_bavail * st.f_frsize) < 50 * 1024 * 1024
    sub = client.request("PROPFIND", "/a/", QUOTA_PROPFIND, {"Depth": "0"})
    assert prop_text(sub.body, "D:quota-used-bytes") == "1000"


def test_quota_not_in_allprop_but_in_propname(client: WsgiClient, root: Path) -> None:
    allprop = client.request("PROPFIND", "/", headers={"Depth": "0"})
    assert allprop.status == 207
    assert b"quota-" not in allprop.body
    propname = b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>'
    names = client.request("PROPFIND", "/", propname, {"Depth": "0"})
    assert names.status == 207
    assert b"quota-available-bytes" in names.body and b"quota-used-bytes" in names.body


def test_quota_used_walk_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(30):
        (tmp_path / f"f{i}").write_bytes(b"x")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    assert quota.walk_used_bytes(fd, lambda p: False, budget=100) == 30
    assert quota.walk_used_bytes(fd, lambda p: False, budget=10) is None
    os.close(fd)
    # Over its budget the walk gives way to the file system's figure.  (Compared with
    # a stand-in: the real one moves whenever anything else on the machine writes.)
    monkeypatch.setattr(quota, "filesystem_used_bytes", lambda fd: 123_456_789)
    cache = quota.UsedBytesCache(lambda p: False, budget=10)
    opened = lambda: os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)  # noqa: E731
    assert cache.used_bytes("/", opened) == 123_456_789


# --- Win32 properties ----------------------------------------------------------------------


def win32_body(modified: str = "Sun, 06 Nov 1994 08:49:37 GMT", attributes: str = "00000020"):
    return WIN32_PROPPATCH.format(
        created="Sat, 05 Nov 1994 08:00:00 GMT",
        accessed="Mon, 07 Nov 1994 08:00:00 GMT",
        modified=modified,
        attributes=attributes,
    ).encode()


@pytest.mark.parametrize("agent", ["Microsoft-WebDAV-MiniRedir/10.0.19045", None])
def test_win32_proppatch_sets_mtime_and_stores(
    client: WsgiClient, root: Path, agent: str | None
) -> None:
    (root / "doc.txt").write_bytes(b"content")
    headers = {"User-Agent": agent} if agent else {}
    response = client.request("PROPPATCH", "/doc.txt", win32_body(), headers)
    assert response.status == 207
    statuses = propstats(response.body)
    assert len(statuses) == 4
    assert set(statuses.values()) == {"HTTP/1.1 200 OK"}
    assert int((root / "doc.txt").stat().st_mtime) == 784111777
    assert (root / "doc.txt").read_bytes() == b"content"
    found = client.request("PROPFIND", "/doc.txt", headers={"Depth": "0"})
    assert prop_text(found.body, "D:getlastmodified") == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert prop_text(found.body, "Z:Win32FileAttributes") == "00000020"
    assert prop_text(found.body, "Z:Win32CreationTime") == "Sat, 05 Nov 1994 08:00:00 GMT"


def test_win32_proppatch_on_collection(client: WsgiClient, root: Path) -> None:
    (root / "dir").mkdir()
    response = client.request("PROPPATCH", "/dir/", win32_body(attributes="00000010"))
    assert set(propstats(response.body).values()) == {"HTTP/1.1 200 OK"}
    assert int((root / "dir").stat().st_mtime) == 784111777


@pytest.mark.parametrize(
    ("modified", "attributes"), [("yesterday", "00000020"), (email.utils.formatdate(), "zz")]
)
def test_win32_bad_value_changes_nothing(
    client: WsgiClient, root: Path, modified: str, attributes: str
) -> None:
    (root / "doc.txt").write_bytes(b"content")
    os.utime(root / "doc.txt", (1_000_000_000, 1_000_000_000))
    response = client.request("PROPPATCH", "/doc.txt", win32_body(modified, attributes))
    assert response.status == 207
    statuses = propstats(response.body)
    assert "HTTP/1.1 409 Conflict" in statuses.values()
    assert "HTTP/1.1 200 OK" not in statuses.values()
    assert int((root / "doc.txt").stat().st_mtime) == 1_000_000_000
    found = client.request("PROPFIND", "/doc.txt", headers={"Depth": "0"})
    assert b"Win32" not in found.body


def test_win32_last_modified_survives_get(client: WsgiClient, root: Path) -> None:
    client.request("PUT", "/doc.txt", b"x")
    stamp = email.utils.formatdate(time.time() - 86400, usegmt=True)
    client.request("PROPPATCH", "/doc.txt", win32_body(modified=stamp))
    assert client.request("GET", "/doc.txt").header("Last-Modified") == stamp
