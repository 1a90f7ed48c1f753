"""Per-user, per-path permissions: who may read, write (and lock) where.

Rules come from the ``permissions`` config key, a list of
``{path: /folder, users: [alice, "*"], access: none|read|write}``.  For a user
and a path, the rules whose path is the resource or one of its ancestors
apply; the most specific path wins, and at the same path a rule naming the
user beats one for everybody (``"*"``; ``"anonymous"`` names unauthenticated
requests).  No rules at all: everybody may do everything the share allows.
With rules, a path no rule covers is ``none``.

``write`` includes locking: a lock is a promise to write (RFC 4918 §6).  A
``read`` subtree is a read-only subtree; a user with ``write`` on ``/alice``
and ``none`` on ``/`` is confined to that folder (listings of ``/`` show them
nothing else, so clients can still mount the root).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from davserver.config.permission_rules import ANONYMOUS, ANYONE, Rule
from davserver.config.permission_rules import Access as Access  # what the pages compare with
from davserver.errors import Forbidden
from davserver.locking.model import is_ancestor_or_self


class Permissions:
    def __init__(self, rules: Sequence[Rule] = ()):
        self.rules = tuple(rules)

    @property
    def active(self) -> bool:
        return bool(self.rules)

    def access(self, principal: str | None, path: str) -> Access:
        """What ``principal`` (None: anonymous) may do at canonical ``path``."""
        if not self.rules:
            return Access.WRITE
        who = principal or ANONYMOUS
        best: tuple[int, int, Access] | None = None
        for rule in self.rules:
            if not is_ancestor_or_self(rule.path, path):
                continue
            if who in rule.users:
                rank = 1
            elif ANYONE in rule.users:
                rank = 0
            else:
                continue
            key = (len(rule.path), rank, rule.access)
            if best is None or key[:2] > best[:2]:
                best = key
        return best[2] if best is not None else Access.NONE

    def visible(self, principal: str | None, path: str) -> bool:
        """Whether a listing shows ``path``: readable itself, or on the way to a
        folder the user may read (so a confined user can walk down to it)."""
        if self.access(principal, path) >= Access.READ:
            return True
        who = principal or ANONYMOUS
        return any(
            rule.access >= Access.READ
            and (who in rule.users or ANYONE in rule.users)
            and rule.path != path
            and is_ancestor_or_self(path, rule.path)
            for rule in self.rules
        )


READ_METHODS = frozenset({"GET", "HEAD", "PROPFIND", "OPTIONS"})


def _weakest_below(perms: Permissions, principal: str | None, path: str) -> Access:
    """The least access the user has anywhere strictly below ``path``, as far as rules
    say (a depth-infinity operation acts on all of it)."""
    levels = [
        perms.access(principal, rule.path)
        for rule in perms.rules
        if rule.path != path and is_ancestor_or_self(path, rule.path)
    ]
    return min(levels, default=Access.WRITE)


def _require(
    perms: Permissions, principal: str | None, path: str, level: Access, *, subtree: bool
) -> None:
    who = principal or "anonymous users"
    if perms.access(principal, path) < level:
        raise Forbidden(f"{who} may not {level.name.lower()} {path}")
    if subtree and _weakest_below(perms, principal, path) < level:
        raise Forbidden(f"{who} may not {level.name.lower()} everything below {path}")


def authorize(perms: Permissions, request: Any) -> None:
    """Refuse (403) what the rules do not allow ``request.principal`` to do.

    Reads need ``read`` (collections that merely lead to a readable folder may be
    listed, filtered); writes and locks need ``write``; COPY needs ``read`` on
    the whole source and ``write`` on the destination, MOVE ``write`` on both;
    depth-infinity operations need the level on everything below as well.
    """
    if not perms.active:
        return
    principal, path, method = request.principal, request.path, request.method
    if method in READ_METHODS:
        if not perms.visible(principal, path):
            _require(perms, principal, path, Access.READ, subtree=False)
        return
    infinite = request.depth in (None, "infinity")
    if method in ("COPY", "MOVE"):
        source_level = Access.WRITE if method == "MOVE" else Access.READ
        _require(perms, principal, path, source_level, subtree=infinite)
        if request.destination is not None:
            _require(perms, principal, request.destination.path, Access.WRITE, subtree=True)
        return
    subtree = method == "DELETE" or (method == "LOCK" and infinite)
    _require(perms, principal, path, Access.WRITE, subtree=subtree)
