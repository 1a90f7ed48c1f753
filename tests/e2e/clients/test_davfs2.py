"""davfs2 (root): mount as a drive, file operations, and the lock held while a file is open.

Config as davfs2 needs it here: per-mount conf file with ``secrets``, ``buf_size 256`` (kernels 6.x
send READDIR requests larger than the default buffer), ``delay_upload 0``, ``use_locks 1``,
``lock_timeout 120``; authenticated as alice.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.clients.support import (
    LiveServer,
    prefix_of,
    run,
    started,
    step,
    token_of,
    wait_until,
)
from tests.support.tools import require_root, require_tool

pytestmark = pytest.mark.e2e


@contextlib.contextmanager
def mounted(server: LiveServer, tmp_path: Path, conf_extra: str = "") -> Iterator[Path]:
    require_root("mounting davfs2")
    require_tool("mount.davfs")
    base = tmp_path / "davfs"
    base.mkdir()
    secrets = base / "secrets"
    secrets.write_text(f"{server.url} alice alice-secret\n")
    secrets.chmod(0o600)
    conf = base / "davfs2.conf"
    conf.write_text(
        f"secrets {secrets}\nbuf_size 256\ndelay_upload 0\nuse_locks 1\nlock_timeout 120\n"
        + conf_extra
    )
    mountpoint = base / "mnt"
    mountpoint.mkdir()
    # davfs2 caches the root listing it reads at mount time: seed the files first.
    (server.root / "existing.txt").write_bytes(b"was here\n")
    (server.root / "doc.txt").write_bytes(b"original\n")
    run(["mount", "-t", "davfs", "-o", f"conf={conf}", server.url, mountpoint], timeout=30)
    try:
        yield mountpoint
    finally:
        if os.path.ismount(mountpoint):
            result = run(["umount", mountpoint], check=False, timeout=60)
            if result.returncode != 0:
                run(["umount", "-l", mountpoint], check=False, timeout=30)


@pytest.fixture
def davfs_mount(auth_server: LiveServer, tmp_path: Path) -> Iterator[Path]:
    with mounted(auth_server, tmp_path) as mountpoint:
        yield mountpoint


@pytest.fixture
def davfs_tls_mount(tls_auth_server: LiveServer, tmp_path: Path) -> Iterator[Path]:
    """Over HTTPS, trusting the test CA (trust_ca_cert: the system's CAs are ignored).

    mount.davfs reads the certificate after dropping root, as the davfs2 user, who
    cannot enter pytest's private temporary directory: the CA goes to a readable one."""
    assert tls_auth_server.tls is not None
    readable = Path(tempfile.mkdtemp(prefix="davfs2-ca-"))
    try:
        readable.chmod(0o755)
        ca = readable / "ca.pem"
        shutil.copyfile(tls_auth_server.tls.ca, ca)
        ca.chmod(0o644)
        with mounted(tls_auth_server, tmp_path, f"trust_ca_cert {ca}\n") as mountpoint:
            yield mountpoint
    finally:
        shutil.rmtree(readable)


def test_file_operations_through_the_mount(auth_server: LiveServer, davfs_mount: Path) -> None:
    server, log, mnt = auth_server, auth_server.log, davfs_mount
    with step("ls", log):
        assert "existing.txt" in os.listdir(mnt)
    with step("create and write", log):
        (mnt / "new.txt").write_bytes(b"written through davfs2\n")
        wait_until(
            lambda: (
                (server.root / "new.txt").exists()
                and (server.root / "new.txt").read_bytes() == b"written through davfs2\n"
            ),
            30,
            "new.txt uploaded",
        )
        put = log.first("PUT", "/new.txt", timeout=10)
        assert put["status"] in (200, 201, 204) and put["user"] == "alice", put
    with step("read back", log):
        assert (mnt / "existing.txt").read_bytes() == b"was here\n"
        assert (mnt / "new.txt").read_bytes() == b"written through davfs2\n"
    with step("rename", log):
        (mnt / "new.txt").rename(mnt / "renamed.txt")
        assert log.first("MOVE", "/new.txt", timeout=10)["status"] in (201, 204)
        assert (server.root / "renamed.txt").read_bytes() == b"written through davfs2\n"
        assert not (server.root / "new.txt").exists()
    with step("delete", log):
        (mnt / "renamed.txt").unlink()
        assert log.first("DELETE", "/renamed.txt", timeout=10)["status"] == 204
        assert not (server.root / "renamed.txt").exists()


def test_open_file_is_locked_until_closed(auth_server: LiveServer, davfs_mount: Path) -> None:
    server, log, mnt = auth_server, auth_server.log, davfs_mount
    assert "doc.txt" in os.listdir(mnt)
    handle = (mnt / "doc.txt").open("r+b")
    try:
        with step("open for writing: davfs2 locks doc.txt", log):
            lock = log.first("LOCK", "/doc.txt", status=200, timeout=20)
            assert lock["user"] == "alice" and lock["lock_outcome"] == "granted", lock
            discovery = server.lockdiscovery("doc.txt", "bob")
            token = token_of(discovery)
            assert lock["lock_token"] == prefix_of(token) and "alice" in discovery, discovery
            # davfs2 asks for depth 0 and 120 seconds (what is left of them shows).
            assert "<D:depth>0</D:depth>" in discovery, discovery
            seconds = re.search(r"<D:timeout>Second-(\d+)</D:timeout>", discovery)
            assert seconds and 100 < int(seconds.group(1)) <= 120, discovery
        with step("bob's PUT while the file is open gets 423", log):
            refused = server.session("bob").put(server.href("doc.txt"), data=b"bob\n", timeout=10)
            assert refused.status_code == 423, refused.text
            assert (server.root / "doc.txt").read_bytes() == b"original\n"
        with step("write through the open handle", log):
            handle.seek(0)
            handle.write(b"changed by davfs2\n")
            handle.truncate()
    finally:
        handle.close()
    with step("unmount: content uploaded with the token, lock released", log):
        run(["umount", mnt], timeout=60)
        assert (server.root / "doc.txt").read_bytes() == b"changed by davfs2\n"
        # Under the lock a PUT succeeds only with its token in the If header.
        put = log.first("PUT", "/doc.txt", status=204, timeout=10)
        unlock = log.first("UNLOCK", "/doc.txt", timeout=10)
        assert unlock["status"] == 204 and unlock["lock_token"] == prefix_of(token), unlock
        assert started(lock) < started(put) <= started(unlock), (lock, put, unlock)
        assert "activelock" not in server.lockdiscovery("doc.txt", "bob")


def test_file_operations_and_lock_over_https(
    tls_auth_server: LiveServer, davfs_tls_mount: Path
) -> None:
    server, log, mnt = tls_auth_server, tls_auth_server.log, davfs_tls_mount
    assert server.url.startswith("https://")
    with step("ls", log):
        assert "existing.txt" in os.listdir(mnt)
    with step("create, write and read back", log):
        (mnt / "new.txt").write_bytes(b"written through davfs2 over TLS\n")
        wait_until(
            lambda: (
                (server.root / "new.txt").exists()
                and (server.root / "new.txt").read_bytes() == b"written through davfs2 over TLS\n"
            ),
            30,
            "new.txt uploaded",
        )
        assert log.first("PUT", "/new.txt", timeout=10)["user"] == "alice"
        assert (mnt / "existing.txt").read_bytes() == b"was here\n"
    with (
        step("open for writing locks; bob's PUT gets 423", log),
        (mnt / "doc.txt").open("r+b") as handle,
    ):
        lock = log.first("LOCK", "/doc.txt", status=200, timeout=20)
        token = token_of(server.lockdiscovery("doc.txt", "bob"))
        assert lock["lock_token"] == prefix_of(token), lock
        refused = server.session("bob").put(server.href("doc.txt"), data=b"bob\n", timeout=10)
        assert refused.status_code == 423, refused.text
        handle.write(b"changed over TLS\n")
        handle.truncate()
    with step("unmount: uploaded with the token, lock released", log):
        run(["umount", mnt], timeout=60)
        assert (server.root / "doc.txt").read_bytes() == b"changed over TLS\n"
        put = log.first("PUT", "/doc.txt", status=204, timeout=10)  # under the lock: its token
        unlock = log.first("UNLOCK", "/doc.txt", timeout=10)
        assert unlock["status"] == 204 and unlock["lock_token"] == prefix_of(token), unlock
        assert started(lock) < started(put) <= started(unlock), (lock, put, unlock)
