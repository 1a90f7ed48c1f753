"""Who the client is behind a reverse proxy: ``X-Forwarded-*`` and RFC 7239 ``Forwarded``.

The headers are believed only from a peer in ``trusted_proxies``; from anyone
else they are ignored, so a client cannot name itself someone else.  The walk
goes from the right (the hop nearest to us) and skips trusted proxies: the first
address that is not one is the client (RFC 7239 §7.4, and what nginx's
``real_ip_recursive`` does).  ``Forwarded`` wins over ``X-Forwarded-For`` when both
are sent.  An obfuscated identifier or ``unknown`` (RFC 7239 §6) keeps the
proxy's address (its ``proto`` still counts).  A header that cannot be parsed
keeps the proxy's address and the connection's scheme: the request is served
(never a 400 or 500 for a proxy's mistake), and nothing the header said is believed.

The host the client addressed (``Forwarded: host=`` of the hop that named the
client, else ``X-Forwarded-Host``, paired with the hops like ``X-Forwarded-Proto``)
is decided here too, under the same trust (``Origin.host``): a COPY or MOVE
Destination may name it as well as ``Host``.  From an untrusted peer it is
never set, so such a Destination is another server's (502).

:func:`resolve` is the pure part; :func:`origin_of` applies it once per request:
the HTTP adapter puts its verdict in the typed request (client, scheme, proxy,
host), so that everything after it (the access log, login throttling, lock
records, quotas, the plain-HTTP Basic check) reads the one value.  The admin
listener's application applies it the same way.  ``Origin.trusted`` says whether
the peer itself is a trusted proxy (whatever its headers said): the one verdict a
single sign-on proxy's ``user_header`` is believed by.  The HTTP layer below
(connections and body waiters per address) counts before any header exists: it
sees the proxy.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from davserver.common.net import Network as Network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

log = logging.getLogger(__name__)
_warned = False

SCHEMES = frozenset({"http", "https"})


class Malformed(ValueError):
    """A forwarding header from a trusted proxy that cannot be read."""


def parse_address(text: str) -> Address | None:
    """An address as peers and proxies write it (``[v6]:port``, ``v4:port``, a zone), or None."""
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        text = host
    elif text.count(":") == 1:  # IPv4 with a port
        host, _, port = text.partition(":")
        if not port.isdigit():
            return None
        text = host
    try:
        address = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped if mapped is not None else address


@dataclass(frozen=True)
class Origin:
    """Where a request comes from: the client, its scheme, and the proxy that said so."""

    address: str
    scheme: str
    proxy: str | None = None  # set only when a trusted proxy named the client
    host: str | None = None  # set only when a trusted proxy named the addressed host
    # The peer is in trusted_proxies (whatever its headers said): the verdict the
    # proxy's identity header (user_header) is believed by.
    trusted: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class Hop:
    """One hop a proxy recorded: the address it saw (None: obfuscated/unknown) and scheme."""

    address: Address | None
    scheme: str | None = None
    host: str | None = None


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if '"' in value:
        raise Malformed(f"a stray quote in {value!r}")
    return value


def _split(header: str, separator: str) -> list[str]:
    """Split at ``separator`` outside quoted strings (RFC 9110 §5.6.4)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in header:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if quoted:
        raise Malformed("an unterminated quoted string")
    parts.append("".join(current))
    return parts


def _forwarded_hop(element: str) -> Hop:
    pairs: dict[str, str] = {}
    for pair in _split(element, ";"):
        if not pair.strip():
            continue
        name, sep, value = pair.partition("=")
        name = name.strip().lower()
        if not sep or not name or name in pairs:
            raise Malformed(f"not a name=value pair: {pair.strip()!r}")
        pairs[name] = _unquote(value)
    if "for" not in pairs:
        raise Malformed(f"no for= in {element.strip()!r}")
    node = pairs["for"]
    address = parse_address(node)
    if address is None and not (node.lower() == "unknown" or node.startswith("_")):
        raise Malformed(f"for={node!r} is neither an address, 'unknown' nor an obfuscated name")
    proto = pairs.get("proto")
    host = pairs.get("host")
    return Hop(
        address,
        proto.lower() if proto is not None else None,
        _host(host) if host is not None else None,
    )


def _host(value: str) -> str:
    """A ``host[:port]`` as a proxy forwards it (RFC 9110 §7.2); Malformed otherwise."""
    value = value.strip()
    try:
        parts = urlsplit(f"//{value}")
        valid = bool(parts.hostname) and parts.netloc == value and "@" not in value
        _ = parts.port  # ValueError for a port that is no number
    except ValueError:
        valid = False
    if not valid or any(ch in value for ch in " \t/?#"):
        raise Malformed(f"host {value!r} is not a host name with an optional port")
    return value


def forwarded_hops(header: str) -> list[Hop]:
    """RFC 7239 §4: comma-separated elements of ``;``-separated pairs, left to right."""
    return [_forwarded_hop(element) for element in _split(header, ",")]


def x_forwarded_hops(
    for_header: str, proto_header: str | None, host_header: str | None = None
) -> list[Hop]:
    """``X-Forwarded-For`` (``client, proxy1, ...``) with ``X-Forwarded-Proto`` and
    ``X-Forwarded-Host``: one value is that of every hop (proxies usually overwrite
    it); as many values as addresses pair up; any other count is the left-most value."""
    hops = []
    for entry in for_header.split(","):
        address = parse_address(entry)
        if address is None and entry.strip().lower() != "unknown":
            raise Malformed(f"X-Forwarded-For entry {entry.strip()!r} is not an address")
        hops.append(address)
    protos = [p.strip().lower() for p in proto_header.split(",")] if proto_header else []
    hosts = [_host(h) for h in host_header.split(",")] if host_header else []
    pairs = zip(hops, _per_hop(protos, hops), _per_hop(hosts, hops), strict=True)
    return [Hop(*pair) for pair in pairs]


def _per_hop(values: list[str], hops: list[Address | None]) -> list[str | None]:
    if len(values) == len(hops):
        return list(values)
    return [values[0] if values else None] * len(hops)


def is_trusted(address: Address | None, trusted: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in trusted)


def resolve(peer: str, scheme: str, headers: dict[str, str], trusted: Sequence[Network]) -> Origin:
    """The client and scheme of a request from ``peer`` (see the module docstring).
    ``headers`` maps lower-case names (``forwarded``, ``x-forwarded-for``,
    ``x-forwarded-proto``) to values; raises Malformed for a trusted peer's bad header."""
    if not is_trusted(parse_address(peer), trusted):
        return Origin(peer, scheme)
    return replace(_named(peer, scheme, headers, trusted), trusted=True)


def _named(peer: str, scheme: str, headers: dict[str, str], trusted: Sequence[Network]) -> Origin:
    """What a trusted peer's forwarding headers say (see :func:`resolve`)."""
    if "forwarded" in headers:
        hops = forwarded_hops(headers["forwarded"])
    elif "x-forwarded-for" in headers:
        hops = x_forwarded_hops(
            headers["x-forwarded-for"],
            headers.get("x-forwarded-proto"),
            headers.get("x-forwarded-host"),
        )
    elif "x-forwarded-proto" in headers or "x-forwarded-host" in headers:
        # A proxy that names the scheme or the host only.
        hops = x_forwarded_hops(
            peer, headers.get("x-forwarded-proto"), headers.get("x-forwarded-host")
        )
        return Origin(peer, _scheme(hops[-1], scheme), host=hops[-1].host)
    else:
        return Origin(peer, scheme)
    for hop in reversed(hops):
        if hop.address is None:  # obfuscated or unknown: the proxy stands for the client
            return Origin(peer, _scheme(hop, scheme), host=hop.host)
        if not is_trusted(hop.address, trusted):
            return Origin(str(hop.address), _scheme(hop, scheme), proxy=peer, host=hop.host)
    first = hops[0]
    return Origin(str(first.address), _scheme(first, scheme), proxy=peer, host=first.host)


def _scheme(hop: Hop, default: str) -> str:
    if hop.scheme is None:
        return default
    if hop.scheme not in SCHEMES:
        raise Malformed(f"proto {hop.scheme!r} is neither http nor https")
    return hop.scheme


HEADER_KEYS = {
    "HTTP_FORWARDED": "forwarded",
    "HTTP_X_FORWARDED_FOR": "x-forwarded-for",
    "HTTP_X_FORWARDED_PROTO": "x-forwarded-proto",
    "HTTP_X_FORWARDED_HOST": "x-forwarded-host",
}


def origin_of(environ: Mapping[str, Any], trusted: Sequence[Network]) -> Origin:
    """Who sent the request: the peer, or the client a trusted proxy names."""
    peer = str(environ.get("REMOTE_ADDR", ""))
    scheme = str(environ.get("wsgi.url_scheme", "http"))
    if not trusted:
        return Origin(peer, scheme)
    headers = {name: str(environ[key]) for key, name in HEADER_KEYS.items() if key in environ}
    try:
        return resolve(peer, scheme, headers, trusted)
    except Malformed as exc:
        # A misconfigured proxy sends this on every request: say it once per process.
        level = logging.DEBUG if _warned else logging.WARNING
        log.log(level, "ignored forwarding headers from trusted proxy %s: %s", peer, exc)
        _note_warned()
        return Origin(peer, scheme, trusted=True)  # the proxy's address and the connection's scheme


def _note_warned() -> None:
    global _warned
    _warned = True
