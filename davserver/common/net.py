"""Address facts shared by the start-up checks and the login layer."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """``host`` is only reachable from this machine (a host name may resolve to anything)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False
