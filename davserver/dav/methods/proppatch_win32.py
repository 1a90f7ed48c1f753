"""Windows Mini-Redirector metadata: the ``urn:schemas-microsoft-com:`` properties.

Explorer PROPPATCHes ``Win32CreationTime``, ``Win32LastAccessTime``,
``Win32LastModifiedTime`` and ``Win32FileAttributes`` after creating a file and
expects 207 with 200 for each.  Every value is validated (409 Conflict for one
that makes no sense, RFC 4918 §9.2) and stored as a dead property, so PROPFIND
returns it; ``Win32LastModifiedTime`` also sets the file's mtime, which is what
``getlastmodified`` reports.  Creation time cannot be set on POSIX file
systems, and access time is the kernel's: both live on as dead properties.
"""

from __future__ import annotations

import re
from typing import Any

from davserver.common import dates
from davserver.errors import Conflict
from davserver.fs.share import Entry, Share

NAMESPACE = "{urn:schemas-microsoft-com:}"
CREATION = NAMESPACE + "Win32CreationTime"
ACCESS = NAMESPACE + "Win32LastAccessTime"
MODIFIED = NAMESPACE + "Win32LastModifiedTime"
ATTRIBUTES = NAMESPACE + "Win32FileAttributes"
TIME_NAMES = frozenset({CREATION, ACCESS, MODIFIED})
NAMES = TIME_NAMES | {ATTRIBUTES}
ATTRIBUTES_PATTERN = re.compile(r"[0-9A-Fa-f]{1,8}")
# Windows 7's redirector sends bogus modification dates (WsgiDAV leaves it out
# of its mtime emulation for that reason): its value is stored, the mtime kept.
NO_MTIME_AGENT = "MiniRedir/6.1"
# os.utime takes nanoseconds in a signed 64-bit integer (years 1678 to 2262).
NS_LIMIT = 2**63


def parse_http_date(text: str) -> int | None:
    """Seconds since the epoch of an HTTP-date (RFC 9110 §5.6.7: the RFC 1123 form
    Windows sends, and the obsolete forms); None when it is none."""
    seconds = dates.parse_http_date(text)
    if seconds is None:
        return None
    return seconds if -NS_LIMIT < seconds * 1_000_000_000 < NS_LIMIT else None


def validate(name: str, value: Any) -> int | None:
    """Check a Win32 property element; 409 (:class:`Conflict`) for a bad value.
    Returns the time in seconds for the time properties."""
    text = (value.text or "").strip() if value is not None else ""
    short = name.removeprefix(NAMESPACE)
    if name in TIME_NAMES:
        seconds = parse_http_date(text)
        if seconds is None:
            raise Conflict(f"{short} is not an HTTP date: {text!r}")
        return seconds
    if not ATTRIBUTES_PATTERN.fullmatch(text):
        raise Conflict(f"{short} must be 1 to 8 hexadecimal digits, not {text!r}")
    return None


def sets_mtime(user_agent: str | None) -> bool:
    """Whether ``Win32LastModifiedTime`` from this client becomes the file's mtime."""
    return NO_MTIME_AGENT not in (user_agent or "")


def set_mtime(share: Share, entry: Entry, seconds: int) -> None:
    """Set the modification time, keeping the access time; a symlink that replaced
    the file meanwhile is changed itself, never followed."""
    share.set_times(entry, entry.stat.st_atime_ns, seconds * 1_000_000_000)


def restore_times(share: Share, entry: Entry) -> None:
    """Put back the times the entry's ``lstat`` saw (undoing :func:`set_mtime`)."""
    share.set_times(entry, entry.stat.st_atime_ns, entry.stat.st_mtime_ns)
