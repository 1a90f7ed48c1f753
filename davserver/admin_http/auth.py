"""Who may use the admin listener: the users named in ``admins``, logged in by Basic auth.

The same htpasswd file and the same checks as the WebDAV port (bcrypt, no user
enumeration by timing, failed logins throttled per address and per user from an
address, counted together with the WebDAV port's): no
credentials or wrong ones are 401 with a Basic challenge (RFC 9110 §11.6.1),
a valid user who is no administrator is 403 — they are who they say, they just
may not do this.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from davserver.dav.auth import HtpasswdDomainController, parse_basic
from davserver.dav.throttle import LoginThrottle
from davserver.errors import Forbidden, TooManyAttempts, Unauthenticated

log = logging.getLogger(__name__)

REALM = "davserver admin"


class AdminAuth:
    def __init__(self, htpasswd: Path, admins: Iterable[str], throttle: LoginThrottle):
        config: dict[str, object] = {"davserver_auth": {"htpasswd": str(htpasswd)}}
        self.users = HtpasswdDomainController(None, config)
        self.admins = frozenset(admins)
        self.throttle = throttle

    def principal(self, environ: dict[str, Any]) -> str:
        """The administrator making this request, or the refusal to raise."""
        header = environ.get("HTTP_AUTHORIZATION")
        if not header:
            raise Unauthenticated("log in as an administrator (config key admins)", REALM)
        user, password = parse_basic(header)
        address = str(environ.get("REMOTE_ADDR", ""))
        verdict = self.throttle.check(address, user)
        if verdict.wait is not None:
            log.warning("admin login throttled for user %r from %s", user, address)
            wait = verdict.wait
            raise TooManyAttempts(f"too many failed logins; try again in {wait} s", wait)
        if not self.users.basic_auth_user(REALM, user, password, environ):
            self.throttle.failed(address, user)
            log.warning("admin login failed for user %r from %s", user, address)
            raise Unauthenticated("wrong user name or password", REALM)
        self.throttle.succeeded(address, user, verdict)
        if user not in self.admins:
            log.warning("user %r from %s is not an administrator", user, address)
            raise Forbidden(f"{user} is not an administrator (config key admins)")
        return user
