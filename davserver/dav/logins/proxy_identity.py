"""Identity from a trusted proxy: the user a single sign-on proxy names in a header.

Sites that put single sign-on in front (oauth2-proxy, Authelia, Authentik behind
nginx's ``auth_request``) pass the logged-in user in a header, ``Remote-User``
by convention; ``user_header`` names it (off by default).  Its value is the
principal — for locks, permissions, ``admins`` and the access log, exactly as a
Basic login's user name — only when the request's peer is in ``trusted_proxies``
(the verdict :mod:`davserver.http.forwarded` reached for the request, never
derived again here).

From any other peer a request carrying the header is refused with 403, not
served with the header ignored: a proxy that is missing from
``trusted_proxies``, or clients that reach the port around the proxy, would
otherwise get anonymous access (or a password prompt) instead of the user the
operator expects, and nobody would notice.  From a trusted proxy without the
header the request goes on to the Basic-auth step (htpasswd, LDAP or the
configured controller; anonymous without one): the proxy may let some paths
through without single sign-on.  With the header, an ``Authorization`` header
is not looked at.

The value must be a safe name (letters, digits and ``._@+-``, starting with a
letter, digit or ``_``, at most ``user_header_max_length`` characters): it
appears in lock owner displays, the access log and, later, in home folders'
paths.  Anything else is 400 naming the header.  Failed values are not
throttled: only a trusted proxy can send one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from davserver.common.net import is_loopback
from davserver.errors import Forbidden, RequestError

if TYPE_CHECKING:
    from davserver.config import Config

log = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH = 128
SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._@+-]*")


def environ_key(name: str) -> str:
    """The WSGI environ key of a request header (``Remote-User`` → ``HTTP_REMOTE_USER``)."""
    return "HTTP_" + name.upper().replace("-", "_")


class ProxyIdentity:
    """The principal a trusted proxy names in ``header``, or the refusal."""

    def __init__(self, header: str, max_length: int = DEFAULT_MAX_LENGTH):
        self.header = header
        self.key = environ_key(header)
        self.max_length = max_length

    def principal(self, environ: Mapping[str, Any], trusted: bool) -> str | None:
        """The user the header names; None without the header (the Basic-auth
        step decides then); 403 from an untrusted peer, 400 for a bad value."""
        raw = environ.get(self.key)
        if raw is None:
            return None
        if not trusted:
            log.warning(
                "%s from %s refused: the peer is not in http.trusted_proxies",
                self.header,
                environ.get("REMOTE_ADDR", "?"),
            )
            raise Forbidden(f"{self.header} is only accepted from http.trusted_proxies")
        return self.checked(str(raw))

    def checked(self, raw: str) -> str:
        """The header's value as a principal; 400 naming the header otherwise."""
        value = raw.strip(" \t")
        if not value:
            raise RequestError(f"{self.header} is empty: it must name the user")
        if len(value) > self.max_length:
            raise RequestError(
                f"{self.header} is longer than {self.max_length} characters "
                "(config key auth.user_header_max_length)"
            )
        if not SAFE_NAME.fullmatch(value):
            raise RequestError(
                f"{self.header} must be a user name of letters, digits and ._@+- "
                "(starting with a letter, digit or _)"
            )
        return value


def identity(config: Config) -> ProxyIdentity | None:
    """The ``auth.user_header`` login of ``config``, or None when it is off."""
    header = config.auth.user_header
    if not header:
        return None
    return ProxyIdentity(header, config.auth.user_header_max_length)


def warnings(config: Config) -> list[str]:
    """check-config: an ``auth.user_header`` nobody can send, or one the proxy can be
    bypassed for."""
    header = config.auth.user_header
    if not header:
        return []
    lines = []
    if not config.http.trusted_proxies:
        lines.append(
            f"warning: auth.user_header {header} is set but http.trusted_proxies is empty: every "
            f"request carrying {header} is refused (403) -- list the single sign-on "
            "proxy's address in http.trusted_proxies"
        )
    if not is_loopback(config.host):
        lines.append(
            f"warning: auth.user_header {header}: the WebDAV port {config.host}:{config.port} "
            "is reachable from other machines than the proxy; requests that bypass it "
            f"with {header} are refused, but without it they reach the Basic login (or "
            "anonymous access) -- listen on 127.0.0.1 behind the proxy, or firewall the "
            "port to the proxy's address"
        )
    return lines
