"""Redis Sentinel URLs: which sentinels to ask for which master (no redis import).

Form::

    redis+sentinel://[[USER]:PASSWORD@]HOST[:PORT][,HOST[:PORT]...]/SERVICE[/DB][?OPTIONS]
    rediss+sentinel://…    the same over TLS (to the sentinels and to Redis)

``PASSWORD`` (and ``USER``) authenticate to Redis itself; the port defaults to
26379.  Options: ``prefix`` (the key prefix, as for ``redis://``),
``sentinel_username`` and ``sentinel_password`` (when the sentinels require
their own), ``ssl_ca_certs`` (a CA file for ``rediss+sentinel://``).

Parsed here, apart from the client, so that the configuration check can name
what is wrong with a URL without the optional ``redis`` package.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
DEFAULT_SENTINEL_PORT = 26379
OPTIONS = ("prefix", "sentinel_username", "sentinel_password", "ssl_ca_certs")
SECRET_OPTIONS = ("sentinel_password",)

_FORM = "redis+sentinel://[:PASSWORD@]HOST:PORT[,HOST:PORT...]/SERVICE[/DB]"


@dataclass(frozen=True)
class SentinelTarget:
    """What a sentinel URL names."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int
    tls: bool
    username: str | None
    password: str | None
    options: dict[str, str]


def is_sentinel(url: str) -> bool:
    return url.partition("://")[0].lower() in SENTINEL_SCHEMES


def parse_sentinel_url(url: str) -> SentinelTarget:
    """The parts of a sentinel URL; ValueError says what is wrong (never the password)."""
    scheme, rest = url.split("://", 1) if "://" in url else ("", url)
    if scheme.lower() not in SENTINEL_SCHEMES:
        raise ValueError(f"a sentinel URL starts with redis+sentinel:// ({_FORM})")
    netloc, _, tail = rest.partition("/")
    path, _, query = tail.partition("?")
    userinfo, _, hostlist = netloc.rpartition("@")
    username, password = _credentials(userinfo)
    return SentinelTarget(
        sentinels=_hosts(hostlist),
        service=_service(path),
        db=_db(path),
        tls=scheme.lower() == "rediss+sentinel",
        username=username,
        password=password,
        options=_options(query),
    )


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    if not userinfo:
        return None, None
    user, sep, password = userinfo.partition(":")
    return (unquote(user) or None), (unquote(password) if sep else None)


def _hosts(hostlist: str) -> tuple[tuple[str, int], ...]:
    if not hostlist:
        raise ValueError(f"no sentinel host: use {_FORM}")
    return tuple(_host(item) for item in hostlist.split(","))


def _host(item: str) -> tuple[str, int]:
    if item.startswith("["):  # [IPv6] or [IPv6]:PORT
        host, bracket, after = item[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise ValueError(f"sentinel address {item!r} is not [IPV6]:PORT")
        port = after.removeprefix(":")
    else:
        host, _, port = item.partition(":")
    if not host:
        raise ValueError(f"sentinel address {item!r} has no host (HOST:PORT, comma-separated)")
    if not port:
        return host, DEFAULT_SENTINEL_PORT
    if not port.isdigit() or not 0 < int(port) <= 65535:
        raise ValueError(f"sentinel address {item!r}: the port must be a number 1-65535")
    return host, int(port)


def _service(path: str) -> str:
    service = unquote(path.split("/", 1)[0])
    if not service:
        raise ValueError(f"no service name (the master's name in sentinel.conf): use {_FORM}")
    if any(c.isspace() for c in service):
        raise ValueError(f"service name {service!r} contains white space")
    return service


def _db(path: str) -> int:
    parts = path.split("/")
    if len(parts) > 2 and parts[2:] != [""]:
        raise ValueError(f"too many path parts in {'/'.join(parts)!r}: use /SERVICE/DB")
    db = parts[1] if len(parts) > 1 else ""
    if not db:
        return 0
    if not db.isdigit():
        raise ValueError(f"database {db!r} must be a number (0, 1, …)")
    return int(db)


def _options(query: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(query, strict_parsing=bool(query))
    except ValueError as exc:
        raise ValueError(f"unreadable options after '?': {exc}") from None
    unknown = sorted({k for k, _ in pairs} - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown option {unknown[0]!r}; known: {', '.join(OPTIONS)}")
    return dict(pairs)


def mask_options(query: str) -> str:
    """``query`` with the secret options' values replaced by ``***`` (for logs)."""
    out = []
    for part in query.split("&") if query else []:
        key, sep, _ = part.partition("=")
        out.append(f"{key}=***" if sep and unquote(key) in SECRET_OPTIONS else part)
    return "&".join(out)
