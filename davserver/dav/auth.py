"""Basic authentication against an htpasswd file of bcrypt hashes (``htpasswd -B``).

The authenticated user name becomes the lock principal.  bcrypt is slow on
purpose (~50-250 ms per check); a WebDAV client sends credentials with every
request, so successful checks are remembered (keyed by a SHA-256 of the
password, never the password itself) until the file changes.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path

import bcrypt
from wsgidav.dc.base_dc import BaseDomainController

from davserver.errors import StartupError

log = logging.getLogger(__name__)

REALM = "davserver"


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
        if hashed is None:
            return False
        secret = password.encode("utf-8")
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
