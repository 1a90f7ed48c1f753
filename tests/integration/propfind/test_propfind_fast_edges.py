"""PROPFIND fast path (issue 7): what it leaves to WsgiDAV, and absolute facts about
its answers, so that the equivalence tests cannot pass vacuously."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from lxml import etree

from davserver.dav import propfind_fast
from davserver.locking.model import Depth, LockRequest, Scope
from tests.integration.lock_helpers import NS, Dav
from tests.integration.propfind.helpers import (
    BENCH,
    DEAD,
    Probe,
    canonical,
    compare,
    lock,
    named,
    propfind,
    propfind_body,
)

# --- what the fast path leaves to WsgiDAV -------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "depth"),
    [
        ("/docs/", b"", "infinity"),
        ("/docs/", b"", None),
        ("/docs/", b"", " 1"),
        ("/docs/", propfind_body("<D:propname/>"), "1"),
        ("/docs/", propfind_body("<D:allprop/><D:prop><D:getetag/></D:prop>"), "1"),
        ("/docs/", propfind_body("<D:prop/>"), "1"),
        ("/docs/", propfind_body(""), "1"),
        ("/docs/", b'<D:lockinfo xmlns:D="DAV:"/>', "1"),
        ("/docs/", propfind_body("<D:prop><!-- c --><D:getetag/></D:prop>"), "1"),
        ("/docs/missing", b"", "0"),
        ("/docs/link-to-file", b"", "0"),
        ("/docs/link-to-dir/", b"", "1"),
        ("/docs/fifo", b"", "0"),
        ("/docs/a.txt/", b"", "0"),
        ("/docs/", named("D:displayname", "xml:lang"), "1"),
    ],
)
def test_declines(dav: Dav, probe: Probe, path: str, body: bytes, depth: str | None) -> None:
    compare(dav, probe, path, body, depth, fast=False)


def test_declines_a_folder_with_an_unencodable_name(dav: Dav, probe: Probe) -> None:
    folder = dav.root / "odd"
    folder.mkdir()
    (folder / "fine.txt").write_bytes(b"")
    os.close(os.open(os.fsencode(folder) + b"/ctl\x01.txt", os.O_CREAT | os.O_WRONLY))
    compare(dav, probe, "/odd/", b"", "0")  # the folder alone is fine
    compare(dav, probe, "/odd/", b"", "1", fast=False)  # WsgiDAV's 500, not ours


def test_declines_stored_xml_that_does_not_parse(dav: Dav, probe: Probe) -> None:
    dav.app.stores.props.set("/docs/a.txt", "{urn:example:z}colour", "not <xml")
    compare(dav, probe, "/docs/", DEAD, "1", fast=False)
    compare(dav, probe, "/docs/sub", DEAD, "0")  # other resources are fine


def test_declines_a_lock_owner_that_does_not_parse(dav: Dav, probe: Probe) -> None:
    dav.manager.acquire(
        LockRequest("/docs/a.txt", Scope.EXCLUSIVE, Depth.ZERO, "plain <owner", None, 600)
    )
    compare(dav, probe, "/docs/", BENCH, "1", fast=False)
    compare(dav, probe, "/docs/", named("D:getetag"), "1")


def test_declines_a_lock_root_that_is_now_a_symlink(dav: Dav, probe: Probe) -> None:
    """The lock root /real became a symlink: WsgiDAV renders its lockdiscovery as 403."""
    (dav.root / "real" / "inner").mkdir(parents=True)
    lock(dav, "/real", depth="infinity")
    (dav.root / "real").rename(dav.root / "moved")
    (dav.root / "real").symlink_to("moved")
    compare(dav, probe, "/real/inner/", BENCH, "1", fast=False)
    compare(dav, probe, "/real/inner/", named("D:displayname"), "1")


def test_declines_http_conditionals(dav: Dav, probe: Probe) -> None:
    compare(dav, probe, "/docs/a.txt", b"", "0", fast=False, headers={"If-Match": '"nope"'})


def test_disabled_means_wsgidav(dav: Dav, probe: Probe) -> None:
    propfind_fast.ENABLED = False
    try:
        assert propfind(dav, "/docs/", BENCH, "1").status == 207
    finally:
        propfind_fast.ENABLED = True
    assert probe.answered == probe.declined == 0


# --- absolute facts, so that equality cannot pass vacuously ---------------------------------


def test_two_hundred_files_fifty_locked(tmp_path: Path, probe: Probe) -> None:
    dav = Dav(tmp_path / "share")
    folder = dav.root / "pf"
    folder.mkdir()
    for index in range(200):
        (folder / f"f{index:06d}.bin").write_bytes(b"0123456789abcdef")
    tokens = {f"/pf/f{i:06d}.bin": dav.locked(f"/pf/f{i:06d}.bin") for i in range(50)}
    dav.clock.advance(10)
    probe.reset()
    answer = propfind(dav, "/pf/", BENCH, "1")
    assert probe.answered == 1
    assert probe.resource_lookups <= 3  # WsgiDAV: one per member and one per lock
    assert answer.status == 207
    assert answer.header("Content-Type") == "application/xml; charset=utf-8"
    assert answer.header("Content-Length") == str(len(answer.body))
    assert answer.body.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n")
    tree = etree.fromstring(answer.body)
    responses = tree.findall("D:response", NS)
    assert len(responses) == 201
    for item in responses:
        href = item.findtext("D:href", namespaces=NS)
        activelocks = item.findall(".//D:lockdiscovery/D:activelock", NS)
        if href in tokens:
            (active,) = activelocks
            assert active.findtext("D:locktoken/D:href", namespaces=NS) == tokens[href]
            assert active.findtext("D:lockroot/D:href", namespaces=NS) == href
            assert active.findtext("D:timeout", namespaces=NS) == "Second-3590"
            assert active.findtext("D:depth", namespaces=NS) == "infinity"
            assert active.find("D:owner/D:href", NS).text == "mailto:tester@example.org"
        else:
            assert activelocks == []
        if href != "/pf/":
            assert item.findtext(".//D:getcontentlength", namespaces=NS) == "16"
            assert item.findtext(".//D:getetag", namespaces=NS)
    compare(dav, probe, "/pf/", BENCH, "1")


def test_the_answer_is_utf8_xml(dav: Dav, probe: Probe) -> None:
    answer = propfind(dav, "/docs/", b"", "1")
    assert probe.answered == 1
    assert "日本語.md".encode() in answer.body
    tree = etree.fromstring(answer.body)
    assert tree.find("D:response/D:href", NS).text == "/docs/"


def test_socket_member_is_not_listed(
    tmp_path: Path, probe: Probe, monkeypatch: pytest.MonkeyPatch
) -> None:
    dav = Dav(tmp_path / "s")
    (dav.root / "d").mkdir()
    (dav.root / "d" / "file").write_bytes(b"")
    monkeypatch.chdir(dav.root / "d")  # a relative name: socket paths are short
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind("sock")
        assert set(canonical(compare(dav, probe, "/d/", b"", "1"))) == {"/d/", "/d/file"}
