"""Failed-login throttling, per client address and per user from an address.

Password guessing costs the server a bcrypt check per attempt (tens to hundreds
of milliseconds of CPU).  A login attempt of ``user`` from ``address`` is
refused with 429 — without a password check, so refusing costs nothing — when,
within the last ``window`` seconds:

1. ``address`` had ``max_failures`` failed logins (whichever user names it tried);
2. ``user`` failed ``max_failures`` times from ``address``;
3. ``user`` failed ``user_max_failures`` times from all addresses together (a
   distributed guess of one password) *and* ``address`` already failed for
   ``user``: each address then gets one wrong guess per window for that user.

Never by user name alone: failures from one address cannot lock a user out of
another, and a login from an address without failures is never refused.  An
IPv6 address counts as its /64 network (one subscriber's LAN, and what one
attacker gets for free), an IPv4-mapped one as the IPv4 address.  A
successful login clears the address and that user's failures from it; another
user's success clears the address but not ``user``'s own count there, so one
valid account cannot be used to reset the guesses at another's password.

The counters live in the lock store (:mod:`davserver.lockstore.failures`): every
worker and every server sharing it counts the same failures.  While the store
fails, the throttle counts in this process (one WARNING) and tries the store
again every :data:`STORE_RETRY_S`, rather than refusing every login or none.
The clock is a parameter (tests never sleep); it must be Unix time, shared by
the servers.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from davserver.errors import InsufficientStorage, StoreError
from davserver.lockstore.failures import FailureCounter, MemoryFailureCounter

if TYPE_CHECKING:
    from davserver.config import Config

log = logging.getLogger(__name__)
T = TypeVar("T")

# After a store failure the throttle counts in the process for this long before it
# tries the store again: a store that hangs (a frozen Redis: seconds per call)
# must not add its timeout to every authenticated request.
STORE_RETRY_S = 5.0
MAX_NAME = 256  # characters of a user name kept in a counter's key


def client_of(address: str) -> str:
    """Whose failures ``address``'s are: an IPv6 address's /64, else the address."""
    try:
        parsed = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def keys_of(address: str, user: str) -> tuple[str, str, str]:
    """The counters of one attempt: the client, the user from it, the user.
    No user name contains ":" (RFC 7617), so the keys cannot collide; a long
    one (a header may hold 64 KiB) is stored as its digest."""
    client = client_of(address)
    if len(user) > MAX_NAME:
        user = "#" + hashlib.sha256(user.encode("utf-8", "surrogatepass")).hexdigest()
    return f"a:{client}", f"ua:{user}:{client}", f"u:{user}"


@dataclass(frozen=True)
class Verdict:
    """What the throttle says of one login attempt before its password is checked."""

    wait: int | None  # seconds to wait (429), or None: check the password
    had_failures: bool  # the address, or the user from it, has failures to clear


class LoginThrottle:
    def __init__(
        self,
        max_failures: int = 10,
        window: float = 60.0,
        clock: Callable[[], float] = time.time,
        *,
        counter: FailureCounter | None = None,
        user_max_failures: int = 0,
    ):
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self.user_max_failures = user_max_failures
        self.counter: FailureCounter = counter or MemoryFailureCounter()
        self._local = MemoryFailureCounter()
        self._degraded = False
        self._retry_at = 0.0  # time.monotonic() when a failing store is tried again

    def _call(self, op: Callable[[FailureCounter], T]) -> T:
        """``op`` on the shared counters, or on this process's while they fail."""
        if self._degraded and time.monotonic() < self._retry_at:
            return op(self._local)
        try:
            result = op(self.counter)
        except (StoreError, InsufficientStorage) as exc:
            self._retry_at = time.monotonic() + STORE_RETRY_S
            if not self._degraded:
                self._degraded = True
                log.warning("login failures counted per process while the store fails: %s", exc)
            return op(self._local)
        if self._degraded:
            self._degraded = False
            log.info("login failures counted in the store again")
        return result

    def _wait(self, key: str, limit: int, now: float) -> float:
        """Seconds until ``key`` has fewer than ``limit`` failures in the window."""
        times = self._call(lambda c: c.times(key, now, self.window))
        if len(times) < limit:
            return 0.0
        return times[len(times) - limit] + self.window - now

    def retry_after(self, address: str, user: str) -> int | None:
        """Seconds to wait when this attempt is throttled (see the module), else None."""
        return self.check(address, user).wait

    def check(self, address: str, user: str) -> Verdict:
        """The verdict on an attempt: one read of the counters (more only to tell
        a refused client how long to wait)."""
        if self.max_failures <= 0:
            return Verdict(None, had_failures=False)
        now = self.clock()
        keys = keys_of(address, user)
        counts = self._call(lambda c: c.counts(keys, now, self.window))
        waits = [
            self._wait(key, self.max_failures, now)
            for key, count in zip(keys[:2], counts[:2], strict=True)
            if count >= self.max_failures
        ]
        guarded = 0 < self.user_max_failures <= counts[2]
        if guarded and counts[1] > 0:
            until = self._wait(keys[2], self.user_max_failures, now)
            waits.append(min(self._wait(keys[1], 1, now), until))
        wait = max(1, math.ceil(max(waits))) if waits else None
        return Verdict(wait, had_failures=any(counts[:2]))

    def failed(self, address: str, user: str) -> None:
        if self.max_failures > 0:
            now = self.clock()
            self._call(lambda c: c.add(keys_of(address, user), now, self.window))

    def succeeded(self, address: str, user: str, verdict: Verdict | None = None) -> None:
        """Forget the address's failures and ``user``'s from it.  Called on every
        authenticated request, so with the attempt's ``verdict`` it writes only
        when there was something to clear."""
        if self.max_failures > 0 and (verdict is None or verdict.had_failures):
            self._call(lambda c: c.clear(keys_of(address, user)[:2]))


def login_throttle(config: Config, counter: FailureCounter | None) -> LoginThrottle:
    """The throttle ``config`` asks for, counting in ``counter`` (None: this process)."""
    return LoginThrottle(
        config.auth.max_failures,
        float(config.auth.failure_window),
        counter=counter,
        user_max_failures=config.auth.user_max_failures,
    )
