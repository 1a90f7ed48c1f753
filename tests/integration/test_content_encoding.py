"""Request bodies in a content coding are refused with 415.

davserver decodes no content coding: a ``PUT`` with ``Content-Encoding: gzip``
used to store the compressed bytes and answer 201.  RFC 9110 §15.5.16: 415 with
``Accept-Encoding: identity`` (§12.5.3), before the body is read, nothing written.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from tests.integration.lock_helpers import XML_TYPE, Dav, lockinfo

PROPFIND = b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>'
PROPPATCH = (
    b'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z">'
    b"<D:set><D:prop><Z:color>red</Z:color></D:prop></D:set></D:propertyupdate>"
)


class Untouchable(io.RawIOBase):
    """A request body that must never be read."""

    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body of a refused request was read")

    def readinto(self, buffer: object) -> int:
        raise AssertionError("the body of a refused request was read")


@pytest.fixture
def dav(tmp_path: Path) -> Dav:
    dav = Dav(tmp_path / "share")
    (dav.root / "old.txt").write_bytes(b"old content")
    return dav


def assert_refused(response: object, coding: str = "gzip") -> None:
    assert response.status == 415, (response.status, response.text)  # type: ignore[attr-defined]
    assert response.header("Accept-Encoding") == "identity"  # type: ignore[attr-defined]
    assert f"Content-Encoding '{coding}' is not supported" in response.text  # type: ignore[attr-defined]


@pytest.mark.parametrize("coding", ["gzip", "GZIP", "deflate", "br", "identity, gzip", "x-foo"])
def test_put_with_a_content_coding_creates_nothing(dav: Dav, coding: str) -> None:
    data = gzip.compress(b"hello")
    headers = {"Content-Encoding": coding, "Content-Length": str(len(data))}
    response = dav.client.request(
        "PUT",
        "/new.txt",
        headers=headers,
        stream=Untouchable(),  # type: ignore[arg-type]
    )
    name = coding.split(",")[-1].strip()
    assert_refused(response, name)
    assert not (dav.root / "new.txt").exists()
    assert sorted(p.name for p in dav.root.iterdir()) == [".davserver", "old.txt"]


def test_put_with_gzip_leaves_an_existing_file_alone(dav: Dav) -> None:
    data = gzip.compress(b"new")
    response = dav.request("PUT", "/old.txt", data, {"Content-Encoding": "gzip"})
    assert_refused(response)
    assert (dav.root / "old.txt").read_bytes() == b"old content"


def test_identity_is_no_coding(dav: Dav) -> None:
    response = dav.request("PUT", "/new.txt", b"plain", {"Content-Encoding": "identity"})
    assert response.status == 201, response.text
    assert (dav.root / "new.txt").read_bytes() == b"plain"
    empty = dav.request("PUT", "/other.txt", b"plain", {"Content-Encoding": ""})
    assert empty.status == 201


@pytest.mark.parametrize(
    ("method", "body", "headers"),
    [
        ("PROPFIND", PROPFIND, {"Depth": "0"}),
        ("PROPPATCH", PROPPATCH, {}),
        ("LOCK", lockinfo("exclusive", "me"), {}),
    ],
)
def test_xml_bodies_with_a_content_coding_are_refused(
    dav: Dav, method: str, body: bytes, headers: dict[str, str]
) -> None:
    data = gzip.compress(body)
    all_headers = {"Content-Type": XML_TYPE, "Content-Encoding": "gzip", **headers}
    response = dav.request(method, "/old.txt", data, all_headers)
    assert_refused(response)
    assert dav.manager.discover("/old.txt") == []
    assert (dav.root / "old.txt").read_bytes() == b"old content"


def test_reads_ignore_content_encoding(dav: Dav) -> None:
    """GET has no body to decode: the header means nothing there."""
    response = dav.request("GET", "/old.txt", headers={"Content-Encoding": "gzip"})
    assert response.status == 200
    assert response.body == b"old content"
