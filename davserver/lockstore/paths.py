"""Path arithmetic shared by the backends.

Every backend answers "what lies below ``path``" with a *range* over sorted
canonical paths instead of a scan: the strict descendants of ``/a`` are exactly
the strings ``s`` with ``"/a/" < s < "/a0"`` (``"0"`` is the character after
``"/"``).  Siblings that merely share a prefix, such as ``/ab`` or ``/a-b``,
sort outside that range.  Python, SQLite (BINARY collation over UTF-8) and Redis
(memcmp over UTF-8) order strings the same way, so one helper serves all three.
"""

from __future__ import annotations

from davserver.locking.model import Lock, ancestors


def subtree_bounds(path: str) -> tuple[str, str]:
    """Exclusive bounds ``(lo, hi)`` of the strict descendants of canonical ``path``.

    ``lo < s < hi`` holds exactly for canonical paths ``s`` strictly below ``path``.
    """
    prefix = path if path == "/" else path + "/"
    return prefix, prefix[:-1] + "0"


def is_strictly_below(path: str, ancestor: str) -> bool:
    """True when canonical ``path`` lies strictly below ``ancestor``."""
    lo, hi = subtree_bounds(ancestor)
    return lo < path < hi


def self_and_ancestors(path: str) -> tuple[str, ...]:
    """``path`` followed by its proper ancestors, nearest first."""
    return (path, *ancestors(path))


def rebase(path: str, src: str, dest: str) -> str:
    """Map ``path`` (at or below ``src``) to the same place under ``dest``."""
    if path == src:
        return dest
    rest = path[len(src) :] if src != "/" else path
    return dest + rest if dest != "/" else rest


def check_inserted_root(lock: Lock, path: str) -> None:
    """The atomicity promise covers ``path`` only, so the new lock must sit there."""
    if lock.root != path:
        raise ValueError(f"decide returned a lock rooted at {lock.root!r}, not {path!r}")


def check_same_root(old: Lock, new: Lock) -> None:
    """A refresh never moves a lock (RFC 4918 §9.10.2); anything else is a caller bug."""
    if old.root != new.root:
        raise ValueError(f"replace cannot move lock {new.token} from {old.root} to {new.root}")
    if old.token != new.token:
        raise ValueError(f"renew cannot store lock {old.token} under token {new.token}")
