"""PROPPATCH (RFC 4918 §9.2) answered by the method handler, in-process.

What clients rely on: a stored property comes back from PROPFIND as the same
XML; instructions apply in document order and all or nothing (403/409 for the
failed ones, 424 for the rest, nothing stored); Windows' Win32 properties are
validated and ``Win32LastModifiedTime`` moves the mtime; locks and conditionals
are checked before the body is read.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from davserver.dav.methods import proppatch
from davserver.errors import (
    BodyTooLarge,
    Forbidden,
    InsufficientStorage,
    LockTokenMissing,
    NotFound,
    PreconditionFailed,
    RequestError,
)
from davserver.locking.model import Depth
from tests.integration.test_propfind import NOT_FOUND, OK, XML_TYPE, D, Server, named
from tests.integration.test_propfind import body as propfind_body

Z = "{urn:example:z}"
WIN = "{urn:schemas-microsoft-com:}"
FORBIDDEN = "HTTP/1.1 403 Forbidden"
CONFLICT = "HTTP/1.1 409 Conflict"
FAILED_DEPENDENCY = "HTTP/1.1 424 Failed Dependency"
GOOD_DATE = "Wed, 02 Oct 2024 10:00:00 GMT"
GOOD_SECONDS = 1_727_863_200


def update(*instructions: str, namespaces: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:example:z"'
        f' xmlns:W="urn:schemas-microsoft-com:"{namespaces}>'
        + "".join(instructions)
        + "</D:propertyupdate>"
    ).encode()


def set_(*props: str) -> str:
    return "<D:set><D:prop>" + "".join(props) + "</D:prop></D:set>"


def remove(*props: str) -> str:
    return "<D:remove><D:prop>" + "".join(props) + "</D:prop></D:remove>"


class Answer:
    """A parsed PROPPATCH 207: property name -> (status, propstat element)."""

    def __init__(self, server: Server, path: str, request_body: bytes, **headers: str):
        response = server.call(proppatch.handle, "PROPPATCH", path, request_body, **headers)
        assert response.status == 207
        assert response.header("Content-Type") == XML_TYPE
        assert isinstance(response.body, bytes)
        self.tree = etree.fromstring(response.body)
        (self.response,) = self.tree.iter(D + "response")
        self.href = self.response.findtext(D + "href")
        self.statuses: dict[str, tuple[str, Any]] = {}
        for stat in self.response.iter(D + "propstat"):
            for prop in stat.find(D + "prop"):
                assert prop.tag not in self.statuses, f"{prop.tag} listed twice"
                self.statuses[prop.tag] = (stat.findtext(D + "status"), stat)

    def status(self, name: str) -> str:
        return self.statuses[name][0]


@pytest.fixture
def server(tmp_path: Path) -> Server:
    server = Server(tmp_path / "share")
    (server.root / "docs").mkdir()
    (server.root / "docs" / "a.txt").write_bytes(b"hello")
    return server


def stored(server: Server, path: str = "/docs/a.txt") -> dict[str, str]:
    return server.dav.props.get_all(path)


# --- dead properties round trip (§4, §9.2) ------------------------------------------------------


def test_foreign_namespaces_round_trip(server: Server) -> None:
    values = (
        '<Z:colour kind="a&amp;b">blue <Z:shade>dark</Z:shade> &lt;ok&gt;</Z:colour>',
        '<Q:note xmlns:Q="urn:example:q">with <D:href>/x</D:href> inside</Q:note>',
        '<deflt xmlns="urn:example:default"><inner>text</inner></deflt>',
        '<plain xmlns="">no namespace</plain>',
        "<Z:empty/>",
    )
    answer = Answer(server, "/docs/a.txt", update(set_(*values)))
    assert answer.href == "/docs/a.txt"
    assert set(answer.statuses) == {
        Z + "colour",
        "{urn:example:q}note",
        "{urn:example:default}deflt",
        "plain",
        Z + "empty",
    }
    assert {status for status, _ in answer.statuses.values()} == {OK}
    sent = etree.fromstring(update(set_(*values))).find(f"{D}set/{D}prop")
    asked = propfind_body(
        '<D:prop xmlns:Q="urn:example:q" xmlns:X="urn:example:default">'
        "<Z:colour/><Q:note/><X:deflt/><Z:empty/></D:prop>"
    )
    found = server.propfind("/docs/a.txt", asked, depth="0")
    for element in sent:
        if element.tag == "plain":
            continue
        back = found.value("/docs/a.txt", element.tag)
        assert etree.tostring(back, method="c14n", exclusive=True) == etree.tostring(
            element, method="c14n", exclusive=True
        ), element.tag
    allprop = server.propfind("/docs/a.txt", depth="0").props("/docs/a.txt")
    assert allprop["plain"][1].text == "no namespace"
    assert (
        allprop["{urn:example:default}deflt"][1].find("{urn:example:default}inner").text == "text"
    )


def test_xml_lang_in_scope_is_kept(server: Server) -> None:
    body = update('<D:set xml:lang="de"><D:prop><Z:title>Grüße</Z:title></D:prop></D:set>')
    assert Answer(server, "/docs/a.txt", body).status(Z + "title") == OK
    title = server.propfind("/docs/a.txt", named("Z:title"), depth="0").value(
        "/docs/a.txt", Z + "title"
    )
    assert title.text == "Grüße"
    assert title.get("{http://www.w3.org/XML/1998/namespace}lang") == "de"


def test_remove_and_document_order(server: Server) -> None:
    Answer(server, "/docs/a.txt", update(set_("<Z:a>1</Z:a>", "<Z:b>2</Z:b>")))
    answer = Answer(
        server,
        "/docs/a.txt",
        update(
            remove("<Z:a/>", "<Z:never-set/>"),
            set_("<Z:b>3</Z:b>"),
            remove("<Z:b/>"),
            set_("<Z:a>4</Z:a>"),
        ),
    )
    assert {name: status for name, (status, _) in answer.statuses.items()} == {
        Z + "a": OK,
        Z + "never-set": OK,  # removing what does not exist is no error (§9.2)
        Z + "b": OK,
    }
    assert set(stored(server)) == {Z + "a"}
    value = server.propfind("/docs/a.txt", named("Z:a", "Z:b"), depth="0").props("/docs/a.txt")
    assert value[Z + "a"][1].text == "4"
    assert value[Z + "b"][0] == NOT_FOUND


def test_properties_of_a_collection(server: Server) -> None:
    answer = Answer(server, "/docs/", update(set_("<Z:colour>red</Z:colour>")))
    assert answer.href == "/docs/"
    assert (
        server.propfind("/docs", named("Z:colour"), depth="0").value("/docs/", Z + "colour").text
        == "red"
    )


# --- all or nothing (§9.2) ----------------------------------------------------------------------


def test_a_protected_property_fails_the_whole_request(server: Server) -> None:
    Answer(server, "/docs/a.txt", update(set_("<Z:keep>old</Z:keep>")))
    before = stored(server)
    answer = Answer(
        server,
        "/docs/a.txt",
        update(set_("<Z:colour>blue</Z:colour>", "<D:getetag>x</D:getetag>"), remove("<Z:keep/>")),
    )
    assert answer.status(D + "getetag") == FORBIDDEN
    error = answer.statuses[D + "getetag"][1].find(D + "error")
    assert error is not None and error[0].tag == D + "cannot-modify-protected-property"
    assert answer.status(Z + "colour") == FAILED_DEPENDENCY
    assert answer.status(Z + "keep") == FAILED_DEPENDENCY
    assert stored(server) == before  # nothing applied: not the set, not the remove


@pytest.mark.parametrize("name", ["D:lockdiscovery", "D:resourcetype", "D:displayname", "D:madeup"])
def test_dav_properties_cannot_be_set_or_removed(server: Server, name: str) -> None:
    for body in (update(set_(f"<{name}>x</{name}>")), update(remove(f"<{name}/>"))):
        answer = Answer(server, "/docs/a.txt", body)
        assert answer.status(D + name[2:]) == FORBIDDEN
    assert stored(server) == {}


# --- Windows properties ---------------------------------------------------------------------------


def test_win32_properties_are_stored_and_set_the_mtime(server: Server) -> None:
    body = update(
        set_(
            f"<W:Win32CreationTime>{GOOD_DATE}</W:Win32CreationTime>",
            f"<W:Win32LastAccessTime>{GOOD_DATE}</W:Win32LastAccessTime>",
            f"<W:Win32LastModifiedTime>{GOOD_DATE}</W:Win32LastModifiedTime>",
            "<W:Win32FileAttributes>00000020</W:Win32FileAttributes>",
        )
    )
    answer = Answer(server, "/docs/a.txt", body, User_Agent="Microsoft-WebDAV-MiniRedir/10.0.19045")
    assert {status for status, _ in answer.statuses.values()} == {OK}
    assert os.stat(server.root / "docs" / "a.txt").st_mtime == GOOD_SECONDS
    found = server.propfind("/docs/a.txt", depth="0").props("/docs/a.txt")
    assert found[WIN + "Win32FileAttributes"][1].text == "00000020"
    assert found[D + "getlastmodified"][1].text == GOOD_DATE


def test_windows_7_keeps_the_mtime(server: Server) -> None:
    before = os.stat(server.root / "docs" / "a.txt").st_mtime_ns
    body = update(set_(f"<W:Win32LastModifiedTime>{GOOD_DATE}</W:Win32LastModifiedTime>"))
    answer = Answer(server, "/docs/a.txt", body, User_Agent="Microsoft-WebDAV-MiniRedir/6.1.7601")
    assert answer.status(WIN + "Win32LastModifiedTime") == OK
    assert os.stat(server.root / "docs" / "a.txt").st_mtime_ns == before
    assert WIN + "Win32LastModifiedTime" in stored(server)


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ("Win32LastModifiedTime", "yesterday"),
        ("Win32CreationTime", ""),
        ("Win32LastModifiedTime", "Wed, 02 Oct 99999 10:00:00 GMT"),
        ("Win32FileAttributes", "123456789"),
        ("Win32FileAttributes", "0x20"),
    ],
)
def test_bogus_win32_values_are_409_and_change_nothing(
    server: Server, prop: str, value: str
) -> None:
    before = os.stat(server.root / "docs" / "a.txt").st_mtime_ns
    body = update(
        set_(
            f"<W:Win32LastModifiedTime>{GOOD_DATE}</W:Win32LastModifiedTime>",
            "<Z:colour>blue</Z:colour>",
        )
        if prop != "Win32LastModifiedTime"
        else set_("<Z:colour>blue</Z:colour>"),
        set_(f"<W:{prop}>{value}</W:{prop}>"),
    )
    answer = Answer(server, "/docs/a.txt", body)
    assert answer.status(WIN + prop) == CONFLICT
    assert answer.status(Z + "colour") == FAILED_DEPENDENCY
    assert os.stat(server.root / "docs" / "a.txt").st_mtime_ns == before
    assert stored(server) == {}


# --- order of checks and refusals ----------------------------------------------------------------


def test_missing_target_is_404(server: Server) -> None:
    with pytest.raises(NotFound):
        Answer(server, "/docs/nothing.txt", update(set_("<Z:a>1</Z:a>")))


def test_locks_are_checked_before_the_body_is_read(server: Server) -> None:
    lock = server.lock("/docs", Depth.INFINITY)
    with pytest.raises(LockTokenMissing):
        Answer(server, "/docs/a.txt", b"not even XML")  # 423 wins over 400
    assert stored(server) == {}
    answer = Answer(server, "/docs/a.txt", update(set_("<Z:a>1</Z:a>")), If=f"(<{lock.token}>)")
    assert answer.status(Z + "a") == OK


def test_failed_conditionals_are_412(server: Server) -> None:
    with pytest.raises(PreconditionFailed):
        Answer(server, "/docs/a.txt", update(set_("<Z:a>1</Z:a>")), If_Match='"stale"')
    with pytest.raises(PreconditionFailed):
        Answer(server, "/docs/a.txt", update(set_("<Z:a>1</Z:a>")), If="(<opaquelocktoken:none>)")
    assert stored(server) == {}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<D:propertyupdate xmlns:D='DAV:'><D:set>",
        b'<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>',
        update(),
        update("<D:set/>"),
        update(set_()),
        b'<!DOCTYPE x [<!ENTITY e "e">]><D:propertyupdate xmlns:D="DAV:"/>',
    ],
)
def test_bad_bodies_are_400(server: Server, body: bytes) -> None:
    with pytest.raises(RequestError):
        Answer(server, "/docs/a.txt", body)


def test_a_body_over_the_limit_is_413(server: Server) -> None:
    server.dav.limits.xml_body = 100
    with pytest.raises(BodyTooLarge):
        Answer(server, "/docs/a.txt", update(set_("<Z:a>" + "x" * 200 + "</Z:a>")))


def test_read_only_share_refuses(server: Server) -> None:
    server.dav.share.readonly = True
    with pytest.raises(Forbidden):
        Answer(server, "/docs/a.txt", update(set_("<Z:a>1</Z:a>")))


def test_a_full_disk_is_507_and_undoes_what_was_stored(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    Answer(server, "/docs/a.txt", update(set_("<Z:a>old</Z:a>")))
    real_set = server.dav.props.set

    def full_at_b(path: str, name: str, value: str) -> None:
        if name == Z + "b":
            raise OSError(errno.ENOSPC, "No space left on device")
        real_set(path, name, value)

    monkeypatch.setattr(server.dav.props, "set", full_at_b)
    with pytest.raises(InsufficientStorage):
        Answer(server, "/docs/a.txt", update(set_("<Z:a>new</Z:a>", "<Z:b>2</Z:b>")))
    monkeypatch.undo()
    assert set(stored(server)) == {Z + "a"}
    found = server.propfind("/docs/a.txt", named("Z:a"), depth="0")
    assert found.value("/docs/a.txt", Z + "a").text == "old"  # the first set was undone
