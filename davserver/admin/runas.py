"""``davserver locks …`` run as root acts as the user who owns the server's state.

Run as root, the command would create the audit trail, the lock database or its
``-wal``/``-shm`` files owned by root in a state directory the unprivileged
server must write, and the server could not open them any more.  So before
opening anything it becomes the owner of the lock database (or else of the
state directory, or of its nearest existing parent): supplementary groups, then
group, then user, so that none of root's rights remain.  A state owned by root
leaves the command as it is.
"""

from __future__ import annotations

import os
import pwd
import sys
from collections.abc import Iterable
from pathlib import Path

from davserver.errors import StartupError


def owner_path(candidates: Iterable[Path | None]) -> Path | None:
    """The first candidate that exists; for the last one, its nearest existing parent."""
    last: Path | None = None
    for path in candidates:
        if path is None:
            continue
        if path.exists():
            return path
        last = path
    while last is not None and not last.exists() and last != last.parent:
        last = last.parent
    return last if last is not None and last.exists() else None


def drop_to_owner(candidates: Iterable[Path | None], command: str) -> str | None:
    """As root, become the owner of the state (see the module); the user's name, or
    None when nothing changed (not root, or the state belongs to root)."""
    if os.geteuid() != 0:
        return None
    where = owner_path(candidates)
    if where is None:
        return None
    info = where.stat()
    if info.st_uid == 0:
        return None
    try:
        entry = pwd.getpwuid(info.st_uid)
        name, gid = entry.pw_name, entry.pw_gid
        groups = os.getgrouplist(name, gid)
    except KeyError:  # an owner without a passwd entry: its number and the file's group
        name, gid, groups = str(info.st_uid), info.st_gid, [info.st_gid]
    try:
        os.setgroups(groups)
        os.setgid(gid)
        os.setuid(info.st_uid)
    except OSError as exc:
        raise StartupError(
            f"running as root, but cannot become {name}, the owner of {where} ({exc.strerror}):"
            f" run it as that user: runuser -u {name} -- davserver locks {command} ..."
        ) from exc
    print(
        f"davserver locks: acting as {name} (uid {info.st_uid}), the owner of {where}, "
        "so that the server can still write what this command creates",
        file=sys.stderr,
    )
    return name
