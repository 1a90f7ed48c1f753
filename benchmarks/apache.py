"""Apache httpd with mod_dav/mod_dav_fs as a third point of comparison (optional).

Used only when ``apache2`` (Debian) is installed.  The config is minimal: event
MPM, one DAV-enabled directory, anonymous, a lock database in the work dir.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
from pathlib import Path

MODULE_DIRS = (Path("/usr/lib/apache2/modules"), Path("/usr/lib64/httpd/modules"))
MODULES = ("mpm_event", "authz_core", "dav", "dav_fs", "dav_lock", "unixd")


def binary() -> str | None:
    return shutil.which("apache2") or shutil.which("httpd")


def module_dir() -> Path | None:
    return next((d for d in MODULE_DIRS if (d / "mod_dav_fs.so").exists()), None)


def unavailable() -> str | None:
    if not binary():
        return "apache2 is not installed (Debian: apt-get install apache2)"
    if not module_dir():
        return "mod_dav_fs.so not found (Debian: apt-get install apache2)"
    return None


def free_port(host: str) -> int:
    """Apache cannot listen on port 0: take a free port from the kernel."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def unprivileged_user() -> str | None:
    """As root, the server must drop to a user (that can write the root); else None."""
    if os.getuid() != 0:
        return None
    for name in ("www-data", "apache", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    return None


def _run_as() -> str:
    """As root, Apache's children must drop to a user that can write the root."""
    name = unprivileged_user()
    if not name:
        return ""
    return f"User {name}\nGroup #{pwd.getpwnam(name).pw_gid}\n"


def write_config(work: Path, root: Path, host: str, port: int) -> Path:
    modules = module_dir()
    assert modules is not None
    loads = "\n".join(
        f"LoadModule {m}_module {modules}/mod_{m}.so"
        for m in MODULES
        if (modules / f"mod_{m}.so").exists()
    )
    user = _run_as()
    if user:  # the children run as that user: let it write the root and lock db
        uid = pwd.getpwnam(user.split()[1]).pw_uid
        for path in (root, work):
            os.chown(path, uid, -1)
    conf = work / "httpd.conf"
    conf.write_text(
        f"""ServerRoot "{work}"
ServerName {host}
Listen {host}:{port}
PidFile "{work}/httpd.pid"
DefaultRuntimeDir "{work}"
ErrorLog "{work}/error.log"
LogLevel warn
# An access log, as Debian's own configuration writes (davserver's is on too).
LogFormat "%h %l %u %t \\"%r\\" %>s %O \\"%{{Referer}}i\\" \\"%{{User-Agent}}i\\"" combined
CustomLog "{work}/access.log" combined
{loads}
{user}
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 30
DAVLockDB "{work}/davlock"
DocumentRoot "{root}"
<Directory "{root}">
    Dav On
    Require all granted
    AllowOverride None
</Directory>
"""
    )
    return conf


def command(conf: Path) -> list[str]:
    exe = binary()
    assert exe is not None
    return [exe, "-f", str(conf)]
