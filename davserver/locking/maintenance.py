"""Freezes and tombstones as values: how they are made from what an administrator asks.

Pure: every time is a parameter.  A *freeze* is a maintenance lock on a subtree
(kind ``FREEZE``, depth infinity, exclusive): it is stored, expires and is
found like any lock, and :mod:`davserver.locking.rules` says what it blocks.  A
*tombstone* replaces a broken write lock under the same token (kind ``BROKEN``)
and expires when the lock would have (RFC 4918 §6.6 timeouts: the holder could
have kept using its token until then), at most ``memory_max`` seconds from the
break, so that even an infinite lock is forgotten eventually.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from davserver.errors import RequestError
from davserver.locking.model import Depth, Lock, LockKind, Scope

BROKEN_MEMORY_MAX = 7 * 86400  # default longest memory of a broken lock (config key)


@dataclass(frozen=True)
class FreezeRequest:
    """What an administrator asks for: freeze ``path`` because of ``reason``.

    ``until`` is the absolute end on the manager's clock (``None``: until it is
    lifted); ``drain`` refuses new LOCKs only, so that people holding locks can
    save and close before the real freeze.  ``by`` is who asks.
    """

    path: str
    reason: str
    by: str | None
    until: float | None = None
    drain: bool = False


def whole_seconds(seconds: float) -> int:
    """A timeout for ``seconds`` from now: rounded up, at least one."""
    return max(1, math.ceil(seconds))


def make_freeze(token: str, wanted: FreezeRequest, now: float) -> Lock:
    """The freeze record for ``wanted``; 400 when it would end before it began.
    (That a reason is given is checked where people type it: the admin service.)"""
    if wanted.until is not None and wanted.until <= now:
        raise RequestError("a freeze must end in the future")
    timeout = None if wanted.until is None else whole_seconds(wanted.until - now)
    return Lock(
        token=token,
        root=wanted.path,
        scope=Scope.EXCLUSIVE,
        depth=Depth.INFINITY,
        owner="",
        principal=wanted.by,
        timeout=timeout,
        expires_at=wanted.until,
        created_at=now,
        collection=True,
        kind=LockKind.FREEZE,
        reason=wanted.reason.strip(),
        drain=wanted.drain,
    )


def update_freeze(old: Lock, new: Lock, now: float) -> Lock:
    """Freezing a frozen path again changes that freeze (same token, same start):
    a draining freeze becomes the real one, an end moves."""
    return dataclasses.replace(new, token=old.token, created_at=old.created_at, refreshed_at=now)


def tombstone(lock: Lock, by: str | None, reason: str, now: float, memory_max: int) -> Lock:
    """What is remembered of ``lock`` once ``by`` broke it because of ``reason``."""
    ends = now + memory_max
    if lock.expires_at is not None:
        ends = min(ends, lock.expires_at)
    return dataclasses.replace(
        lock,
        kind=LockKind.BROKEN,
        timeout=whole_seconds(ends - now),
        expires_at=ends,
        reason=reason.strip(),
        broken_by=by,
        broken_at=now,
    )
