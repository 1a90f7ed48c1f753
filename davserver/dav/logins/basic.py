"""davserver's Basic-auth step: who makes a request, checked by a domain controller.

The authenticated user name becomes the lock principal.  The check itself is a
WsgiDAV domain controller's (:mod:`davserver.dav.logins.controller`: the htpasswd
controller by default, or the one ``domain_controller`` names); this step does
the rest, the same for every controller.

Hostile input: malformed ``Authorization`` headers are 401, never 500; failed
logins are logged and throttled per address and per user from an address,
never by user name alone (:mod:`davserver.dav.logins.throttle`, 429); Basic
credentials in clear from another machine are 403.  Every refusal is a
:class:`~davserver.errors.DavServerError`, rendered like any other davserver
error (XML, JSON or HTML by Accept).  Basic is the only scheme (bcrypt hashes
cannot answer Digest), and there is no logout.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
from typing import Protocol

from davserver.dav.logins.throttle import LoginThrottle
from davserver.errors import Forbidden, TooManyAttempts, Unauthenticated

log = logging.getLogger(__name__)

REALM = "davserver"
INSECURE = (
    "Basic credentials over plain HTTP from another machine are refused: "
    "use https (tls.cert/tls.key) or set auth.allow_insecure: true"
)


class DomainController(Protocol):
    """The part of WsgiDAV's ``BaseDomainController`` this step calls."""

    def get_domain_realm(self, path_info: str, environ: dict[str, object] | None) -> str | None: ...

    def require_authentication(self, realm: str, environ: dict[str, object] | None) -> bool: ...

    def basic_auth_user(
        self, realm: str, user_name: str, password: str, environ: dict[str, object] | None
    ) -> bool: ...


def parse_basic(header: str, realm: str = REALM) -> tuple[str, str]:
    """User name and password of an ``Authorization: Basic`` value (RFC 7617 §2);
    :class:`Unauthenticated` says what is wrong with a malformed one."""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        raise Unauthenticated("Authorization must be 'Basic <base64 of user:password>'", realm)
    try:
        raw = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Unauthenticated("Basic credentials are not valid base64", realm) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # RFC 7617 §2.1: the charset was never agreed
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise Unauthenticated("Basic credentials must be 'user:password'", realm)
    return user, password


def is_private(scheme: str, address: str) -> bool:
    """TLS, or a loopback client (a TLS-terminating proxy on the same machine)."""
    if scheme == "https":
        return True
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


class Authenticator:
    """The principal of a request, or the refusal (401, 403, 429) to answer it with."""

    def __init__(
        self,
        controller: DomainController,
        throttle: LoginThrottle | None = None,
        *,
        allow_insecure: bool = False,
    ):
        self.controller = controller
        self.throttle = throttle or LoginThrottle()
        self.allow_insecure = allow_insecure

    def principal(
        self, method: str, path: str, authorization: str | None, address: str, scheme: str
    ) -> str | None:
        """The user name, or None for anonymous access; raises the refusal."""
        realm = self.controller.get_domain_realm(path, None) or REALM
        # What a controller may read of the request (WsgiDAV passes its environ).
        environ: dict[str, object] = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "REMOTE_ADDR": address,
            "wsgi.url_scheme": scheme,
        }
        if not self.controller.require_authentication(realm, environ):
            return None
        header = authorization or ""
        if header.strip().partition(" ")[0].lower() != "basic":
            raise Unauthenticated("this share needs a user name and password", realm)
        if not self.allow_insecure and not is_private(scheme, address):
            raise Forbidden(INSECURE)
        user, password = parse_basic(header, realm)
        verdict = self.throttle.check(address, user)
        if verdict.wait is not None:
            wait = verdict.wait
            log.warning("login throttled for user %r from %s (%d s)", user, address, wait)
            raise TooManyAttempts(f"too many failed logins; try again in {wait} s", wait)
        if self.controller.basic_auth_user(realm, user, password, environ):
            self.throttle.succeeded(address, user, verdict)
            return user
        self.throttle.failed(address, user)
        log.warning("login failed for user %r from %s", user, address)
        raise Unauthenticated("wrong user name or password", realm)
