"""systemd readiness notification (``sd_notify``, ``Type=notify``), without libsystemd.

systemd passes a datagram socket in ``$NOTIFY_SOCKET`` (a path, or ``@name``
for the abstract namespace); we send ``READY=1`` once serving, ``RELOADING=1``
then ``READY=1`` around a SIGHUP reload, and ``STOPPING=1`` when draining.
Without the variable this does nothing.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time

ENV = "NOTIFY_SOCKET"


def notify(*states: str) -> bool:
    """Send ``states`` (e.g. ``"READY=1"``); False when not under systemd or on error."""
    address = os.environ.get(ENV)
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    message = "\n".join(states).encode("utf-8")
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(message)
        return True
    return False


def ready(status: str = "") -> bool:
    return notify("READY=1", *([f"STATUS={status}"] if status else []))


def reloading() -> bool:
    # MONOTONIC_USEC lets systemd (Type=notify-reload) match the reload to this signal.
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify("RELOADING=1", f"MONOTONIC_USEC={usec}")


def stopping() -> bool:
    return notify("STOPPING=1")
