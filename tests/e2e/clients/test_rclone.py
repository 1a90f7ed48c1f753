"""rclone (plain file traffic, no locks): copy, sync, check, lsf, deletefile, mount, and a
copy onto a file somebody else has locked."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.clients.support import LiveServer, kill_pid, run, step, wait_until
from tests.support.serveruser import FOREIGN_ENTRIES
from tests.support.tools import require_root, require_tool

pytestmark = pytest.mark.e2e

ENV = {"RCLONE_CONFIG": "/dev/null"}
FLAGS = ["--retries", "1", "--low-level-retries", "1", "--contimeout", "10s", "--timeout", "30s"]


def remote(server: LiveServer, path: str = "") -> str:
    return f":webdav,url='{server.url}',vendor=other:{path}"


def rclone(*args: str, check: bool = True, timeout: float = 60) -> str:
    binary = require_tool("rclone")
    return run([binary, *args, *FLAGS], env=ENV, check=check, timeout=timeout).output


def test_copy_sync_check_lsf_deletefile(anon_server: LiveServer, tmp_path: Path) -> None:
    server, log = anon_server, anon_server.log
    local = tmp_path / "local"
    local.mkdir()
    (local / "a.txt").write_bytes(b"alpha\n")
    (local / "b.bin").write_bytes(os.urandom(300_000))

    with step("rclone copy local -> dir/", log):
        rclone("copy", str(local), remote(server, "dir/"))
        for name in ("a.txt", "b.bin"):
            assert (server.root / "dir" / name).read_bytes() == (local / name).read_bytes()
        assert log.first("PUT", "/dir/a.txt")["status"] == 201
        assert log.first("PUT", "/dir/b.bin")["status"] == 201

    with step("rclone lsf dir/", log):
        out = run([require_tool("rclone"), "lsf", remote(server, "dir/"), *FLAGS], env=ENV).stdout
        assert sorted(out.split()) == ["a.txt", "b.bin"], out

    with step("rclone sync (change a.txt, delete b.bin, add c.txt)", log):
        (local / "a.txt").write_bytes(b"alpha, second version\n")
        (local / "b.bin").unlink()
        (local / "c.txt").write_bytes(b"gamma\n")
        start = log.mark()
        rclone("sync", str(local), remote(server, "dir/"))
        assert sorted(p.name for p in (server.root / "dir").iterdir()) == ["a.txt", "c.txt"]
        assert (server.root / "dir" / "a.txt").read_bytes() == b"alpha, second version\n"
        assert log.first("DELETE", "/dir/b.bin", since=start)["status"] == 204

    with step("rclone check agrees", log):
        out = rclone("check", str(local), remote(server, "dir/"))
        assert "0 differences found" in out, out

    with step("rclone deletefile dir/c.txt", log):
        start = log.mark()
        rclone("deletefile", remote(server, "dir/c.txt"))
        assert log.first("DELETE", "/dir/c.txt", since=start)["status"] == 204
        assert not (server.root / "dir" / "c.txt").exists()


def test_copy_onto_locked_file_fails_with_423(anon_server: LiveServer, tmp_path: Path) -> None:
    server, log = anon_server, anon_server.log
    (server.root / "doc.txt").write_bytes(b"locked content\n")
    token = server.lock("doc.txt", owner="somebody else")
    source = tmp_path / "doc.txt"
    source.write_bytes(b"rclone's different, longer content\n")

    with step("rclone copyto onto the locked file", log):
        start = log.mark()
        out = rclone("copyto", str(source), remote(server, "doc.txt"), check=False)
        assert "423" in out and "Locked" in out, out
        puts = log.find("PUT", "/doc.txt", since=start)
        assert puts and all(p["status"] == 423 for p in puts), puts
        assert (server.root / "doc.txt").read_bytes() == b"locked content\n"

    with step("rclone deletefile on the locked file", log):
        start = log.mark()
        out = rclone("deletefile", remote(server, "doc.txt"), check=False)
        assert "423" in out, out
        assert log.first("DELETE", "/doc.txt", since=start)["status"] == 423
        assert (server.root / "doc.txt").read_bytes() == b"locked content\n"

    assert server.unlock("doc.txt", token) == 204


def test_copy_check_and_lock_over_https(tls_anon_server: LiveServer, tmp_path: Path) -> None:
    server, log = tls_anon_server, tls_anon_server.log
    assert server.tls is not None and server.url.startswith("https://")
    trust = ["--ca-cert", str(server.tls.ca)]
    local = tmp_path / "local"
    local.mkdir()
    (local / "a.txt").write_bytes(b"alpha over TLS\n")
    (local / "b.bin").write_bytes(os.urandom(3_000_000))

    with step("rclone copy local -> dir/ over https", log):
        rclone("copy", str(local), remote(server, "dir/"), *trust)
        for name in ("a.txt", "b.bin"):
            assert (server.root / "dir" / name).read_bytes() == (local / name).read_bytes()
        assert log.first("PUT", "/dir/b.bin")["status"] == 201

    with step("rclone check agrees", log):
        out = rclone("check", str(local), remote(server, "dir/"), *trust)
        assert "0 differences found" in out, out

    with step("rclone copyto onto a locked file gets 423", log):
        token = server.lock("dir/a.txt", owner="somebody else")
        (local / "a.txt").write_bytes(b"changed\n")
        out = rclone(
            "copyto", str(local / "a.txt"), remote(server, "dir/a.txt"), *trust, check=False
        )
        assert "423" in out, out
        assert (server.root / "dir" / "a.txt").read_bytes() == b"alpha over TLS\n"
        assert server.unlock("dir/a.txt", token) == 204

    with step("without the CA rclone refuses the certificate", log):
        out = rclone("lsf", remote(server, "dir/"), check=False)
        assert "x509" in out or "certificate" in out, out


@contextlib.contextmanager
def rclone_mount(server: LiveServer, mountpoint: Path) -> Iterator[subprocess.Popen[bytes]]:
    binary = require_tool("rclone")
    require_tool("fusermount3")
    mountpoint.mkdir()
    proc = subprocess.Popen(
        [binary, "mount", remote(server), str(mountpoint), "--vfs-cache-mode", "off"],
        env={**os.environ, **ENV},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(
            lambda: os.path.ismount(mountpoint) or proc.poll() is not None,
            20,
            "rclone mount to appear",
        )
        assert proc.poll() is None, f"rclone mount exited: {proc.stderr.read()!r}"  # type: ignore[union-attr]
        yield proc
    finally:
        if os.path.ismount(mountpoint):
            result = run(["fusermount3", "-u", str(mountpoint)], check=False, timeout=20)
            if result.returncode != 0:
                run(["umount", "-l", str(mountpoint)], check=False, timeout=20)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            kill_pid(proc.pid)
            proc.wait(5)


def test_mount_list_write_read(anon_server: LiveServer, tmp_path: Path) -> None:
    require_root("rclone mount (FUSE)")
    server, log = anon_server, anon_server.log
    (server.root / "existing.txt").write_bytes(b"was here before\n")
    mountpoint = tmp_path / "mnt"
    with rclone_mount(server, mountpoint):
        with step("list the mount", log):
            # as deployed: also the entries root put there (tests/support/serveruser.py)
            assert sorted(os.listdir(mountpoint)) == sorted(["existing.txt", *FOREIGN_ENTRIES])
        with step("write a new file through the mount", log):
            (mountpoint / "new.txt").write_bytes(b"written through rclone mount\n")
            wait_until(
                lambda: (
                    (server.root / "new.txt").exists()
                    and (server.root / "new.txt").read_bytes() == b"written through rclone mount\n"
                ),
                20,
                "new.txt on disk",
            )
            assert log.first("PUT", "/new.txt")["status"] == 201
        with step("read through the mount", log):
            assert (mountpoint / "existing.txt").read_bytes() == b"was here before\n"
            assert log.first("GET", "/existing.txt")["status"] in (200, 206)
    assert not os.path.ismount(mountpoint)
