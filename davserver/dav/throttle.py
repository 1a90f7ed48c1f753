"""Failed-login throttling, per client address and per user name.

Password guessing costs the server a bcrypt check per attempt (tens to hundreds
of milliseconds of CPU): unthrottled, a few dozen parallel guesses make every
other user wait.  After ``max_failures`` failures within ``window`` seconds, an
address (or a user name, whoever tries it) is refused with 429 until the
window has passed — without a password check, so refusing costs nothing and
other users are not slowed down.  A successful login clears the address.

State is per process (each worker counts on its own), bounded in size, and the
clock is a parameter so that tests never sleep.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_TRACKED = 10_000  # addresses and user names remembered at most (oldest dropped)


class LoginThrottle:
    def __init__(
        self,
        max_failures: int = 10,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._failures: OrderedDict[str, list[float]] = OrderedDict()
        self._mutex = threading.Lock()

    def _recent(self, key: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(key, ()) if now - t < self.window]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def retry_after(self, address: str, user: str) -> int | None:
        """Seconds to wait when this address or this user is throttled, else None."""
        if self.max_failures <= 0:
            return None
        now = self.clock()
        with self._mutex:
            waits = [
                self.window - (now - times[-self.max_failures])
                for key in (f"a:{address}", f"u:{user}")
                if len(times := self._recent(key, now)) >= self.max_failures
            ]
        return max(1, int(max(waits) + 0.999)) if waits else None

    def failed(self, address: str, user: str) -> None:
        now = self.clock()
        with self._mutex:
            for key in (f"a:{address}", f"u:{user}"):
                times = self._recent(key, now)
                times.append(now)
                self._failures[key] = times[-self.max_failures :] or times
                self._failures.move_to_end(key)
            while len(self._failures) > MAX_TRACKED:
                self._failures.popitem(last=False)

    def succeeded(self, address: str) -> None:
        with self._mutex:
            self._failures.pop(f"a:{address}", None)
