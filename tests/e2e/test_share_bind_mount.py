"""The state directory bind-mounted into the share is recognised under another name.

e2e because the fault is a real bind mount, made and removed with mount(8)
(the fast tier starts no processes); the requests still go in-process.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_share_links import PROPFIND_ALL, STATE
from tests.integration.wsgi_client import WsgiClient, make_client
from tests.support.tools import require_root

pytestmark = pytest.mark.e2e


@pytest.fixture
def bound(tmp_path: Path) -> Iterator[tuple[WsgiClient, Path]]:
    """The state directory bind-mounted into the share: same inode, another name."""
    require_root("a bind mount")
    root = tmp_path / "share"
    client = make_client(root)
    (root / ".davserver" / "locks.sqlite").write_bytes(STATE)
    (root / "docs" / "bound").mkdir(parents=True)
    subprocess.run(
        ["mount", "--bind", str(root / ".davserver"), str(root / "docs" / "bound")], check=True
    )
    try:
        yield client, root
    finally:
        subprocess.run(["umount", "-l", str(root / "docs" / "bound")], check=False)


def test_the_state_directory_under_another_name_is_recognised(
    bound: tuple[WsgiClient, Path],
) -> None:
    client, root = bound
    assert client.request("GET", "/docs/bound/locks.sqlite").status == 404
    assert client.request("PROPFIND", "/docs/bound", headers={"Depth": "0"}).status == 404
    listing = client.request("PROPFIND", "/docs", PROPFIND_ALL, {"Depth": "1"})
    assert listing.status == 207 and b"bound" not in listing.body
    copied = client.request("COPY", "/docs", headers={"Destination": "http://localhost/copy"})
    assert copied.status == 201
    assert sorted(p.name for p in (root / "copy").iterdir()) == []
