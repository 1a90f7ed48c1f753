"""Who is an administrator: the one answer the admin listener and the lock policy ask for.

An administrator is a user named in ``admins``, or one the login controller
vouches for: a controller with an ``is_admin(user) -> bool`` method is asked
about everyone else (the LDAP controller answers from ``ldap.admin_group``,
as learnt at the user's latest login check, so with its login cache).  A site's
own WsgiDAV controller can offer the same method.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

Check = Callable[[str], bool]


class Admins:
    """``principal in admins``: the static names, then the controller's check."""

    def __init__(self, names: Iterable[str] = (), check: Check | None = None):
        self.names = frozenset(names)
        self.check = check

    def __contains__(self, principal: object) -> bool:
        if not isinstance(principal, str) or not principal:
            return False
        if principal in self.names:
            return True
        return self.check is not None and self.check(principal)

    def __repr__(self) -> str:
        extra = " + controller" if self.check is not None else ""
        return f"Admins({sorted(self.names)}{extra})"


def admins_of(names: Iterable[str], controller: Any) -> Admins:
    """The administrators: ``names`` and whoever ``controller.is_admin`` accepts."""
    check = getattr(controller, "is_admin", None)
    return Admins(names, check if callable(check) else None)
