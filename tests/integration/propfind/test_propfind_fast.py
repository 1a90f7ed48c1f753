"""PROPFIND fast path (issue 7): the same multistatus as WsgiDAV, without WsgiDAV.

Every request is sent twice, with ``propfind_fast.ENABLED`` off and on, on the
same tree and with the lock clock frozen; both answers must be equivalent
(:func:`tests.integration.propfind.helpers.compare`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from lxml import etree

from davserver.dav import propfind_fast, quota
from davserver.locking.model import Depth, LockRequest, Scope
from tests.integration.lock_helpers import NS, Dav
from tests.integration.propfind.helpers import (
    ALLPROP,
    BENCH,
    BODIES,
    DEAD,
    LIVE,
    MOUNT,
    NAMES,
    OWNER_MARKUP,
    QUOTA,
    Probe,
    canonical,
    compare,
    lock,
    named,
    path_of,
    populate,
    propfind,
)
from tests.integration.wsgi_client import WsgiClient

# --- equivalence --------------------------------------------------------------------------


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
@pytest.mark.parametrize("depth", ["0", "1"])
@pytest.mark.parametrize("target", ["/docs/", "/docs", "/", "/docs/a.txt", "/docs/empty/"])
def test_same_answer_as_wsgidav(
    dav: Dav, probe: Probe, target: str, depth: str, body: bytes
) -> None:
    compare(dav, probe, target, body, depth)


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_same_answer_with_locks(dav: Dav, probe: Probe, body: bytes) -> None:
    lock(dav, "/", depth="infinity", scope="shared", timeout="Infinite")
    lock(dav, "/docs", depth="infinity", scope="shared", owner=OWNER_MARKUP)
    lock(dav, "/docs", depth="0", scope="shared", owner=None)
    lock(dav, "/docs/a.txt", depth="0", scope="shared", timeout="Second-100")
    lock(dav, "/docs/x&y<z>.xml", scope="shared")
    lock(dav, "/docs/x&y<z>.xml", scope="shared", owner="<D:owner>ünïcödé</D:owner>")
    lock(dav, "/docs/sub", depth="0", scope="shared")
    lock(dav, "/docs/sub/deep.txt", scope="shared")  # below the listing: never shown
    lock(dav, f"/docs/{NAMES[9]}", scope="shared")  # the NFD name
    dav.clock.advance(7.25)
    for path in ("/docs/", "/docs/a.txt", "/docs/sub", f"/docs/{NAMES[9]}"):
        for depth in ("0", "1"):
            compare(dav, probe, path_of(*path.strip("/").split("/")), body, depth)


def test_exclusive_locks_and_a_lock_on_the_parent(dav: Dav, probe: Probe) -> None:
    lock(dav, "/docs/a.txt", owner=OWNER_MARKUP)
    lock(dav, "/docs/sub", depth="infinity")
    lock(dav, "/docs/empty", depth="0", timeout="Infinite")
    dav.clock.advance(3599.5)
    for body in (b"", BENCH):
        compare(dav, probe, "/docs/", body, "1")
        compare(dav, probe, "/docs/sub/", body, "1")


def test_owner_in_the_default_namespace_comes_back_with_the_dav_prefix(
    dav: Dav, probe: Probe
) -> None:
    """cadaver sends <owner xmlns="DAV:">; WsgiDAV's tree (and clients) show <D:owner>."""
    lock(dav, "/docs/a.txt", owner='<owner xmlns="DAV:"><href>e2e-cadaver</href></owner>')
    answer = compare(dav, probe, "/docs/a.txt", BENCH, "0")
    assert b"<D:owner><D:href>e2e-cadaver</D:href></D:owner>" in answer.body


def test_lock_on_the_listed_folder_only_at_depth_zero(dav: Dav, probe: Probe) -> None:
    token = lock(dav, "/docs", depth="0")
    answer = canonical(compare(dav, probe, "/docs/", BENCH, "1"))
    tokens = {
        href: [
            hrefs
            for ((status, name), values) in props.items()
            if name == "{DAV:}lockdiscovery"
            for hrefs in values
        ]
        for href, props in answer.items()
    }
    assert token in str(tokens["/docs/"])
    assert token not in str(tokens["/docs/a.txt"])


def test_dead_and_win32_properties(dav: Dav, probe: Probe) -> None:
    proppatch = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:example:z"><D:set><D:prop>'
        '<Z:colour>blue</Z:colour><Z:note xml:lang="fr"><Z:p a="1&amp;2">Ça <b xmlns="urn:b">'
        "va</b> &lt;bien&gt;</Z:p>\n  </Z:note>"
        '<Q:other xmlns:Q="urn:example:q&amp;more"/></D:prop></D:set></D:propertyupdate>'
    ).encode()
    win32 = (
        b'<?xml version="1.0" encoding="utf-8" ?>'
        b'<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop>'
        b"<Z:Win32CreationTime>Sun, 19 Nov 2023 10:00:00 GMT</Z:Win32CreationTime>"
        b"<Z:Win32LastAccessTime>Sun, 19 Nov 2023 10:00:01 GMT</Z:Win32LastAccessTime>"
        b"<Z:Win32LastModifiedTime>Sun, 19 Nov 2023 10:00:02 GMT</Z:Win32LastModifiedTime>"
        b"<Z:Win32FileAttributes>00000020</Z:Win32FileAttributes>"
        b"</D:prop></D:set></D:propertyupdate>"
    )
    agent = {"User-Agent": "Microsoft-WebDAV-MiniRedir/10.0.19045"}
    for path in ("/docs/a.txt", "/docs/sub", path_of("docs", NAMES[3]), "/docs"):
        assert dav.request("PROPPATCH", path, proppatch).status == 207
        assert dav.request("PROPPATCH", path, win32, agent).status == 207
    for body in (b"", ALLPROP, DEAD, named("Q:other", "Z:note")):
        for depth in ("0", "1"):
            compare(dav, probe, "/docs/", body, depth)
    answer = canonical(compare(dav, probe, "/docs/a.txt", DEAD, "0"))["/docs/a.txt"]
    assert ("HTTP/1.1 200 OK", "{urn:example:z}colour") in answer
    assert ("HTTP/1.1 404 Not Found", "{urn:example:z}missing") in answer
    assert ("HTTP/1.1 200 OK", "{urn:schemas-microsoft-com:}Win32FileAttributes") in answer


def test_quota_by_name_only(dav: Dav, probe: Probe) -> None:
    answer = canonical(compare(dav, probe, "/docs/", QUOTA, "1"))
    assert answer["/docs/sub/"][("HTTP/1.1 200 OK", quota.USED)][0][2] == "4"
    # WsgiDAV answers a file's quota properties with empty 200 elements; so do we.
    assert ("HTTP/1.1 200 OK", quota.USED) in answer["/docs/a.txt"]
    allprop = canonical(compare(dav, probe, "/docs/", b"", "1"))
    assert not any(name == quota.USED for props in allprop.values() for _, name in props)


def test_hidden_and_unserved_members_are_never_listed(dav: Dav, probe: Probe) -> None:
    hrefs = set(canonical(compare(dav, probe, "/docs/", b"", "1")))
    expected = {quote("/docs/" + name, safe="/!*'(),$-_|.") for name in NAMES}
    assert hrefs == expected | {"/docs/", "/docs/sub/", "/docs/empty/"}
    root = set(canonical(compare(dav, probe, "/", b"", "1")))
    assert root == {"/", "/docs/", "/top.txt"}  # no /.davserver/


def test_names_are_quoted_and_escaped(dav: Dav, probe: Probe) -> None:
    answer = compare(dav, probe, "/docs/", named("D:displayname"), "1")
    tree = etree.fromstring(answer.body)
    names = {
        item.findtext("D:href", namespaces=NS): item.findtext(".//D:displayname", namespaces=NS)
        for item in tree.iterfind("D:response", NS)
    }
    assert names["/docs/x%26y%3Cz%3E.xml"] == "x&y<z>.xml"
    assert names["/docs/100%25%20sure.txt"] == "100% sure.txt"
    assert names["/docs/q%3F.txt"] == "q?.txt"
    assert names["/docs/h%23tag.txt"] == "h#tag.txt"
    assert names["/docs/cr%0Dname.txt"] == "cr\rname.txt"
    assert names["/docs/caf%C3%A9.txt"] == NAMES[8]
    assert names["/docs/cafe%CC%81.txt"] == NAMES[9]


@pytest.mark.parametrize("name", ["a.txt", NAMES[3], NAMES[9], "q?.txt", "h#tag.txt", "sub"])
def test_depth_zero_on_odd_names(dav: Dav, probe: Probe, name: str) -> None:
    lock(dav, f"/docs/{name}", depth="0")
    for body in (b"", BENCH, LIVE):
        compare(dav, probe, path_of("docs", name), body, "0")


def test_mount_prefix(dav: Dav, probe: Probe) -> None:
    inner = dav.app.wsgi

    def mounted(environ: dict[str, Any], start_response: Any) -> Any:
        environ["SCRIPT_NAME"] = MOUNT
        environ["PATH_INFO"] = environ["PATH_INFO"][len(MOUNT) :] or "/"
        return inner(environ, start_response)

    for provider in dav.app.dav.provider_map.values():
        provider.set_mount_path(MOUNT)
    dav.client = WsgiClient(mounted)
    lock(dav, f"{MOUNT}/docs", depth="infinity", scope="shared")
    lock(dav, f"{MOUNT}/docs/a.txt", scope="shared")
    for body in (b"", BENCH):
        answer = canonical(compare(dav, probe, f"{MOUNT}/docs/", body, "1"))
        assert set(answer) >= {f"{MOUNT}/docs/", f"{MOUNT}/docs/a.txt", f"{MOUNT}/docs/sub/"}
        compare(dav, probe, f"{MOUNT}/", body, "1")
        compare(dav, probe, f"{MOUNT}/docs/a.txt", body, "0")
    discovery = compare(dav, probe, f"{MOUNT}/docs/a.txt", BENCH, "0")
    roots = {h.text for h in etree.fromstring(discovery.body).iterfind(".//D:lockroot/D:href", NS)}
    assert roots == {f"{MOUNT}/docs/", f"{MOUNT}/docs/a.txt"}


def test_authenticated_principal(tmp_path: Path, htpasswd_file: Path, monkeypatch: Any) -> None:
    dav = Dav(tmp_path / "share", htpasswd=str(htpasswd_file))
    populate(dav.root / "docs")
    probe = Probe(monkeypatch)
    dav.locked("/docs/a.txt", user="alice")
    dav.locked("/docs/sub", user="bob", depth="infinity")
    for body in (b"", BENCH):
        compare(dav, probe, "/docs/", body, "1", user="alice")
    assert propfind(dav, "/docs/", b"", "1").status == 401


def test_read_only_share(tmp_path: Path, probe: Probe) -> None:
    dav = Dav(tmp_path / "share", readonly=True)
    populate(dav.root / "docs")
    dav.manager.acquire(LockRequest("/docs/a.txt", Scope.EXCLUSIVE, Depth.ZERO, "", None, 600))
    for body in (b"", BENCH, LIVE):
        compare(dav, probe, "/docs/", body, "1")


def test_stored_dav_names_render_as_wsgidav_does(dav: Dav, probe: Probe) -> None:
    """A store filled by other means: DAV: names are answered as live properties."""
    props = dav.app.stores.props
    props.set("/docs/a.txt", "{DAV:}displayname", '<D:displayname xmlns:D="DAV:">x</D:displayname>')
    props.set("/docs/a.txt", "{DAV:}nosuch", '<D:nosuch xmlns:D="DAV:">x</D:nosuch>')
    props.set(
        "/docs/sub", "{urn:example:z}colour", '<Z:colour xmlns:Z="urn:example:z">red</Z:colour>'
    )
    for body in (b"", DEAD):
        compare(dav, probe, "/docs/", body, "1")


def test_expired_locks_are_gone(dav: Dav, probe: Probe) -> None:
    lock(dav, "/docs/a.txt", scope="shared", timeout="Second-60")
    lock(dav, "/docs", depth="infinity", scope="shared", timeout="Second-30")
    dav.clock.advance(29.9)
    compare(dav, probe, "/docs/", BENCH, "1")
    dav.clock.advance(0.2)
    answer = compare(dav, probe, "/docs/", BENCH, "1")
    assert answer.body.count(b"<D:activelock>") == 1
    dav.clock.advance(60)
    assert b"activelock" not in compare(dav, probe, "/docs/", BENCH, "1").body


def test_a_lock_above_the_target_has_its_own_href(dav: Dav, probe: Probe) -> None:
    (dav.root / "docs" / "sub" / "inner").mkdir()
    token = lock(dav, "/docs", depth="infinity")
    answer = compare(dav, probe, "/docs/sub/", BENCH, "1")
    roots = {h.text for h in etree.fromstring(answer.body).iterfind(".//D:lockroot/D:href", NS)}
    assert roots == {"/docs/"}
    assert answer.body.count(token.encode()) == 3  # sub/, sub/deep.txt, sub/inner/
    assert probe.resource_lookups <= 2  # the ancestor root, looked up once


def test_turns_are_released_and_a_stuck_turn_only_delays(
    dav: Dav, probe: Probe, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(propfind_fast, "TURN_WAIT", 0.01)
    with propfind_fast._TURN:  # another request holding its turn for too long
        compare(dav, probe, "/docs/", BENCH, "1")
    compare(dav, probe, "/docs/", b"", "1")
    assert propfind_fast._TURN.acquire(blocking=False)
    propfind_fast._TURN.release()


def test_concurrent_requests_get_whole_answers(dav: Dav, probe: Probe) -> None:
    lock(dav, "/docs", depth="infinity", scope="shared")
    expected = canonical(compare(dav, probe, "/docs/", b"", "1"))
    results: list[Any] = []

    def client() -> None:
        for _ in range(5):
            results.append(canonical(propfind(dav, "/docs/", b"", "1")))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 20
    assert all(result == expected for result in results)
