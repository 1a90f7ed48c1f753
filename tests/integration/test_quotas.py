"""Per-user byte quotas (issue "Users and teams"): 507 with the numbers, usage
freed by DELETE, overwrites counting the difference, chunked bodies cut off,
COPY charged to the copier, MOVE keeping the owner, users independent, and the
RFC 4331 properties reporting each user's own quota."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from davserver.fs.uploads import is_temp_name
from tests.integration.lock_helpers import Dav

QUOTA = 100
QUOTA_PROPS = (
    b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>'
    b"<D:quota-available-bytes/><D:quota-used-bytes/></D:prop></D:propfind>"
)


@pytest.fixture(params=["memory", "sqlite"])
def dav(request: Any, tmp_path: Path, htpasswd_file: Path) -> Dav:
    """alice: 100 bytes (the default); bob: 300 bytes."""
    store = "memory://" if request.param == "memory" else f"sqlite://{tmp_path}/locks.sqlite"
    return Dav(
        tmp_path / "share",
        htpasswd=str(htpasswd_file),
        lock_store=store,
        quota_bytes=QUOTA,
        quotas={"bob": "300B"},
    )


def used(dav: Dav, user: str) -> int:
    quotas = dav.app.dav.quotas
    assert quotas is not None
    return quotas.used(user)


def put(dav: Dav, path: str, size: int, user: str = "alice") -> int:
    return dav.request("PUT", path, b"x" * size, user=user).status


def names(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name != ".davserver")


def test_filling_the_quota_answers_507_with_the_numbers(dav: Dav) -> None:
    assert put(dav, "/a.bin", 60) == 201
    answer = dav.request("PUT", "/b.bin", b"y" * 50, {"Accept": "application/json"}, user="alice")
    assert answer.status == 507
    problem = json.loads(answer.body)
    assert problem["detail"] == "quota of 100 bytes for alice: 60 used, this upload needs 50"
    assert (problem["quota"], problem["used"], problem["needed"]) == (100, 60, 50)
    assert problem["user"] == "alice"
    assert names(dav.root) == ["a.bin"]  # nothing of the refused upload, no temporary file
    assert used(dav, "alice") == 60


def test_507_in_xml_names_the_quota(dav: Dav) -> None:
    assert put(dav, "/a.bin", 90) == 201
    answer = dav.request("PUT", "/b.bin", b"y" * 20, user="alice")
    assert answer.status == 507
    tree = etree.fromstring(answer.body)
    ns = {"D": "DAV:", "ds": "urn:x-davserver:lock-info"}
    assert tree.findtext("ds:quota/ds:used", namespaces=ns) == "90"
    assert tree.findtext("ds:quota/ds:needed", namespaces=ns) == "20"
    assert "quota of 100 bytes for alice" in (tree.findtext("ds:message", namespaces=ns) or "")


def test_delete_frees_the_bytes(dav: Dav) -> None:
    assert put(dav, "/a.bin", 60) == 201
    assert put(dav, "/b.bin", 50) == 507
    assert dav.request("DELETE", "/a.bin", user="alice").status == 204
    assert used(dav, "alice") == 0
    assert put(dav, "/b.bin", 50) == 201
    assert used(dav, "alice") == 50


def test_delete_of_a_folder_frees_its_files(dav: Dav) -> None:
    assert dav.request("MKCOL", "/d", user="alice").status == 201
    assert put(dav, "/d/one", 40) == 201
    assert put(dav, "/d/two", 40) == 201
    assert used(dav, "alice") == 80
    assert dav.request("DELETE", "/d", user="alice").status == 204
    assert used(dav, "alice") == 0


def test_overwrite_counts_the_difference(dav: Dav) -> None:
    assert put(dav, "/a.bin", 80) == 201
    assert put(dav, "/a.bin", 95) == 204  # needs 15 more, not 95
    assert used(dav, "alice") == 95
    assert put(dav, "/a.bin", 10) == 204
    assert used(dav, "alice") == 10
    answer = dav.request("PUT", "/a.bin", b"z" * 120, user="alice")
    assert answer.status == 507
    assert "10 used, this upload needs 110" in answer.text
    assert (dav.root / "a.bin").read_bytes() == b"x" * 10


class CountingStream(io.RawIOBase):
    """A chunked body of ``total`` bytes that counts what the server read."""

    def __init__(self, total: int) -> None:
        self.left = total
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.left, 64 * 1024)
        buffer[:n] = b"c" * n
        self.left -= n
        self.read_bytes += n
        return n


def test_chunked_upload_is_cut_off_past_the_quota(dav: Dav) -> None:
    assert put(dav, "/a.bin", 30) == 201
    total = 8 * 1024 * 1024
    stream = CountingStream(total)
    answer = dav.request(
        "PUT", "/big.bin", headers={"Transfer-Encoding": "chunked"}, stream=stream, user="alice"
    )
    assert answer.status == 507
    assert "30 used" in answer.text
    assert stream.read_bytes < total  # abandoned while streaming, not read to the end
    assert names(dav.root) == ["a.bin"]
    assert not any(is_temp_name(p.name) for p in dav.root.iterdir())
    assert used(dav, "alice") == 30


def test_copy_is_charged_to_the_copier(dav: Dav) -> None:
    assert put(dav, "/a.bin", 60) == 201
    copy = {"Destination": "http://localhost/c.bin"}
    assert dav.request("COPY", "/a.bin", headers=copy, user="bob").status == 201
    assert (used(dav, "alice"), used(dav, "bob")) == (60, 60)
    # alice copying her own file would need 60 more: over her 100.
    again = dav.request("COPY", "/a.bin", headers={"Destination": "/d.bin"}, user="alice")
    assert again.status == 507
    assert "this copy needs 60" in again.text
    assert not (dav.root / "d.bin").exists()
    assert used(dav, "alice") == 60


def test_copy_of_a_folder_counts_every_file(dav: Dav) -> None:
    assert dav.request("MKCOL", "/src", user="bob").status == 201
    assert put(dav, "/src/one", 50, user="bob") == 201
    assert put(dav, "/src/two", 70, user="bob") == 201
    copy = {"Destination": "/dst"}
    assert dav.request("COPY", "/src", headers=copy, user="bob").status == 201
    assert used(dav, "bob") == 240
    answer = dav.request("COPY", "/src", headers={"Destination": "/dst2"}, user="bob")
    assert answer.status == 507  # 240 + 120 > 300
    assert not (dav.root / "dst2").exists()
    assert used(dav, "bob") == 240


def test_move_keeps_the_owner(dav: Dav) -> None:
    assert put(dav, "/a.bin", 60) == 201
    move = {"Destination": "/m.bin"}
    assert dav.request("MOVE", "/a.bin", headers=move, user="bob").status == 201
    assert (used(dav, "alice"), used(dav, "bob")) == (60, 0)
    assert dav.request("DELETE", "/m.bin", user="bob").status == 204
    assert used(dav, "alice") == 0


def test_users_are_independent(dav: Dav) -> None:
    assert put(dav, "/a.bin", 100) == 201
    assert put(dav, "/a2.bin", 1) == 507
    assert put(dav, "/b.bin", 250, user="bob") == 201
    assert (used(dav, "alice"), used(dav, "bob")) == (100, 250)


def quota_props(dav: Dav, user: str) -> tuple[int, int]:
    answer = dav.request("PROPFIND", "/", QUOTA_PROPS, {"Depth": "0"}, user=user)
    assert answer.status == 207
    tree = etree.fromstring(answer.body)
    available = tree.findtext(".//{DAV:}quota-available-bytes")
    used_bytes = tree.findtext(".//{DAV:}quota-used-bytes")
    assert available is not None and used_bytes is not None
    return int(available), int(used_bytes)


def test_rfc4331_properties_report_the_users_own_quota(dav: Dav) -> None:
    assert put(dav, "/a.bin", 30) == 201
    assert put(dav, "/b.bin", 120, user="bob") == 201
    assert quota_props(dav, "alice") == (70, 30)
    assert quota_props(dav, "bob") == (180, 120)


def test_no_quota_configured_reports_the_file_system(tmp_path: Path) -> None:
    dav = Dav(tmp_path / "share")
    assert dav.app.dav.quotas is None
    assert dav.request("PUT", "/a.bin", b"x" * 10).status == 201
    answer = dav.request("PROPFIND", "/", QUOTA_PROPS, {"Depth": "0"})
    tree = etree.fromstring(answer.body)
    assert int(tree.findtext(".//{DAV:}quota-available-bytes") or 0) > 1000


def test_anonymous_writers_share_one_quota(tmp_path: Path) -> None:
    dav = Dav(tmp_path / "share", quota_bytes="1KiB")
    assert dav.request("PUT", "/a.bin", b"x" * 1000).status == 201
    answer = dav.request("PUT", "/b.bin", b"x" * 100, remote_addr="10.0.0.9")
    assert answer.status == 507
    assert "quota of 1024 bytes for anonymous: 1000 used" in answer.text
