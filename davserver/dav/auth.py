"""Basic authentication against an htpasswd file of bcrypt hashes (``htpasswd -B``).

The authenticated user name becomes the lock principal.  bcrypt is slow on
purpose (~50-250 ms per check); a WebDAV client sends credentials with every
request, so successful checks are remembered (keyed by a SHA-256 of the
password, never the password itself) until the file changes.

Hostile input: malformed ``Authorization`` headers are 401, never 500; an
unknown user costs the same bcrypt check as a wrong password (no user
enumeration by timing); failed logins are logged and throttled per address and
per user from an address, never by user name alone (:mod:`davserver.dav.throttle`,
429).  Every refusal is rendered like
any other davserver error (XML, JSON or HTML by Accept).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import bcrypt
from wsgidav.dc.base_dc import BaseDomainController
from wsgidav.http_authenticator import HTTPAuthenticator

from davserver.dav.throttle import LoginThrottle
from davserver.errors import (
    DavServerError,
    Forbidden,
    StartupError,
    TooManyAttempts,
    Unauthenticated,
)

log = logging.getLogger(__name__)

REALM = "davserver"

# bcrypt reads at most 72 bytes of a password; bcrypt >= 5 raises ValueError for
# longer ones instead of ignoring the rest.  Apache's ``htpasswd -B`` hashes and
# checks the first 72 bytes, so the same cut keeps its long passwords valid.
BCRYPT_MAX_BYTES = 72


def bcrypt_secret(password: str) -> bytes:
    """What bcrypt hashes of a password: its UTF-8 bytes, cut to 72 as Apache does."""
    return password.encode("utf-8")[:BCRYPT_MAX_BYTES]


def read_htpasswd(path: Path) -> dict[str, bytes]:
    """Parse ``user:hash`` lines; only bcrypt hashes ($2a$, $2b$, $2y$) are accepted."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StartupError(f"cannot read htpasswd file {path}: {exc}") from exc
    users: dict[str, bytes] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user:
            raise StartupError(f"{path}:{number}: expected 'user:hash'")
        if not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            raise StartupError(
                f"{path}:{number}: user {user!r} has no bcrypt hash (create it with htpasswd -B)"
            )
        users[user] = hashed.encode("ascii")
    return users


class HtpasswdDomainController(BaseDomainController):  # type: ignore[misc]
    """WsgiDAV domain controller: Basic auth with bcrypt, or anonymous when no file."""

    def __init__(self, wsgidav_app: object, config: dict[str, object]):
        super().__init__(wsgidav_app, config)
        options = config.get("davserver_auth") or {}
        assert isinstance(options, dict)
        file = options.get("htpasswd")
        self.path = Path(str(file)) if file else None
        self._users: dict[str, bytes] = read_htpasswd(self.path) if self.path else {}
        self._mtime = self._file_mtime()
        self._verified: set[tuple[str, bytes]] = set()
        self._guard = threading.Lock()
        self._decoy: bytes | None = None

    def __str__(self) -> str:
        return f"HtpasswdDomainController({self.path or 'anonymous'})"

    def _file_mtime(self) -> float:
        try:
            return self.path.stat().st_mtime if self.path else 0.0
        except OSError:
            return 0.0

    def _reload_if_changed(self) -> None:
        mtime = self._file_mtime()
        if mtime == self._mtime or self.path is None:
            return
        try:
            users = read_htpasswd(self.path)
        except StartupError as exc:
            log.error("keeping the previous users: %s", exc)
            return
        with self._guard:
            self._users, self._mtime = users, mtime
            self._verified.clear()

    def reload(self, file: str | None) -> None:
        """Read the htpasswd file again, or another one (SIGHUP); raises
        StartupError, and keeps the previous users, when it cannot be read."""
        path = Path(file) if file else None
        users = read_htpasswd(path) if path else {}
        with self._guard:
            self.path, self._users = path, users
            self._mtime = self._file_mtime()
            self._verified.clear()
            self._decoy = None

    def _decoy_hash(self) -> bytes:
        """A hash with the cost of the real ones (made once), for unknown users."""
        if self._decoy is None:
            costs = [int(h.split(b"$")[2]) for h in self._users.values() if h.count(b"$") >= 3]
            rounds = max(costs, default=12)
            self._decoy = bcrypt.hashpw(b"decoy", bcrypt.gensalt(rounds=max(4, min(rounds, 31))))
        return self._decoy

    def get_domain_realm(self, path_info: str, environ: dict[str, object]) -> str:
        return REALM

    def require_authentication(self, realm: str, environ: dict[str, object]) -> bool:
        return self.path is not None

    def supports_http_digest_auth(self) -> bool:
        return False  # bcrypt hashes cannot compute digest A1

    def basic_auth_user(
        self, realm: str, user_name: str, password: str, environ: dict[str, object]
    ) -> bool:
        self._reload_if_changed()
        hashed = self._users.get(user_name)
        secret = bcrypt_secret(password)
        if hashed is None:
            # The same bcrypt work as for a wrong password: response time must not
            # tell whether a user name exists.
            bcrypt.checkpw(secret, self._decoy_hash())
            return False
        key = (user_name, hashlib.sha256(secret + hashed).digest())
        if key in self._verified:
            return True
        try:
            ok = bcrypt.checkpw(secret, hashed)
        except ValueError:  # a malformed hash must give 401, never 500
            log.warning("malformed bcrypt hash for user %r", user_name)
            return False
        if ok:
            with self._guard:
                self._verified.add(key)
        return ok


Refuse = Callable[[DavServerError, dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def parse_basic(header: str) -> tuple[str, str]:
    """User name and password of an ``Authorization: Basic`` value (RFC 7617 §2);
    :class:`Unauthenticated` says what is wrong with a malformed one."""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        raise Unauthenticated("Authorization must be 'Basic <base64 of user:password>'", REALM)
    try:
        raw = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Unauthenticated("Basic credentials are not valid base64", REALM) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # RFC 7617 §2.1: the charset was never agreed
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise Unauthenticated("Basic credentials must be 'user:password'", REALM)
    return user, password


def is_private_channel(environ: dict[str, Any]) -> bool:
    """TLS, or a loopback client (a TLS-terminating proxy on the same machine)."""
    if environ.get("wsgi.url_scheme") == "https":
        return True
    try:
        return ipaddress.ip_address(str(environ.get("REMOTE_ADDR", "")).split("%")[0]).is_loopback
    except ValueError:
        return False


class DavAuthenticator(HTTPAuthenticator):  # type: ignore[misc]
    """WsgiDAV's HTTP authenticator, with Basic credentials handled by davserver."""

    def __init__(self, wsgidav_app: Any, next_app: Any, config: dict[str, Any]):
        super().__init__(wsgidav_app, next_app, config)
        options = config.get("davserver_auth") or {}
        self.throttle: LoginThrottle = options.get("throttle") or LoginThrottle()
        self.refuse: Refuse = options["refuse"]
        self.allow_insecure = bool(options.get("allow_insecure_auth", False))

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        """WsgiDAV's own entry, without its logout: it refuses valid credentials
        whenever the query string contains "logout" (``?x=blogout``), and
        davserver has no logout.  Basic is the only scheme (no Digest: bcrypt)."""
        realm = self.domain_controller.get_domain_realm(environ["PATH_INFO"], environ)
        environ["wsgidav.auth.realm"] = realm
        environ["wsgidav.auth.user_name"] = ""
        environ["wsgidav.auth.roles"] = None
        environ["wsgidav.auth.permissions"] = None
        if not self.domain_controller.require_authentication(realm, environ):
            return self.next_app(environ, start_response)
        header = str(environ.get("HTTP_AUTHORIZATION", ""))
        if header.strip().partition(" ")[0].lower() == "basic":
            return self.handle_basic_auth_request(environ, start_response)
        return self.send_basic_auth_response(environ, start_response)

    def send_basic_auth_response(self, environ: dict[str, Any], start_response: Any) -> Any:
        problem = Unauthenticated("this share needs a user name and password", REALM)
        return self.refuse(problem, environ, start_response)

    def handle_basic_auth_request(self, environ: dict[str, Any], start_response: Any) -> Any:
        address = str(environ.get("REMOTE_ADDR", ""))
        if not self.allow_insecure and not is_private_channel(environ):
            refused = Forbidden(
                "Basic credentials over plain HTTP from another machine are refused: "
                "use https (tls_cert/tls_key) or set allow_insecure_auth: true"
            )
            return self.refuse(refused, environ, start_response)
        try:
            user, password = parse_basic(environ["HTTP_AUTHORIZATION"])
        except Unauthenticated as exc:
            return self.refuse(exc, environ, start_response)
        verdict = self.throttle.check(address, user)
        if verdict.wait is not None:
            wait = verdict.wait
            log.warning("login throttled for user %r from %s (%d s)", user, address, wait)
            throttled = TooManyAttempts(f"too many failed logins; try again in {wait} s", wait)
            return self.refuse(throttled, environ, start_response)
        if self.domain_controller.basic_auth_user(REALM, user, password, environ):
            self.throttle.succeeded(address, user, verdict)
            environ["wsgidav.auth.realm"] = REALM
            environ["wsgidav.auth.user_name"] = user
            return self.next_app(environ, start_response)
        self.throttle.failed(address, user)
        log.warning("login failed for user %r from %s", user, address)
        problem = Unauthenticated("wrong user name or password", REALM)
        return self.refuse(problem, environ, start_response)
