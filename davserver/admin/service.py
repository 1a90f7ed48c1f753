"""What administrators do with locks, once for the API, the console and the command line.

List with filters, look one up by id, break one (its holder is told who, when
and why: :meth:`LockManager.break_lock` leaves a tombstone), freeze a subtree
for maintenance and lift the freeze.  Every change is written to the audit
trail with who did it and through what.  Reasons are required (the old holder
and everyone refused by a freeze read them) and bounded (``admin_reason_max``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from davserver.admin.audit import AuditEntry, AuditLog
from davserver.admin.http.schema import admin_path
from davserver.admin.times import freeze_end
from davserver.admin.views import Exists, Filters, State, describe, matches, select, state_of
from davserver.common.dates import rfc3339_or_none
from davserver.errors import Conflict, NotFound, RequestError
from davserver.locking.maintenance import BROKEN_MEMORY_MAX, FreezeRequest
from davserver.locking.manager import LockManager
from davserver.locking.model import Lock

# Characters a reason may not contain: it ends up in headers, logs and XML.
_CONTROL = {chr(code) for code in range(32) if chr(code) not in "\t"} | {"\x7f"}


@dataclass(frozen=True)
class Actor:
    """Who acts (an administrator's user name, or the operating-system user of the
    command line) and through what: ``api``, ``console`` or ``cli``."""

    name: str | None
    via: str


class AdminService:
    def __init__(
        self,
        manager: LockManager,
        audit: AuditLog,
        *,
        exists: Exists | None = None,
        memory_max: int = BROKEN_MEMORY_MAX,
        reason_max: int = 500,
    ):
        self.manager = manager
        self.audit = audit
        self.exists = exists
        self.memory_max = memory_max
        self.reason_max = reason_max

    @property
    def now(self) -> float:
        return self.manager.clock()

    # -- reading -----------------------------------------------------------

    def listing(self, filters: Filters) -> list[dict[str, Any]]:
        now = self.now
        records = self.manager.records(expired=filters.stale is True)
        return [
            describe(lock, now, state) for lock, state in select(records, filters, now, self.exists)
        ]

    def find(self, ident: str, *, kind: str = "all") -> Lock:
        """The lock (or freeze) ``ident`` names: 404 for none, 409 when ambiguous."""
        found = [
            lock
            for lock in self.manager.records(expired=True)
            if matches(lock, ident) and (kind == "all" or _is(lock, kind))
        ]
        if not found:
            what = "freeze" if kind == "freeze" else "lock"
            raise NotFound(f"no {what} has the id {ident!r} (ids come from the lock list)")
        if len(found) > 1:
            raise Conflict(f"{len(found)} locks have ids starting with {ident!r}: give more of it")
        return found[0]

    def view(self, lock: Lock) -> dict[str, Any]:
        now = self.now
        return describe(lock, now, state_of(lock, now, self.exists))

    def audit_entries(self, limit: int = 200) -> list[dict[str, Any]]:
        return self.audit.tail(limit)

    # -- changing -------------------------------------------------------------

    def reason(self, text: Any) -> str:
        """The reason as given, or 400: required, one line, at most ``reason_max``."""
        reason = "" if text is None else str(text)
        reason = " ".join("".join(c for c in reason if c not in _CONTROL).split())
        if not reason:
            raise RequestError("a reason is required (it is shown to the people affected)")
        if len(reason) > self.reason_max:
            raise RequestError(
                f"the reason is longer than {self.reason_max} characters (config key "
                "admin.reason_max)"
            )
        return reason

    def break_lock(self, ident: str, reason: Any, actor: Actor) -> dict[str, Any]:
        """Break the lock ``ident`` names; an expired one is just removed."""
        why = self.reason(reason)
        lock = self.find(ident, kind="lock")
        view = self.view(lock)
        if lock.is_expired(self.now):
            self.manager.discard(lock.token)
            self._record("discard", actor, lock.root, why, view)
            return {"discarded": view}
        broken = self.manager.break_lock(lock.token, actor.name, why, self.memory_max)
        if broken is None:
            raise NotFound(f"the lock {view['id']} is gone (released or expired meanwhile)")
        self._record("break", actor, lock.root, why, view)
        tombstone = self.manager.broken(lock.token)
        remembered = rfc3339_or_none(tombstone.expires_at) if tombstone is not None else None
        return {"broken": view, "by": actor.name, "reason": why, "remembered_until": remembered}

    def freeze(
        self,
        path: Any,
        reason: Any,
        actor: Actor,
        *,
        until: str | None = None,
        duration: str | int | None = None,
        drain: bool = False,
    ) -> Lock:
        root = admin_path(path, "the path to freeze")
        why = self.reason(reason)
        end = freeze_end(until, duration, self.now)
        wanted = FreezeRequest(root, why, actor.name, end, drain)
        freeze = self.manager.freeze(wanted)
        self._record("freeze", actor, freeze.root, why, self.view(freeze))
        return freeze

    def lift(self, ident: str, actor: Actor) -> Lock:
        freeze = self.find(ident, kind="freeze")
        lifted = self.manager.unfreeze(freeze.token, actor.name)
        if lifted is None:  # expired meanwhile, or lifted by someone else
            self.manager.discard(freeze.token)
            lifted = freeze
        self._record("unfreeze", actor, lifted.root, "", self.view(lifted))
        return lifted

    def lift_path(self, path: str, actor: Actor) -> list[Lock]:
        """Lift every freeze rooted exactly at ``path``."""
        root = admin_path(path)
        here = [lock for lock in self.manager.records() if lock.is_freeze and lock.root == root]
        return [self.lift(lock.token, actor) for lock in here]

    def _record(
        self, action: str, actor: Actor, path: str, reason: str, view: dict[str, Any]
    ) -> None:
        entry = AuditEntry(self.now, action, actor.name, actor.via, path, reason, view)
        self.audit.record(entry)


def _is(lock: Lock, kind: str) -> bool:
    return lock.is_freeze if kind == "freeze" else lock.is_write


__all__ = ["Actor", "AdminService", "Filters", "State"]
