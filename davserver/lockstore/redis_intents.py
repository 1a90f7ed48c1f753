"""Intents: how a Redis store holds back LOCKs while a write installs its result.

Redis cannot keep a transaction open while a COPY renames its tree into place,
so :meth:`~davserver.lockstore.redis.RedisLockStore.hold_if` leaves short-lived
*intent* records instead, written in the same WATCH/MULTI/EXEC as its lock
check (RFC 4918 §7: a lock granted after the check must not be lost by the
write).  An ``insert_if`` whose lock would be relevant to a held scope WATCHes
and reads them; while a live one overlaps it waits and tries again, and past
:data:`WAIT_S` it answers 503 (the store is busy), never a grant.

Key layout (``P`` is the prefix)::

    P hold-at:<path>     hash  intent id -> "<0|1> <until>": a scope at <path>
                               (1: with its descendants) held until <until>
    P hold-under:<path>  hash  intent id -> "<until>": a scope at or below <path>

A LOCK at ``Q`` is relevant to a scope ``(P, below)`` when ``Q`` is ``P`` or an
ancestor of it, or — with ``below`` — lies under ``P``: so it reads
``hold-under:Q`` and ``hold-at:A`` for each proper ancestor ``A`` of ``Q``.
Intents expire (:data:`TTL_S`, in the value and as the key's TTL) so that a
server that crashed while holding blocks nobody for long.  They are no locks:
no lookup, listing, discovery or quota ever reads these keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from davserver.locking.model import ancestors
from davserver.lockstore.base import Scopes
from davserver.lockstore.paths import self_and_ancestors

TTL_S = 60.0  # a crashed holder blocks overlapping LOCKs at most this long
WAIT_S = 10.0  # a LOCK waits this long for a held write, then gets 503
POLL_S = 0.01


class Busy(Exception):
    """An overlapping intent is live: the insert must wait (never leaves the store)."""


class Intents:
    """The intent keys of one prefix."""

    def __init__(self, prefix: str) -> None:
        self._p = prefix

    def at(self, path: str) -> str:
        return f"{self._p}hold-at:{path}"

    def under(self, path: str) -> str:
        return f"{self._p}hold-under:{path}"

    def keys_for_insert(self, path: str) -> list[str]:
        """What an ``insert_if`` at ``path`` must WATCH and read."""
        return [self.under(path), *[self.at(a) for a in ancestors(path)]]

    def live(self, values: Sequence[dict[str, str]], now: float) -> bool:
        """Whether the hashes read for :meth:`keys_for_insert` hold a live, relevant
        intent (``values`` in that order)."""
        under, *at = values
        if any(float(until) > now for until in under.values()):
            return True
        for record in (value for ancestor in at for value in ancestor.values()):
            below, until = record.split(" ", 1)
            if below == "1" and float(until) > now:
                return True
        return False

    def queue_add(self, pipe: Any, ident: str, scopes: Scopes, now: float) -> None:
        until = now + TTL_S
        expiry = int(until * 1000)
        for path, below in scopes:
            pipe.hset(self.at(path), ident, f"{int(below)} {until!r}")
            pipe.pexpireat(self.at(path), expiry)
            for key in map(self.under, self_and_ancestors(path)):
                pipe.hset(key, ident, repr(until))
                pipe.pexpireat(key, expiry)

    def queue_remove(self, pipe: Any, ident: str, scopes: Scopes) -> None:
        for path, _ in scopes:
            pipe.hdel(self.at(path), ident)
            for key in map(self.under, self_and_ancestors(path)):
                pipe.hdel(key, ident)
