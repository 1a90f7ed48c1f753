"""Store faults: what is wrong, what the administrator should do, one log line each.

Every request that needs lock state and meets a faulty store is answered 503
with Retry-After (:class:`~davserver.errors.StoreUnavailable`): never a write
without its lock check, never a crash.  Faults come in two classes:

* *transient* (busy, unreachable): operations try the store again, and the
  first success ends the episode.  An *unreachable* store that failed slowly
  (after :data:`SLOW_FAILURE` seconds or more: a Redis that hangs, a network
  that drops packets) is tried by one operation per :data:`RECHECK_INTERVAL`
  and the others are refused at once; it would otherwise hold every request
  for the client's timeout, and reads that go on without lock state
  (PROPFIND, listings) would wait for nothing.  One that refuses at once
  (Redis down) is tried by every operation: that costs nothing;
* *broken* (deleted, replaced, not writable, corrupt, lost data, …): the store
  is not touched again until a re-check — at most once per
  :data:`RECHECK_INTERVAL` — finds it sound (for lost data: until an
  administrator confirms it); in between every operation is refused at once,
  so a store that fails once answers no request from half-trusted state.

Each process logs one WARNING when an episode starts — what is wrong and what
to do — and one INFO when it ends; a new episode of the same kind within
:data:`QUIET_INTERVAL` of the last one logged is not logged again, so a store
that flickers under load cannot flood the log.  Clients get the short form:
what is wrong and who must act, never a path.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from davserver.errors import StoreUnavailable

log = logging.getLogger("davserver.lockstore")

RECHECK_INTERVAL = 1.0  # seconds between re-checks of a broken store
QUIET_INTERVAL = 60.0  # seconds in which the same fault kind is logged once
RETRY_AFTER = 5  # seconds clients are told to wait
SLOW_FAILURE = 1.0  # seconds: an unreachable store that took this long to fail hangs


class FaultKind(enum.Enum):
    """What is wrong, in the words a client is told (``value``)."""

    BUSY = "the lock database is busy"
    UNREACHABLE = "the lock store cannot be reached"
    UNREPLICATED = "the lock store could not copy the change to a replica in time"
    NOT_WRITABLE = "the lock store cannot be written"
    MISSING = "the lock database was deleted"
    REPLACED = "the lock database was replaced"
    CORRUPT = "the lock store holds unreadable data"
    LOST = "the lock store lost its data"
    FAILED = "the lock store failed"

    @property
    def transient(self) -> bool:
        return self in (FaultKind.BUSY, FaultKind.UNREACHABLE, FaultKind.UNREPLICATED)

    @property
    def who_acts(self) -> str:
        """The part of the client's message that says what happens next."""
        if self.transient:
            return "try again shortly"
        if self in (FaultKind.LOST, FaultKind.MISSING, FaultKind.REPLACED):
            return (
                "lock operations are refused until an administrator checks it and runs "
                "davserver locks confirm-store"
            )
        return "lock operations are refused until an administrator repairs it"


@dataclass(frozen=True)
class Fault:
    """One fault: ``detail`` says what is wrong and ``advice`` what to do (both for
    the log; they may name files and hosts)."""

    kind: FaultKind
    detail: str
    advice: str

    @property
    def public(self) -> str:
        return f"{self.kind.value}; {self.kind.who_acts}"


Recheck = Callable[[], "Fault | None"]


class StoreHealth:
    """The fault state of one store in one process (shared by its lock and
    property stores); thread-safe."""

    def __init__(self, name: str, clock: Callable[[], float] = time.monotonic):
        self.name = name
        self._clock = clock
        self._mutex = threading.Lock()
        self._broken: Fault | None = None
        self._transient: FaultKind | None = None
        self._recheck_at = 0.0
        self._hanging = False  # unreachable, and it failed slowly
        self._retry_at = 0.0  # while it hangs: when the next operation may try it
        self._local = threading.local()  # when this thread's operation began
        self._logged_at: dict[FaultKind, float] = {}

    @property
    def broken(self) -> Fault | None:
        return self._broken

    def fail(self, fault: Fault) -> StoreUnavailable:
        """Record ``fault`` (logging it if it starts an episode); the exception to raise."""
        with self._mutex:
            starts = (
                self._transient is not fault.kind
                if fault.kind.transient
                else self._broken is None or self._broken.kind is not fault.kind
            )
            if fault.kind.transient:
                self._transient = fault.kind
                self._hanging = fault.kind is FaultKind.UNREACHABLE and self._slow()
                if self._hanging:
                    self._retry_at = self._clock() + RECHECK_INTERVAL
            else:
                self._broken = fault
                self._recheck_at = self._clock() + RECHECK_INTERVAL
            quiet = self._clock() - self._logged_at.get(fault.kind, -QUIET_INTERVAL)
            if starts and quiet >= QUIET_INTERVAL:
                self._logged_at[fault.kind] = self._clock()
                log.warning("lock store %s: %s. %s", self.name, fault.detail, fault.advice)
        return StoreUnavailable(fault.public, RETRY_AFTER)

    def gate(self, recheck: Recheck) -> None:
        """Before an operation: refuse at once while broken, except for a re-check
        at most once per :data:`RECHECK_INTERVAL` (``recheck`` returns the fault
        that remains, or None when the store is sound again)."""
        broken = self._broken
        self._local.began = self._clock()
        if broken is None:
            if self._hanging:
                self._gate_hanging()
            return
        with self._mutex:
            due = self._clock() >= self._recheck_at
            if due:
                self._recheck_at = self._clock() + RECHECK_INTERVAL
        if not due:
            raise StoreUnavailable(broken.public, RETRY_AFTER)
        remaining = recheck()
        if remaining is not None:
            raise self.fail(remaining)
        self.repaired(f"{broken.kind.value}, and is sound again")

    def _slow(self) -> bool:
        """Whether this thread's operation took :data:`SLOW_FAILURE` or more."""
        began = getattr(self._local, "began", None)
        self._local.began = None
        return began is not None and self._clock() - began >= SLOW_FAILURE

    def _gate_hanging(self) -> None:
        """One operation per :data:`RECHECK_INTERVAL` tries a store that did not
        answer in time; the others are refused without waiting for it."""
        with self._mutex:
            now = self._clock()
            due = now >= self._retry_at
            if due:
                self._retry_at = now + RECHECK_INTERVAL
        if not due:
            raise StoreUnavailable(Fault(FaultKind.UNREACHABLE, "", "").public, RETRY_AFTER)

    def repaired(self, how: str) -> None:
        """End a broken episode (a re-check passed, or the store was confirmed)."""
        with self._mutex:
            if self._broken is None:
                return
            self._broken = None
        log.info("lock store %s: %s", self.name, how)

    def succeeded(self) -> None:
        """After an operation that worked: ends a transient episode."""
        self._local.began = None
        if self._transient is None:
            return
        with self._mutex:
            kind, self._transient = self._transient, None
            self._hanging = False
        if kind is not None:
            log.info("lock store %s works again (%s before)", self.name, kind.value)
