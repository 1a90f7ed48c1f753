"""Request ids: the client's own ``X-Request-Id`` when it is sane, else a new one."""

from __future__ import annotations

import random
import re

_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def new_id() -> str:
    """16 random hex digits.  An id names a request in the logs and is no
    secret: the process's pseudo-random generator (reseeded in every forked
    worker) serves, without a ``getrandom`` system call per request."""
    return f"{random.getrandbits(64):016x}"


def request_id(incoming: str | None) -> str:
    """``incoming`` (a client's or a proxy's ``X-Request-Id``) when it is a sane
    id (up to 64 of letters, digits and ``._:-``), else a new one."""
    if incoming and _SANE_ID.fullmatch(incoming):
        return incoming
    return new_id()
