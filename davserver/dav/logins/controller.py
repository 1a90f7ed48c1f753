"""Login checks as WsgiDAV domain controllers: the one place davserver imports WsgiDAV.

WsgiDAV's domain-controller interface (``BaseDomainController``) is davserver's
authentication plug-in: :class:`HtpasswdDomainController` (bcrypt hashes from
an ``htpasswd -B`` file) is the default; ``domain_controller:
"module.path:ClassName"`` names any other — WsgiDAV's PAM controller
(``wsgidav.dc.pam_dc:PAMDomainController``) or a site's own — which is built
as WsgiDAV builds it, ``Controller(wsgidav_app, config)``, with
``domain_controller_config`` as its config (``pam_dc: {service: login}`` for
PAM).  davserver's Basic-auth step (:mod:`davserver.dav.logins.basic`) calls it; no
other part of WsgiDAV runs.

The htpasswd controller remembers successful checks (keyed by a SHA-256 of the
password and hash, never the password) until the file changes: bcrypt is slow
on purpose and WebDAV clients send credentials with every request.  An unknown
user costs the same bcrypt check as a wrong password (no user enumeration by
timing).
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import bcrypt
from wsgidav.dc.base_dc import BaseDomainController as BaseDomainController  # for other controllers

from davserver.common import turns
from davserver.errors import StartupError

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
    """Basic auth with bcrypt (``config["htpasswd"]``), or anonymous when no file."""

    def __init__(self, wsgidav_app: object, config: Mapping[str, Any]):
        super().__init__(wsgidav_app, config)
        file = config.get("htpasswd")
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

    def get_domain_realm(self, path_info: str, environ: dict[str, object] | None) -> str:
        return REALM

    def require_authentication(self, realm: str, environ: dict[str, object] | None) -> bool:
        return self.path is not None

    def supports_http_digest_auth(self) -> bool:
        return False  # bcrypt hashes cannot compute digest A1

    def basic_auth_user(
        self, realm: str, user_name: str, password: str, environ: dict[str, object] | None
    ) -> bool:
        self._reload_if_changed()
        hashed = self._users.get(user_name)
        secret = bcrypt_secret(password)
        if hashed is None:
            # The same bcrypt work as for a wrong password: response time must not
            # tell whether a user name exists.
            turns.blocking(bcrypt.checkpw, secret, self._decoy_hash())
            return False
        key = (user_name, hashlib.sha256(secret + hashed).digest())
        if key in self._verified:
            return True
        try:
            # bcrypt holds no lock of ours: the process's other requests run meanwhile.
            ok = turns.blocking(bcrypt.checkpw, secret, hashed)
        except ValueError:  # a malformed hash must give 401, never 500
            log.warning("malformed bcrypt hash for user %r", user_name)
            return False
        if ok:
            with self._guard:
                self._verified.add(key)
        return ok


class _Provider:
    """What a shipped controller may ask of WsgiDAV's provider: the share's path."""

    share_path = "/"


class ControllerHost:
    """The ``wsgidav_app`` a controller is built with: its config, and the one
    share a controller that names realms by share path resolves (``/``)."""

    def __init__(self, config: Mapping[str, Any]):
        self.config = dict(config)
        self.provider = _Provider()

    def resolve_provider(self, path: str) -> tuple[str, _Provider]:
        return "/", self.provider


def load_controller(spec: str, options: Mapping[str, Any], htpasswd: str | None) -> Any:
    """The domain controller ``spec`` names (``module.path:ClassName``; empty:
    the htpasswd controller), built as WsgiDAV builds it; StartupError says why not."""
    config: dict[str, Any] = {**options, "htpasswd": htpasswd}
    host = ControllerHost(config)
    if not spec:
        return HtpasswdDomainController(host, config)
    module_name, sep, class_name = spec.partition(":")
    if not sep or not module_name or not class_name:
        raise StartupError(f"auth.domain_controller must be 'module.path:ClassName', not {spec!r}")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise StartupError(f"auth.domain_controller {spec}: cannot load it: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, BaseDomainController)):
        raise StartupError(f"auth.domain_controller {spec} is no WsgiDAV BaseDomainController")
    try:
        return cls(host, config)
    except Exception as exc:  # a shipped controller's own complaint about its config
        raise StartupError(f"auth.domain_controller {spec}: {exc}") from exc
