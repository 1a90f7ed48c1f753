"""lighttpd with mod_webdav as a point of comparison (optional).

Used only when ``lighttpd`` and its WebDAV module are installed (Debian:
``apt-get install lighttpd lighttpd-mod-webdav``); the benchmark never installs
them.  The config is minimal: one document root, read-write WebDAV, the SQLite
database for properties and locks in the work dir (without it lighttpd has no
LOCK/PROPPATCH), keep-alive as Apache's, errors on stderr (``-D``: foreground).
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
from pathlib import Path

import apache

SBIN = (Path("/usr/sbin/lighttpd"), Path("/usr/local/sbin/lighttpd"))
MODULE_DIRS = (Path("/usr/lib/lighttpd"), Path("/usr/lib64/lighttpd"), Path("/usr/local/lib"))
INSTALL = "apt-get install lighttpd lighttpd-mod-webdav"


def binary() -> str | None:
    found = shutil.which("lighttpd")
    if found:
        return found
    return next((str(p) for p in SBIN if p.exists()), None)  # /usr/sbin is not on every PATH


def module_dir() -> Path | None:
    return next((d for d in MODULE_DIRS if (d / "mod_webdav.so").exists()), None)


def unavailable() -> str | None:
    if not binary():
        return f"lighttpd is not installed (Debian: {INSTALL})"
    if not module_dir():
        return f"mod_webdav.so not found (Debian: {INSTALL})"
    return None


def version() -> str:
    """``lighttpd/1.4.69`` (first word of ``lighttpd -v``), or "lighttpd"."""
    exe = binary()
    assert exe is not None
    out = subprocess.run([exe, "-v"], capture_output=True, text=True, timeout=30).stdout
    return out.split()[0] if out.strip() else "lighttpd"


def write_config(work: Path, root: Path, host: str, port: int) -> Path:
    user = apache.unprivileged_user()
    run_as = ""
    if user:  # as root: drop to that user, and let it write the root, the db and uploads
        run_as = f'server.username = "{user}"\nserver.groupname = "{_group(user)}"\n'
        uid = pwd.getpwnam(user).pw_uid
        for path in (root, work):
            os.chown(path, uid, -1)
    conf = work / "lighttpd.conf"
    conf.write_text(
        f"""server.modules = ( "mod_webdav" )
server.module-path = "{module_dir()}"
server.document-root = "{root}"
server.bind = "{host}"
server.port = {port}
{run_as}server.upload-dirs = ( "{work}" )
server.max-keep-alive-requests = 65535
server.max-keep-alive-idle = 30
webdav.activate = "enable"
webdav.is-readonly = "disable"
webdav.sqlite-db-name = "{work}/webdav.db"
"""
    )
    return conf


def _group(user: str) -> str:
    gid = pwd.getpwnam(user).pw_gid
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return user


def command(conf: Path) -> list[str]:
    """lighttpd in the foreground: the process we start is the server."""
    exe = binary()
    assert exe is not None
    return [exe, "-D", "-f", str(conf)]
