"""Lock events: what happened to a lock, as values (RFC 4918 §6, §9.10, §9.11).

The lock core reports every change of lock state to an optional callback
(``LockManager(events=...)``); what is done with an event — counted, logged,
posted to a webhook — is decided outside the core.  Pure: no I/O, no time
(``at`` is the manager's clock).

Kinds: ``acquired`` (LOCK granted, §9.10), ``refreshed`` (§9.10.2),
``released`` (UNLOCK, §9.11), ``expired`` (the timeout passed, §6.6; reported
when the lock is purged), ``broken`` (an administrator removed it),
``frozen`` and ``unfrozen`` (an administrator froze a subtree for maintenance,
or lifted the freeze; ``unfrozen`` without an actor: the freeze ran out), and
``refused`` (a request was answered 423/412/409 because of a lock; reported by
the request layer, ``precondition`` names the RFC 4918 §16 condition).  A lock
dropped because its resource was deleted or moved (§7.7) is not an event.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from davserver.locking.model import Lock


class LockEventKind(enum.Enum):
    ACQUIRED = "acquired"
    REFRESHED = "refreshed"
    RELEASED = "released"
    EXPIRED = "expired"
    BROKEN = "broken"
    FROZEN = "frozen"
    UNFROZEN = "unfrozen"
    REFUSED = "refused"


@dataclass(frozen=True)
class LockEvent:
    """One lock event.

    ``lock`` is the lock concerned (for ``refused``: the first blocking lock, if
    known); ``path`` the request's resource; ``actor`` the principal who caused
    it (``None``: anonymous, or the server itself for ``expired``).
    """

    kind: LockEventKind
    at: float
    lock: Lock | None = None
    path: str | None = None
    actor: str | None = None
    precondition: str | None = None
    blocking: tuple[Lock, ...] = ()


# Called synchronously by the manager, after the store changed; it must not
# raise and must not block (queue slow work).
EventSink = Callable[[LockEvent], None]
