"""Which depth-infinity LOCKs a collection may get (RFC 4918 §6.1, §9.10.3).

A depth-infinity lock covers every present and future member of a collection,
so one such LOCK on the root blocks every other user's writes for as long as it
lasts, and one on a huge tree makes every check below it carry that lock.  §9.10.3
lets a server refuse: "servers MAY refuse [...] depth infinity" — we answer 403
with a message that names the config key and says what to do instead.

Two rules, each with a config key:

* ``lock_infinity_min_depth``: a depth-infinity LOCK on a collection fewer levels
  below the root than this (``/`` is level 0) is for administrators (``admins``,
  ``ldap.admin_group``: :mod:`davserver.dav.logins.admins`) only.  The default 1 keeps
  ``/`` for administrators and allows every folder below it (litmus and clients
  lock folders they made); 0 allows it anywhere.
* ``lock_infinity_max_entries``: a depth-infinity LOCK on a collection with more
  members than this, at any depth, is refused; counted by a walk that stops at
  the limit, so a huge tree costs no more than the limit.  0 allows it only on
  empty collections; null: no limit.

Depth-0 LOCKs, LOCKs on non-collections and refreshes are never concerned.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

from davserver.config.dav import LocksSection
from davserver.errors import Forbidden
from davserver.fs.share import Entry, Share


@dataclass(frozen=True)
class InfinityPolicy:
    """The two rules above, as configured."""

    min_depth: int = LocksSection().infinity_min_depth
    max_entries: int | None = LocksSection().infinity_max_entries
    admins: Container[str] = frozenset()  # davserver.dav.logins.admins.Admins when serving


def level(path: str) -> int:
    """How many levels below the root a canonical path is (``/`` is 0)."""
    return len([segment for segment in path.split("/") if segment])


def check_infinity_lock(
    share: Share, target: Entry, principal: str | None, policy: InfinityPolicy
) -> None:
    """Raise :class:`Forbidden` (403) when ``policy`` refuses a depth-infinity LOCK on
    the collection ``target``; nothing is created or locked before this check."""
    if not target.is_dir:
        return
    admin = principal is not None and principal in policy.admins
    if level(target.path) < policy.min_depth and not admin:
        raise Forbidden(
            f"a LOCK with Depth infinity on {_shown(target.path)} is for administrators only "
            f"(locks.infinity_min_depth: {policy.min_depth}); lock a folder further down, or "
            "send Depth: 0 to lock only this collection and its membership"
        )
    if policy.max_entries is not None and _more_members_than(share, target, policy.max_entries):
        raise Forbidden(
            f"{_shown(target.path)} has more than {policy.max_entries} members; a LOCK with "
            "Depth infinity on it is refused (locks.infinity_max_entries); lock the members "
            "you edit, or a smaller folder, or send Depth: 0"
        )


def _more_members_than(share: Share, target: Entry, limit: int) -> bool:
    """True when ``target`` has more than ``limit`` members at any depth; stops
    walking at the first one past the limit."""
    walk = share.walk(target)
    next(walk)  # the collection itself
    return any(count > limit for count, _member in enumerate(walk, start=1))


def _shown(path: str) -> str:
    return path if path.endswith("/") else path + "/"
