"""Windows Mini-Redirector metadata: the ``urn:schemas-microsoft-com:`` properties.

Explorer PROPPATCHes ``Win32CreationTime``, ``Win32LastAccessTime``,
``Win32LastModifiedTime`` and ``Win32FileAttributes`` after creating a file and
expects 207 with 200 for each (CLIENTS.md).  WsgiDAV's ``emulate_win32_lastmod``
hotfix answers 200 but stores nothing except the mtime, and a date it cannot
parse trips an ``assert`` (500, and every other property of the request 424).

Here: every value is validated (409 Conflict for a value that makes no sense,
RFC 4918 §9.2), stored as a dead property so PROPFIND returns it, and
``Win32LastModifiedTime`` also sets the file's mtime, which is what
``getlastmodified`` reports.  Creation time cannot be set on POSIX file
systems; access time is left to the kernel — both live on as dead properties.
"""

from __future__ import annotations

import calendar
import email.utils
import os
import re
from typing import Any

from lxml import etree
from wsgidav.dav_error import HTTP_CONFLICT, DAVError

NAMESPACE = "{urn:schemas-microsoft-com:}"
CREATION = NAMESPACE + "Win32CreationTime"
ACCESS = NAMESPACE + "Win32LastAccessTime"
MODIFIED = NAMESPACE + "Win32LastModifiedTime"
ATTRIBUTES = NAMESPACE + "Win32FileAttributes"
TIME_NAMES = frozenset({CREATION, ACCESS, MODIFIED})
NAMES = TIME_NAMES | {ATTRIBUTES}
ATTRIBUTES_PATTERN = re.compile(r"[0-9A-Fa-f]{1,8}")
# WsgiDAV leaves Windows 7's redirector out of the mtime emulation: it sends
# bogus dates (WsgiDAV issue tracker); we keep that exception.
NO_MTIME_AGENT = "MiniRedir/6.1"


def parse_http_date(text: str) -> int | None:
    """Seconds since the epoch for an RFC 1123 date (other HTTP-date forms accepted)."""
    parsed = email.utils.parsedate_tz(text.strip())
    if parsed is None:
        return None
    offset = parsed[9] or 0
    try:
        return calendar.timegm((*parsed[:6], 0, 0, 0)) - offset
    except (OverflowError, ValueError):
        return None


def _checked_time(name: str, text: str) -> int:
    seconds = parse_http_date(text)
    if seconds is None:
        raise DAVError(HTTP_CONFLICT, f"{name.removeprefix(NAMESPACE)} is not an HTTP date.")
    return seconds


def validate(name: str, value: Any) -> int | None:
    """Check a Win32 property value; returns the time in seconds for time properties."""
    text = (value.text or "").strip() if value is not None else ""
    if name in TIME_NAMES:
        return _checked_time(name, text)
    if not ATTRIBUTES_PATTERN.fullmatch(text):
        raise DAVError(HTTP_CONFLICT, "Win32FileAttributes must be up to 8 hex digits.")
    return None


def set_win32_property(res: Any, name: str, value: Any, *, dry_run: bool) -> bool:
    """PROPPATCH of one Win32 property on a filesystem resource (file or folder)."""
    pm = res.provider.prop_manager
    ref_url = res.get_ref_url()
    if value is None:  # remove: only the stored copy goes
        if pm:
            pm.remove_property(ref_url, name, dry_run, res.environ)
        return True
    seconds = validate(name, value)
    agent = res.environ.get("HTTP_USER_AGENT", "")
    if name == MODIFIED and seconds is not None and NO_MTIME_AGENT not in agent:
        res.set_last_modified(res.path, seconds, dry_run=dry_run)
    if pm:
        pm.write_property(ref_url, name, etree.tostring(value), dry_run, res.environ)
    return True


def set_mtime(file_path: str, seconds: int) -> None:
    """Set the modification time, keeping the access time (no symlink following)."""
    current = os.lstat(file_path)
    os.utime(file_path, ns=(current.st_atime_ns, seconds * 1_000_000_000), follow_symlinks=False)
