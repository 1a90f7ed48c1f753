"""A form upload is held to the user's quota while its files arrive, as a PUT
is: an over-quota user could otherwise have any number of bytes spooled to the
server's disk (``max_upload_bytes`` unset) before the first PUT is refused."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import IO, Any

import pytest

from tests.integration.lock_helpers import Dav
from tests.integration.test_listing_actions import COOKIE, SAME_ORIGIN, TOKEN, multipart


class Spools:
    """Every byte the form reader writes to its spool files."""

    def __init__(self) -> None:
        self.written = 0

    def make(self, *args: Any, **kwargs: Any) -> IO[bytes]:
        spools = self

        class Counted(tempfile.SpooledTemporaryFile):  # type: ignore[type-arg]
            def write(self, data: Any) -> int:
                spools.written += len(data)
                return super().write(data)

        return Counted(max_size=1 << 30)


@pytest.fixture
def spools(monkeypatch: pytest.MonkeyPatch) -> Spools:
    spools = Spools()
    monkeypatch.setattr("davserver.dav.browser.forms.tempfile.TemporaryFile", spools.make)
    return spools


@pytest.fixture
def dav(tmp_path: Path, htpasswd_file: Path) -> Dav:
    return Dav(tmp_path / "share", htpasswd=str(htpasswd_file), quota_bytes=1000)


def upload(dav: Dav, files: list[tuple[str, bytes]]) -> tuple[int, str]:
    body, kind = multipart({"action": "upload", "csrf": TOKEN}, files)
    headers = {"Content-Type": kind, "Cookie": COOKIE, "Accept": "text/html", **SAME_ORIGIN}
    response = dav.request("POST", "/", body, headers, user="alice")
    return response.status, response.text


def test_a_form_file_past_the_quota_is_507_and_not_spooled(dav: Dav, spools: Spools) -> None:
    status, text = upload(dav, [("big.bin", b"x" * 4_000_000)])
    assert status == 507, text
    assert "big.bin: quota of 1000 bytes for alice" in text
    assert spools.written <= 1000, f"{spools.written} bytes spooled for a 1000-byte quota"
    assert not (dav.root / "big.bin").exists()


def test_files_together_past_the_quota_spool_what_fits(dav: Dav, spools: Spools) -> None:
    status, text = upload(dav, [("a.bin", b"a" * 600), ("b.bin", b"b" * 600)])
    assert status == 507, text
    assert "b.bin: quota of 1000 bytes for alice" in text
    assert spools.written == 600
    assert (dav.root / "a.bin").read_bytes() == b"a" * 600
    assert not (dav.root / "b.bin").exists()


def test_replacing_an_own_file_counts_only_the_difference(dav: Dav, spools: Spools) -> None:
    assert dav.request("PUT", "/mine.bin", b"m" * 900, user="alice").status == 201
    status, text = upload(dav, [("mine.bin", b"n" * 950)])
    assert status == 303, text
    assert spools.written == 950
    assert (dav.root / "mine.bin").read_bytes() == b"n" * 950
