"""Values of the lock core: frozen dataclasses and enums (RFC 4918 §6, §14).

Besides RFC 4918 write locks the store holds two kinds of our own (see
:class:`LockKind`): *freezes*, maintenance locks an administrator puts on a
subtree, and *tombstones*, what is remembered of a lock an administrator broke
so that its old holder can be told why.  They live in the lock store so that
every worker, every server sharing a Redis and every restart sees them.

Paths in the core are *canonical resource paths*: they start with ``/``, never
end with ``/`` (except the root ``/`` itself), are percent-decoded and relative
to the share root (no mount prefix).  The HTTP layer converts to and from URLs.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Scope(enum.Enum):
    """Lock scope (RFC 4918 §14.13)."""

    EXCLUSIVE = "exclusive"
    SHARED = "shared"


class Depth(enum.Enum):
    """Depth of a lock or of a change: the resource alone, or it and all members."""

    ZERO = "0"
    INFINITY = "infinity"


class LockKind(enum.Enum):
    """What a stored lock record is.

    ``WRITE``: an RFC 4918 write lock (§6).  ``FREEZE``: a maintenance lock on a
    subtree (depth infinity): no write and no new LOCK there, for anyone, while
    it lasts (with ``drain``, new LOCKs only).  ``BROKEN``: a tombstone under the
    token of a write lock an administrator broke; it grants and blocks nothing and
    expires when the lock would have.
    """

    WRITE = "write"
    FREEZE = "freeze"
    BROKEN = "broken"


CLIENT_MAX = 256  # characters of User-Agent kept with a lock: enough to recognise a client


def canonical_path(path: str) -> str:
    """Return ``path`` in canonical form: leading ``/``, no trailing ``/``, no ``//``."""
    parts = [p for p in path.split("/") if p]
    return "/" + "/".join(parts)


def is_ancestor_or_self(ancestor: str, path: str) -> bool:
    """True when ``path`` is ``ancestor`` or lies below it (both canonical)."""
    if ancestor == "/" or ancestor == path:
        return True
    return path.startswith(ancestor + "/")


def ancestors(path: str) -> tuple[str, ...]:
    """Proper ancestors of a canonical path, nearest first: ``/a/b`` -> ``/a``, ``/``."""
    result: list[str] = []
    while path != "/":
        path = path.rsplit("/", 1)[0] or "/"
        result.append(path)
    return tuple(result)


@dataclass(frozen=True)
class Lock:
    """An active write lock (RFC 4918 §6).

    ``owner`` is the client's ``DAV:owner`` element serialised verbatim (may be
    empty).  ``principal`` is the authenticated user that created the lock, or
    ``None`` for anonymous access.  ``timeout`` is the granted timeout in seconds
    (``None`` = infinite) and ``expires_at`` the absolute expiry on the clock the
    manager was given (``None`` = never).

    Fields with defaults came later, so records stored before them still decode:
    ``client`` (User-Agent) and ``address`` (client IP) the LOCK came from,
    ``refreshed_at`` the last refresh (``None``: never refreshed), ``kind`` (see
    :class:`LockKind`), ``reason`` (why it was frozen, or why it was broken),
    ``drain`` (a freeze that refuses new LOCKs only), ``broken_by`` and
    ``broken_at`` (tombstones: who broke the lock, and when).  For a freeze,
    ``principal`` is the administrator who froze the subtree.
    """

    token: str
    root: str
    scope: Scope
    depth: Depth
    owner: str
    principal: str | None
    timeout: int | None
    expires_at: float | None
    created_at: float
    collection: bool = False
    client: str = ""
    address: str = ""
    refreshed_at: float | None = None
    kind: LockKind = LockKind.WRITE
    reason: str = ""
    drain: bool = False
    broken_by: str | None = None
    broken_at: float | None = None

    def __post_init__(self) -> None:
        if not self.token.startswith("opaquelocktoken:"):
            raise ValueError(f"lock token must be an opaquelocktoken URI: {self.token!r}")
        if self.root != canonical_path(self.root):
            raise ValueError(f"lock root must be a canonical path: {self.root!r}")
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError(f"timeout must be positive or None: {self.timeout!r}")
        if (self.timeout is None) != (self.expires_at is None):
            raise ValueError("timeout and expires_at must both be set or both be None")
        if self.kind is LockKind.FREEZE and self.depth is not Depth.INFINITY:
            raise ValueError("a freeze covers a whole subtree: its depth must be infinity")
        if self.drain and self.kind is not LockKind.FREEZE:
            raise ValueError("only a freeze can be a draining one")
        if (self.kind is LockKind.BROKEN) != (self.broken_at is not None):
            raise ValueError("broken_at is set exactly for tombstones (kind BROKEN)")

    @property
    def is_write(self) -> bool:
        return self.kind is LockKind.WRITE

    @property
    def is_freeze(self) -> bool:
        return self.kind is LockKind.FREEZE

    @property
    def is_tombstone(self) -> bool:
        return self.kind is LockKind.BROKEN

    def is_expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def seconds_left(self, now: float) -> int | None:
        """Whole seconds until expiry (never negative), ``None`` for infinite locks."""
        if self.expires_at is None:
            return None
        return max(0, int(self.expires_at - now + 0.999))

    def covers(self, path: str) -> bool:
        """True when this lock's scope includes the resource at ``path`` (§6.1, §7)."""
        if self.root == path:
            return True
        return self.depth is Depth.INFINITY and is_ancestor_or_self(self.root, path)


@dataclass(frozen=True)
class LockRequest:
    """What a client asks for in a LOCK request (RFC 4918 §9.10)."""

    path: str
    scope: Scope
    depth: Depth
    owner: str
    principal: str | None
    timeout: int | None
    collection: bool = False
    client: str = ""  # User-Agent, cut to CLIENT_MAX characters by the lock
    address: str = ""  # the client's IP address (REMOTE_ADDR)

    def __post_init__(self) -> None:
        if self.path != canonical_path(self.path):
            raise ValueError(f"lock path must be a canonical path: {self.path!r}")
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError(f"timeout must be positive or None: {self.timeout!r}")


@dataclass(frozen=True)
class Change:
    """One thing a write request changes.

    ``Depth.ZERO``: the resource itself (its content, its properties, or — for a
    collection — its membership).  ``Depth.INFINITY``: the resource and every
    member below it (DELETE of a collection, MOVE source, overwritten destination).
    """

    path: str
    depth: Depth = Depth.ZERO

    def __post_init__(self) -> None:
        if self.path != canonical_path(self.path):
            raise ValueError(f"change path must be a canonical path: {self.path!r}")
