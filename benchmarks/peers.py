"""Install the peer servers the run asks for (Debian packages), as scripts/test does.

Run as root on a system with apt-get, the benchmark installs whichever of the
selected peers is missing (``apt-get install --no-install-recommends``); as
anyone else it says what to install and the peer is skipped with that note.
``--no-install`` turns this off.  Debian's policy-rc.d (or the packages' own
defaults) decide whether a service starts on installation; the benchmark never
uses one: each peer is started on its own port with its own config and stopped
by PID.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable

import apache
import lighttpd
import rclone

PACKAGES: dict[str, tuple[str, ...]] = {
    "apache": ("apache2",),  # mod_dav and mod_dav_fs come with it
    "lighttpd": ("lighttpd", "lighttpd-mod-webdav"),
    "rclone": ("rclone",),
}
CHECKS: dict[str, Callable[[], str | None]] = {
    "apache": apache.unavailable,
    "lighttpd": lighttpd.unavailable,
    "rclone": rclone.unavailable,
}


def missing(names: Iterable[str]) -> list[str]:
    """The Debian packages the selected peers need and that are not there yet."""
    packages: list[str] = []
    for name in names:
        check = CHECKS.get(name)
        if check and check():
            packages += [p for p in PACKAGES[name] if p not in packages]
    return packages


def can_install() -> str | None:
    """None when this process may apt-get install, else why not."""
    if shutil.which("apt-get") is None:
        return "no apt-get here"
    if os.geteuid() != 0:
        return "not root"
    return None


def install(names: Iterable[str], log: Callable[[str], None]) -> list[str]:
    """Install the missing packages of the selected peers; returns notes for the report."""
    packages = missing(names)
    if not packages:
        return []
    why = can_install()
    if why:
        line = f"peers not installed ({why}): run as root, or apt-get install {' '.join(packages)}"
        log(line)
        return [line]
    log(f"installing Debian packages for the peers: {' '.join(packages)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    for step in (["apt-get", "update", "-q"], command):  # apt's chatter to stderr, not the table
        subprocess.run(step, check=True, stdout=sys.stderr, env=env)
    return [f"installed for this run: {' '.join(packages)}"]
