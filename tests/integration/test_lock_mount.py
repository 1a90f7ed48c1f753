"""Hrefs and If tags under a mount prefix (RFC 4918 §8.3, §10.4).

The app mounted below ``/dav`` the way a WSGI container does it: ``SCRIPT_NAME=/dav``
and WsgiDAV's ``mount_path`` set to match, so every href it writes starts with /dav.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.lock_helpers import (
    NS,
    Dav,
    assert_423_submitted,
    error_hrefs,
    token_of,
    xml,
)
from tests.integration.wsgi_client import WsgiClient

MOUNT = "/dav"


@pytest.fixture
def dav(tmp_path: Path) -> Dav:
    dav = Dav(tmp_path / "share")
    (dav.root / "dir").mkdir()
    (dav.root / "f.txt").write_bytes(b"hello")
    inner = dav.app.wsgi

    def mounted(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ["PATH_INFO"]
        assert path.startswith(MOUNT)
        environ["SCRIPT_NAME"] = MOUNT
        environ["PATH_INFO"] = path[len(MOUNT) :] or "/"
        return inner(environ, start_response)

    dav.client = WsgiClient(mounted)
    return dav


def test_lock_answer_lockroot_has_mount_prefix(dav: Dav) -> None:
    response = dav.lock(f"{MOUNT}/dir", depth="0")
    assert response.status == 200
    root = xml(response).findtext(".//D:activelock/D:lockroot/D:href", namespaces=NS)
    assert root == f"{MOUNT}/dir/"
    assert [lock.root for lock in dav.manager.discover("/dir")] == ["/dir"]


def test_423_hrefs_have_mount_prefix(dav: Dav) -> None:
    dav.locked(f"{MOUNT}/dir", depth="0")
    dav.locked(f"{MOUNT}/f.txt")
    assert_423_submitted(dav.request("PUT", f"{MOUNT}/dir/new.txt", b"x"), f"{MOUNT}/dir/")
    assert_423_submitted(dav.request("PUT", f"{MOUNT}/f.txt", b"x"), f"{MOUNT}/f.txt")
    conflict = dav.lock(f"{MOUNT}/f.txt")
    assert error_hrefs(conflict, "no-conflicting-lock") == [f"{MOUNT}/f.txt"]


@pytest.mark.parametrize("tag", [f"{MOUNT}/dir/", f"http://localhost{MOUNT}/dir"])
def test_tags_with_mount_prefix_match(dav: Dav, tag: str) -> None:
    token = token_of(dav.lock(f"{MOUNT}/dir", depth="0"))
    response = dav.request("PUT", f"{MOUNT}/dir/new.txt", b"x", {"If": f"<{tag}> (<{token}>)"})
    assert response.status == 201
    assert (dav.root / "dir" / "new.txt").read_bytes() == b"x"


def test_tag_without_mount_prefix_names_nothing(dav: Dav) -> None:
    token = token_of(dav.lock(f"{MOUNT}/dir", depth="0"))
    response = dav.request("PUT", f"{MOUNT}/dir/new.txt", b"x", {"If": f"</dir/> (<{token}>)"})
    assert response.status == 412
    assert not (dav.root / "dir" / "new.txt").exists()


def test_lockdiscovery_lockroot_has_mount_prefix(dav: Dav) -> None:
    dav.locked(f"{MOUNT}/dir", depth="infinity")
    (dav.root / "dir" / "m.txt").write_bytes(b"m")
    (lock,) = dav.lockdiscovery(f"{MOUNT}/dir/m.txt")
    assert lock.findtext("D:lockroot/D:href", namespaces=NS) == f"{MOUNT}/dir/"


def test_unlock_and_refresh_under_mount(dav: Dav) -> None:
    token = dav.locked(f"{MOUNT}/f.txt")
    refresh = dav.request("LOCK", f"{MOUNT}/f.txt", headers={"If": f"(<{token}>)"})
    assert refresh.status == 200
    assert dav.unlock(f"{MOUNT}/f.txt", token).status == 204
    assert dav.manager.discover("/f.txt") == []
