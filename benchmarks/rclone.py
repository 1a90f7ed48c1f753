"""``rclone serve webdav`` as a point of comparison (optional).

Used only when ``rclone`` is installed (Debian: ``apt-get install rclone``); the
benchmark never installs it.  rclone serves a local directory through its VFS
layer with golang.org/x/net/webdav, whose locks live in memory (1.60 answers
LOCK/UNLOCK; run.py probes that before the lock workloads all the same).

The VFS caches directory listings (``--dir-cache-time``, 5 minutes by default),
so files the benchmark's setup writes to the root directly are invisible to
rclone until told: it runs with its remote-control API on a second ephemeral
port (random user and password) and ``refresh()`` calls ``vfs/refresh``.
"""

from __future__ import annotations

import base64
import re
import secrets
import shutil
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

WEBDAV_LINE = re.compile(r"WebDav Server started on \[?(http://127\.0\.0\.1:(\d+)/)")
RC_LINE = re.compile(r"Serving remote control on \[?(http://127\.0\.0\.1:(\d+)/)")
INSTALL = "apt-get install rclone"


@dataclass(frozen=True)
class Control:
    """rclone's remote-control endpoint, with the credentials it was started with."""

    user: str
    password: str
    url: str = ""

    def auth(self) -> str:
        pair = f"{self.user}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode()


def binary() -> str | None:
    return shutil.which("rclone")


def unavailable() -> str | None:
    if not binary():
        return f"rclone is not installed (Debian: {INSTALL})"
    return None


def version() -> str:
    """``rclone v1.60.1-DEV`` (first line of ``rclone version``), or "rclone"."""
    exe = binary()
    assert exe is not None
    out = subprocess.run([exe, "version"], capture_output=True, text=True, timeout=30).stdout
    return out.splitlines()[0].strip() if out.strip() else "rclone"


def new_control() -> Control:
    return Control(user="bench", password=secrets.token_urlsafe(16))


def command(root: Path, work: Path, host: str, control: Control) -> list[str]:
    """Serve ``root`` on ``host``, port 0; remote control on ``host``, port 0."""
    exe = binary()
    assert exe is not None
    return [
        exe,
        "serve",
        "webdav",
        str(root),
        "--addr",
        f"{host}:0",
        "--config",
        str(work / "rclone.conf"),  # empty: no remotes, nothing read from ~/.config
        "--cache-dir",
        str(work / "cache"),
        "--rc",
        "--rc-addr",
        f"{host}:0",
        "--rc-user",
        control.user,
        "--rc-pass",
        control.password,
    ]


def refresh(control: Control, timeout: float = 600.0) -> None:
    """Re-read every directory of the served root (``vfs/refresh recursive=true``)."""
    request = urllib.request.Request(
        control.url + "vfs/refresh",
        data=b"recursive=true",
        headers={
            "Authorization": control.auth(),
            "Content-Type": "application/x-www-form-urlencoded",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        body = resp.read().decode(errors="replace")
    if '"OK"' not in body:
        raise RuntimeError(f"rclone vfs/refresh failed: {body[:500]}")
