"""Limits on dead properties (RFC 4918 §4, §9.2): what a PROPPATCH may store.

What a user relies on: a property too large for the server is refused with 413
and a message naming the limit and its config key; a resource whose properties
would pass their count or byte quota gets 507 for the properties the update adds;
either way the PROPPATCH stores nothing — not even its other, acceptable
properties (§9.2, all or nothing) — and the rest stay 424.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from tests.integration.test_propfind import OK, D, Server
from tests.integration.test_proppatch import FAILED_DEPENDENCY, Answer, Z, remove, set_, update
from tests.integration.wsgi_client import make_client

TOO_LARGE = "HTTP/1.1 413 Content Too Large"
INSUFFICIENT = "HTTP/1.1 507 Insufficient Storage"


def description(answer: Answer, name: str) -> str:
    return answer.statuses[name][1].findtext(D + "responsedescription") or ""


@pytest.fixture
def server(tmp_path: Path) -> Server:
    server = Server(tmp_path / "share")
    (server.root / "a.txt").write_bytes(b"hello")
    limits = server.dav.limits
    limits.property_bytes, limits.properties_bytes, limits.properties_count = 1000, 2500, 3
    return server


def value(name: str, size: int) -> str:
    """A property element of about ``size`` bytes."""
    return f"<Z:{name}>{'x' * size}</Z:{name}>"


def test_a_value_over_max_property_bytes_is_413_and_nothing_is_stored(tmp_path: Path) -> None:
    client = make_client(tmp_path / "share", max_property_bytes=4096)
    (tmp_path / "share" / "a.txt").write_bytes(b"hello")
    body = update(set_(value("small", 10), value("big", 5000), value("after", 10)))
    response = client.request("PROPPATCH", "/a.txt", body)
    assert response.status == 207
    tree = etree.fromstring(response.body)
    statuses = {
        prop.tag: stat for stat in tree.iter(D + "propstat") for prop in stat.find(D + "prop")
    }
    big = statuses[Z + "big"]
    assert big.findtext(D + "status") == TOO_LARGE
    message = big.findtext(D + "responsedescription")
    assert "4096" in message and "dav.max_property_bytes" in message
    assert statuses[Z + "small"].findtext(D + "status") == FAILED_DEPENDENCY
    assert statuses[Z + "after"].findtext(D + "status") == FAILED_DEPENDENCY
    found = client.request("PROPFIND", "/a.txt", b"", {"Depth": "0"})
    assert b"urn:example:z" not in found.body  # none of the three was stored


def test_the_limit_is_on_the_stored_element(server: Server) -> None:
    answer = Answer(server, "/a.txt", update(set_(value("fits", 800))))
    assert answer.status(Z + "fits") == OK
    stored = server.dav.props.get_all("/a.txt")[Z + "fits"]
    assert len(stored.encode()) <= 1000
    over = 1000 - len(stored.encode()) + 801  # one byte more than the limit
    refused = Answer(server, "/a.txt", update(set_(value("fits", over))))
    assert refused.status(Z + "fits") == TOO_LARGE
    assert server.dav.props.get_all("/a.txt")[Z + "fits"] == stored


def test_more_properties_than_max_properties_per_resource_is_507(server: Server) -> None:
    assert (
        Answer(server, "/a.txt", update(set_(value("one", 5), value("two", 5)))).status(Z + "one")
        == OK
    )
    answer = Answer(
        server, "/a.txt", update(set_(value("two", 6), value("three", 5), value("four", 5)))
    )
    assert answer.status(Z + "four") == INSUFFICIENT
    assert answer.status(Z + "three") == INSUFFICIENT  # both are new: either one passes it
    assert answer.status(Z + "two") == FAILED_DEPENDENCY
    message = description(answer, Z + "four")
    assert "dav.max_properties_per_resource" in message and "at most 3" in message
    stored = server.dav.props.get_all("/a.txt")
    assert set(stored) == {Z + "one", Z + "two"}
    assert "x" * 6 not in stored[Z + "two"]  # the update of "two" was not applied either


def test_removing_makes_room_in_the_same_proppatch(server: Server) -> None:
    Answer(server, "/a.txt", update(set_(value("one", 5), value("two", 5), value("three", 5))))
    answer = Answer(server, "/a.txt", update(remove("<Z:one/>"), set_(value("four", 5))))
    assert answer.status(Z + "four") == OK
    assert set(server.dav.props.get_all("/a.txt")) == {Z + "two", Z + "three", Z + "four"}
    full = Answer(server, "/a.txt", update(set_(value("five", 5))))
    assert full.status(Z + "five") == INSUFFICIENT


def test_more_bytes_than_max_properties_bytes_per_resource_is_507(server: Server) -> None:
    Answer(server, "/a.txt", update(set_(value("one", 800), value("two", 800))))
    before = server.dav.props.get_all("/a.txt")
    answer = Answer(server, "/a.txt", update(set_(value("one", 850), value("three", 800))))
    assert answer.status(Z + "three") == INSUFFICIENT
    assert answer.status(Z + "one") == INSUFFICIENT  # it grows too
    message = description(answer, Z + "three")
    assert "dav.max_properties_bytes_per_resource" in message and "2500" in message
    assert server.dav.props.get_all("/a.txt") == before


def test_a_resource_over_its_quota_may_still_shrink(server: Server) -> None:
    for name in ("one", "two", "three", "four", "five"):  # stored before the limit existed
        server.dav.props.set("/a.txt", Z + name, f'<ns0:{name} xmlns:ns0="urn:example:z"/>')
    answer = Answer(server, "/a.txt", update(remove("<Z:five/>"), set_(value("one", 5))))
    assert answer.status(Z + "one") == OK
    assert len(server.dav.props.get_all("/a.txt")) == 4
    refused = Answer(server, "/a.txt", update(set_(value("six", 5))))
    assert refused.status(Z + "six") == INSUFFICIENT
