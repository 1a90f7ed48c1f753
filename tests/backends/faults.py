"""Real faults under a store: immutable files, read-only and failing file systems.

Each helper sets the fault up for real (``chattr``, ``mount``, ext4's own error
path) or fails the test through ``tests.support.tools.unavailable`` — a fault
test that cannot create its fault must never pass or skip.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.support.tools import require_root, require_tool, unavailable


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=False)


def chattr(flag: str, *paths: Path) -> None:
    """``chattr +i`` / ``-i``; fails the test when the flag cannot be set."""
    tool = require_tool("chattr")
    done = _run(tool, flag, *map(str, paths))
    if done.returncode != 0:
        unavailable(f"chattr {flag} failed: {done.stderr.strip()}")


def supports_immutable(folder: Path) -> bool:
    probe = folder / ".chattr-probe"
    probe.write_bytes(b"")
    try:
        return _run(require_tool("chattr"), "+i", str(probe)).returncode == 0
    finally:
        _run(require_tool("chattr"), "-i", str(probe))
        probe.unlink()


@contextlib.contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    """The files are immutable inside the block (and never after it, whatever happens)."""
    require_root("chattr +i")
    chattr("+i", *paths)
    try:
        yield
    finally:
        _run(require_tool("chattr"), "-i", *map(str, paths))


@contextlib.contextmanager
def loop_ext4(mount_point: Path, size: str = "64M") -> Iterator[Path]:
    """A fresh ext4 file system on a loop device, mounted with errors=remount-ro
    (an error makes it refuse writes, as a failing disk does)."""
    require_root("mounting a loop device")
    mkfs = require_tool("mkfs.ext4")
    image = mount_point.with_suffix(".img")
    _run("truncate", "-s", size, str(image))
    made = _run(mkfs, "-q", "-F", str(image))
    if made.returncode != 0:
        unavailable(f"mkfs.ext4 failed: {made.stderr.strip()}")
    mount_point.mkdir(parents=True, exist_ok=True)
    mounted = _run("mount", "-o", "loop,errors=remount-ro", str(image), str(mount_point))
    if mounted.returncode != 0:
        unavailable(f"cannot mount a loop ext4 image: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        _run("umount", "-l", str(mount_point))
        image.unlink(missing_ok=True)


@contextlib.contextmanager
def immutable_capable(folder: Path) -> Iterator[Path]:
    """A directory where ``chattr +i`` works: ``folder`` itself when its file system
    supports the flag (ext4, tmpfs since Linux 6.0), else a loop-mounted ext4."""
    require_root("chattr +i")
    folder.mkdir(parents=True, exist_ok=True)
    if supports_immutable(folder):
        yield folder
        return
    with loop_ext4(folder / "ext4") as mounted:
        if not supports_immutable(mounted):
            unavailable("chattr +i does not work even on a loop-mounted ext4")
        yield mounted


def remount_read_only(mount_point: Path) -> None:
    done = _run("mount", "-o", "remount,ro", str(mount_point))
    if done.returncode != 0:
        unavailable(f"cannot remount {mount_point} read-only: {done.stderr.strip()}")


def trigger_fs_error(mount_point: Path) -> None:
    """Make ext4 meet an error, as on a failing disk: with errors=remount-ro it
    then refuses every write (EIO/EROFS) while reads go on."""
    device = _run("findmnt", "-n", "-o", "SOURCE", str(mount_point)).stdout.strip()
    trigger = Path("/sys/fs/ext4") / Path(device).name / "trigger_fs_error"
    if not device or not trigger.exists():
        unavailable(f"no ext4 error trigger for {mount_point} ({trigger})")
    trigger.write_text("davserver test: simulated disk error\n")
