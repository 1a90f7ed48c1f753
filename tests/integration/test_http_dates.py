"""HTTP-dates through the real app (RFC 9110 §5.6.7, §13.1.3-4): Last-Modified is
IMF-fixdate everywhere, all three forms are read as GMT whatever the server's
zone, and a date that is no real moment is ignored, never a 500."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.lock_helpers import Dav

MTIME = 784111777  # Sun, 06 Nov 1994 08:49:37 GMT
AN_HOUR_BEFORE = {
    "imf": "Sun, 06 Nov 1994 07:49:37 GMT",
    "rfc850": "Sunday, 06-Nov-94 07:49:37 GMT",
    "asctime": "Sun Nov  6 07:49:37 1994",
}


@pytest.fixture
def dav(tmp_path: Path) -> Dav:
    dav = Dav(tmp_path / "share")
    (dav.root / "a.txt").write_bytes(b"hello")
    os.utime(dav.root / "a.txt", (MTIME, MTIME))
    return dav


@pytest.fixture
def away_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The server's local zone five hours west of UTC: an HTTP-date read as local
    time would be five hours late."""
    monkeypatch.setenv("TZ", "EST+05")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_last_modified_is_imf_fixdate(dav: Dav) -> None:
    got = dav.request("GET", "/a.txt")
    assert got.header("Last-Modified") == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert (
        "<D:getlastmodified>Sun, 06 Nov 1994 08:49:37 GMT<"
        in dav.request("PROPFIND", "/a.txt", headers={"Depth": "0"}).text
    )


@pytest.mark.parametrize("form", sorted(AN_HOUR_BEFORE))
def test_every_form_is_gmt_whatever_the_servers_zone(
    dav: Dav, away_from_utc: None, form: str
) -> None:
    since = AN_HOUR_BEFORE[form]
    modified = dav.request("GET", "/a.txt", headers={"If-Modified-Since": since})
    assert modified.status == 200, form  # changed an hour after that date
    assert modified.body == b"hello"
    unmodified = dav.request("GET", "/a.txt", headers={"If-Unmodified-Since": since})
    assert unmodified.status == 412, form
    same = dav.request("GET", "/a.txt", headers={"If-Modified-Since": "Sun Nov  6 08:49:37 1994"})
    assert same.status == 304


@pytest.mark.parametrize(
    "date",
    ["Sat, 01 Jan 10000 00:00:00 GMT", "Mon, 31 Feb 1994 08:49:37 GMT", "soon"],
)
def test_a_date_that_is_no_moment_is_ignored(dav: Dav, date: str) -> None:
    for header in ("If-Modified-Since", "If-Unmodified-Since"):
        got = dav.request("GET", "/a.txt", headers={header: date})
        assert got.status == 200, (header, date)
        assert got.body == b"hello"
    ranged = dav.request("GET", "/a.txt", headers={"Range": "bytes=0-1", "If-Range": date})
    assert ranged.status == 200  # If-Range false: the whole file
    assert ranged.body == b"hello"
