"""Quota usage after a crash between the steps of a write: the process dies
(``os._exit``, no clean-up runs) after the usage was recorded but before the
rename, or after the rename but before the record was settled; the restart's
reconcile makes the usage match the disk.

e2e: the crash is a real child process that dies mid-write.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from davserver.dav.usage_recovery import reconcile
from tests.integration.lock_helpers import Dav
from tests.support.redis import RedisServer

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CHILD = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {repo!r})
    from davserver import config
    from davserver.runtime.application import build_app
    from davserver.fs import uploads
    from davserver.fs import removal
    from tests.integration.lock_helpers import basic
    from tests.integration.wsgi_client import WsgiClient

    options = {{"root": {root!r}, "lock_store": {store!r}, "quota_bytes": 1000,
               "htpasswd": {htpasswd!r}}}
    app = build_app(config.load(None, options))
    real_replace, real_unlink = os.replace, os.unlink

    def crash_before(*args, **kwargs):
        os._exit(9)

    def crash_after(*args, **kwargs):
        real_replace(*args, **kwargs)
        os._exit(9)

    def crash_after_unlink(*args, **kwargs):
        real_unlink(*args, **kwargs)
        os._exit(9)

    moment = {moment!r}
    if moment == "delete":
        removal.os.unlink = crash_after_unlink
    else:
        uploads.os.replace = crash_before if moment == "before" else crash_after
    client = WsgiClient(app.wsgi)
    bob = {{"Authorization": basic("bob")}}
    if moment == "delete":
        client.request("DELETE", "/doc.bin", headers=bob)
    else:
        client.request("PUT", "/doc.bin", b"n" * 700, bob)
    os._exit(3)  # the crash did not happen where it should
    """
)


@pytest.fixture(params=["sqlite", "redis"])
def store(request: Any, tmp_path: Path) -> Iterator[str]:
    """The lock store URL; the usage lives beside the locks."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path}/locks.sqlite"
        return
    with RedisServer(tmp_path / "redis") as redis:
        yield redis.url


def restart(root: Path, store: str, htpasswd: Path) -> Dav:
    dav = Dav(root, lock_store=store, quota_bytes=1000, htpasswd=str(htpasswd))
    quotas = dav.app.dav.quotas
    assert quotas is not None
    reconcile(quotas, root)
    return dav


def used(dav: Dav, user: str) -> int:
    quotas = dav.app.dav.quotas
    assert quotas is not None
    return quotas.used(user)


def crash(root: Path, store: str, htpasswd: Path, moment: str) -> None:
    code = CHILD.format(
        repo=str(REPO), root=str(root), store=store, moment=moment, htpasswd=str(htpasswd)
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode == 9, done.stderr.decode()


@pytest.mark.parametrize(
    ("moment", "content", "alice", "bob"),
    [("before", b"o" * 300, 300, 0), ("after", b"n" * 700, 0, 700), ("delete", None, 0, 0)],
)
def test_restart_after_a_crash_shows_the_usage_of_the_disk(
    tmp_path: Path,
    store: str,
    htpasswd_file: Path,
    moment: str,
    content: bytes | None,
    alice: int,
    bob: int,
) -> None:
    """alice wrote /doc.bin (300 bytes); bob overwrites it (700) or deletes it and
    the process dies inside the write."""
    root = tmp_path / "share"
    first = Dav(root, lock_store=store, quota_bytes=1000, htpasswd=str(htpasswd_file))
    assert first.request("PUT", "/doc.bin", b"o" * 300, user="alice").status == 201
    first.app.close()
    crash(root, store, htpasswd_file, moment)
    target = root / "doc.bin"
    assert (target.read_bytes() if target.exists() else None) == content
    dav = restart(root, store, htpasswd_file)
    assert (used(dav, "alice"), used(dav, "bob")) == (alice, bob)
    # and the usage goes on from there: 1000 - used bytes are left, no more
    assert dav.request("PUT", "/more.bin", b"m" * (1000 - bob), user="bob").status == 201
    assert dav.request("PUT", "/one.bin", b"1", user="bob").status == 507


def test_files_changed_while_the_server_was_down(
    tmp_path: Path, store: str, htpasswd_file: Path
) -> None:
    root = tmp_path / "share"
    first = Dav(root, lock_store=store, quota_bytes=1000, htpasswd=str(htpasswd_file))
    assert first.request("PUT", "/gone.bin", b"g" * 200, user="alice").status == 201
    assert first.request("PUT", "/grown.bin", b"s" * 100, user="alice").status == 201
    first.app.close()
    (root / "gone.bin").unlink()
    (root / "grown.bin").write_bytes(b"b" * 450)
    dav = restart(root, store, htpasswd_file)
    assert used(dav, "alice") == 450
