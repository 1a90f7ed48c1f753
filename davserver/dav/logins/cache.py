"""Logins a directory confirmed, remembered for a bounded time and number.

A WebDAV client sends its credentials with every request; asking the directory
each time would make every request wait for it (and an outage stop everyone at
once).  The key is an HMAC of user name and password under a key made at start
(never the password, nor a hash an attacker holding a memory dump could test
guesses against offline without that key); only confirmed logins are stored,
so a wrong password is asked about every time and never answered from here.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Login:
    """What the directory said of a user whose password was right."""

    allowed: bool  # in the required group (or none is required)
    admin: bool = False  # in ldap.admin_group


class LoginCache:
    def __init__(
        self, seconds: float, size: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = seconds
        self.size = size
        self.clock = clock
        self._secret = secrets.token_bytes(32)
        self._entries: OrderedDict[bytes, tuple[float, Login]] = OrderedDict()
        self._guard = threading.Lock()

    def key(self, user: str, password: str) -> bytes:
        message = user.encode("utf-8", "surrogatepass") + b"\0" + password.encode("utf-8")
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def get(self, key: bytes) -> Login | None:
        now = self.clock()
        with self._guard:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= now:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: bytes, login: Login) -> None:
        if self.seconds <= 0:
            return
        with self._guard:
            self._entries[key] = (self.clock() + self.seconds, login)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)  # the least recently used

    def clear(self) -> None:
        with self._guard:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
