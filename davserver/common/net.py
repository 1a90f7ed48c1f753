"""Address facts shared by the start-up checks and the login layer."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def is_loopback(host: str) -> bool:
    """``host`` is only reachable from this machine (a host name may resolve to anything)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """``trusted_proxies`` entries (addresses or CIDRs); ValueError names a bad one."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or CIDR network: {entry!r}") from None
    return tuple(networks)
