"""Locks and freezes as administrators see them: ids, facts, filters.

A lock is named by its *id*, the first 12 hex digits of its token
(``3f2a9c1e-5b7d``), and shown with its *token prefix*
(``opaquelocktoken:3f2a9c1e-5b7d…``): never the whole token, so that a
screenshot of the console or a copied API answer cannot be replayed as a lock
token (RFC 4918 §6.5: tokens are what proves a lock holder).  An id is enough
to find the lock again (48 random bits), and an ambiguous one is refused.

"Stale" locks are those an administrator probably wants to clear: expired but
not purged yet, or on a resource that no longer exists (removed behind the
server's back).  A freeze on a missing path is not stale: it may be there to
keep that path from being created.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from davserver.common.dates import rfc3339, rfc3339_or_none
from davserver.dav.lock_xml import owner_text
from davserver.locking.model import Lock, canonical_path, is_ancestor_or_self
from davserver.locking.tokens import OPAQUE_LOCK_TOKEN_SCHEME

ID_LENGTH: Final = 13  # "3f2a9c1e-5b7d": 12 hex digits and the first dash
MIN_ID_LENGTH: Final = 8  # shorter prefixes are too easy to mistype into another lock

Exists = Callable[[str], bool]


class State(enum.Enum):
    ACTIVE = "active"
    EXPIRED = "expired"  # expired, not purged yet
    MISSING = "missing"  # its resource no longer exists


def lock_id(token: str) -> str:
    return token.removeprefix(OPAQUE_LOCK_TOKEN_SCHEME)[:ID_LENGTH]


def token_prefix(token: str) -> str:
    return f"{OPAQUE_LOCK_TOKEN_SCHEME}{lock_id(token)}\u2026"


def normalise_id(ident: str) -> str:
    """What an id, a prefix or a whole token is compared by (lower case, no scheme)."""
    return ident.strip().strip("<>").removeprefix(OPAQUE_LOCK_TOKEN_SCHEME).lower()


def matches(lock: Lock, ident: str) -> bool:
    """``ident`` (an id, a longer prefix, or the whole token) names ``lock``."""
    wanted = normalise_id(ident)
    return len(wanted) >= MIN_ID_LENGTH and normalise_id(lock.token).startswith(wanted)


def kind_name(lock: Lock) -> str:
    """``lock``, ``freeze`` or ``drain`` (a freeze refusing new locks only)."""
    if lock.is_freeze:
        return "drain" if lock.drain else "freeze"
    return "lock"


def state_of(lock: Lock, now: float, exists: Exists | None) -> State:
    if lock.is_expired(now):
        return State.EXPIRED
    if lock.is_write and exists is not None and not exists(lock.root):
        return State.MISSING
    return State.ACTIVE


def describe(lock: Lock, now: float, state: State = State.ACTIVE) -> dict[str, Any]:
    """Every fact an administrator needs, in JSON types; the token only as a prefix."""
    view: dict[str, Any] = {
        "id": lock_id(lock.token),
        "token_prefix": token_prefix(lock.token),
        "kind": kind_name(lock),
        "root": lock.root,
        "collection": lock.collection,
        "depth": lock.depth.value,
        "scope": lock.scope.value,
        "owner": owner_text(lock),
        "principal": lock.principal,
        "client": lock.client,
        "address": lock.address,
        "created": rfc3339(lock.created_at),
        "refreshed": rfc3339_or_none(lock.refreshed_at),
        "expires": rfc3339_or_none(lock.expires_at),
        "seconds_left": lock.seconds_left(now),
        "state": state.value,
        "stale": state is not State.ACTIVE,
    }
    if lock.is_freeze:
        view.update(reason=lock.reason, drain=lock.drain, locked_by=lock.principal)
    return view


@dataclass(frozen=True)
class Filters:
    """Which locks to list.  ``path``: at or below this path (whole segments);
    ``expiring``: ends within this many seconds (infinite ones never do);
    ``stale``: only stale ones (True), only others (False), both (None);
    ``kind``: ``lock`` (write locks), ``freeze`` (freezes, draining ones too) or ``all``."""

    path: str | None = None
    principal: str | None = None
    expiring: int | None = None
    stale: bool | None = None
    kind: str = "lock"

    def keeps(self, lock: Lock, state: State, now: float) -> bool:
        if self.kind == "lock" and not lock.is_write:
            return False
        if self.kind == "freeze" and not lock.is_freeze:
            return False
        if self.path and not is_ancestor_or_self(canonical_path(self.path), lock.root):
            return False
        if self.principal is not None and lock.principal != self.principal:
            return False
        if self.expiring is not None:
            left = lock.seconds_left(now)
            if left is None or left > self.expiring:
                return False
        stale = state is not State.ACTIVE
        return self.stale is None or stale == self.stale


def select(
    records: Iterable[Lock], filters: Filters, now: float, exists: Exists | None
) -> list[tuple[Lock, State]]:
    """The records the filters keep, with their state, by root then creation.
    Expired ones are shown only to whoever asks for stale locks."""
    chosen = []
    for lock in records:
        state = state_of(lock, now, exists)
        if state is State.EXPIRED and filters.stale is not True:
            continue
        if filters.keeps(lock, state, now):
            chosen.append((lock, state))
    return sorted(chosen, key=lambda pair: (pair[0].root, pair[0].created_at, pair[0].token))
