"""Who may use the admin listener: administrators, logged in by Basic auth.

Logins are checked by the WebDAV port's Basic-auth step with its domain
controller (:mod:`davserver.dav.logins.basic`: htpasswd, LDAP or ``domain_controller``),
so the same rules hold: failed logins throttled per address and per user from
an address, counted together with the WebDAV port's; credentials over plain
HTTP from another machine 403; a login directory that cannot be reached 503
for logins it has not confirmed lately.  No credentials or wrong ones are 401
with a Basic challenge (RFC 9110 §11.6.1); a valid user who is no
administrator is 403 — they are who they say, they just may not do this.
Administrators are the one answer of :class:`davserver.dav.logins.admins.Admins`
(``admins``, and the members of ``ldap.admin_group``).  The users of
``metrics_users`` and the holder of the ``metrics_token_file`` token may read
``/metrics`` and get 403 everywhere else.  With ``user_header``, the user a
trusted proxy names is checked the same way (the admin listener must then be
behind the proxy as well), by the WebDAV port's rule
(:mod:`davserver.dav.logins.proxy_identity`).
"""

from __future__ import annotations

import logging
from collections.abc import Container, Iterable
from typing import Any

from davserver.admin.http.metrics_access import MetricsToken
from davserver.dav.logins.basic import Authenticator, is_private
from davserver.dav.logins.proxy_identity import ProxyIdentity
from davserver.errors import Forbidden, TooManyAttempts, Unauthenticated

log = logging.getLogger(__name__)

REALM = "davserver admin"
INSECURE = (
    "Basic credentials over plain HTTP from another machine are refused: "
    "use https (tls.cert/tls.key) or set auth.allow_insecure: true"
)


class AdminAuth:
    def __init__(
        self,
        authenticator: Authenticator,
        admins: Container[str],
        *,
        metrics_users: Iterable[str] = (),
        metrics_token: MetricsToken | None = None,
        identity: ProxyIdentity | None = None,
    ):
        self.authenticator = authenticator
        self.identity = identity
        self.admins = admins
        self.metrics_users = frozenset(metrics_users)
        self.metrics_token = metrics_token
        self.allow_insecure = authenticator.allow_insecure
        self.throttle = authenticator.throttle

    def principal(
        self, environ: dict[str, Any], *, metrics: bool = False, trusted_peer: bool = False
    ) -> str:
        """The administrator making this request (or, for ``/metrics``, the metrics
        reader), or the refusal to raise.  ``trusted_peer``: the peer is in
        trusted_proxies (its ``user_header`` is believed)."""
        address = str(environ.get("REMOTE_ADDR", ""))
        if self.identity is not None:
            # The same rule as on the WebDAV port: believed from trusted_proxies only.
            named = self.identity.principal(environ, trusted_peer)
            if named is not None:
                return self.role(named, address, metrics=metrics)
        header = str(environ.get("HTTP_AUTHORIZATION") or "")
        if not header.strip():
            raise Unauthenticated("log in as an administrator (config key admin.users)", REALM)
        scheme = str(environ.get("wsgi.url_scheme", "http"))
        if not self.allow_insecure and not is_private(scheme, address):
            raise Forbidden(INSECURE)  # as on the WebDAV port: never accept them in clear
        if header.strip().lower().startswith("bearer "):
            return self.bearer(header.strip()[7:], address, metrics=metrics)
        method = str(environ.get("REQUEST_METHOD", "GET"))
        path = str(environ.get("PATH_INFO") or "/")
        try:
            user = self.authenticator.principal(method, path, header, address, scheme)
        except Unauthenticated as exc:  # the admin listener's own realm in the challenge
            raise Unauthenticated(str(exc), REALM) from None
        if user is None:  # no login source checks passwords (user_header alone)
            raise Unauthenticated("log in through the single sign-on proxy", REALM)
        return self.role(user, address, metrics=metrics)

    def role(self, user: str, address: str, *, metrics: bool) -> str:
        """``user`` when they may make this request (403 otherwise)."""
        if user in self.metrics_users and user not in self.admins:
            if metrics:
                return user
            raise Forbidden(f"{user} may only read /metrics (config key metrics.users)")
        if user not in self.admins:
            log.warning("user %r from %s is not an administrator", user, address)
            raise Forbidden(f"{user} is not an administrator (config key admin.users)")
        return user

    def bearer(self, token: str, address: str, *, metrics: bool) -> str:
        """The metrics token's holder; 401 for a wrong token, 403 off ``/metrics``."""
        # Guesses at the token count against the address like guesses at a password.
        verdict = self.throttle.check(address, "")
        if verdict.wait is not None:
            raise TooManyAttempts(
                f"too many failed logins; try again in {verdict.wait} s", verdict.wait
            )
        if self.metrics_token is None or not self.metrics_token.matches(token):
            self.throttle.failed(address, "")
            log.warning("admin listener: wrong bearer token from %s", address)
            raise Unauthenticated("wrong bearer token (config key metrics.token_file)", REALM)
        self.throttle.succeeded(address, "", verdict)
        if not metrics:
            raise Forbidden("the metrics token may only read /metrics")
        return "metrics-token"
