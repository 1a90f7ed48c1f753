"""LDAP logins as a WsgiDAV domain controller (the one module that imports ldap3).

A user logs in by binding to the directory with their own password: at a DN
made from a template (``user_dn``), or at the one entry a search finds
(``search_base`` + ``search_filter``, by the service account ``bind_dn`` or
anonymously).  The user name is escaped for a DN (RFC 4514) or a filter
(RFC 4515), so ``*)(uid=*`` finds nobody.  The entry's ``name_attribute`` must
hold the typed name exactly: LDAP matches names without regard to case or
surrounding spaces, and the typed name becomes the lock principal and the name
permission rules match, so ``ALICE`` must not pass as ``alice``.

Refusals: an empty password is refused before the directory is asked (many
servers take a simple bind with an empty password as an anonymous bind and
say "success"); a wrong password or an unknown user is False (401; an unknown
user costs a bind too, against a DN that does not exist); a right password
outside ``require_group`` is 403.  Members of ``admin_group`` are administrators
(:meth:`LdapDomainController.is_admin`, asked by :mod:`davserver.dav.logins.admins`):
the membership is read with the login and remembered with it.  Confirmed logins are remembered for
``cache_seconds`` (:mod:`davserver.dav.logins.cache`); a directory that cannot
be reached is 503 with Retry-After for logins not remembered — never a login
let in unchecked — and one WARNING per outage.
"""

from __future__ import annotations

import logging
import secrets
import ssl
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from ldap3 import BASE, NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException, LDAPInvalidDnError, LDAPInvalidFilterError
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from davserver.common import turns
from davserver.config.ldap_settings import LdapSettings, parse
from davserver.dav.logins.cache import Login, LoginCache
from davserver.dav.logins.controller import BaseDomainController  # WsgiDAV's, imported there
from davserver.errors import DirectoryUnavailable, Forbidden

log = logging.getLogger(__name__)

REALM = "davserver"
# Result codes of a directory that is there but cannot serve now (RFC 4511 §A.2).
UNAVAILABLE_CODES = frozenset({51, 52})  # busy, unavailable
INVALID_CREDENTIALS = 49


class Unreachable(Exception):
    """The directory did not answer, or answered that it cannot serve."""


class Outage:
    """One WARNING when the directory goes away, one INFO when it is back."""

    def __init__(self) -> None:
        self.down = False
        self._guard = threading.Lock()

    def failed(self, reason: str) -> None:
        with self._guard:
            first, self.down = not self.down, True
        if first:
            log.warning("LDAP directory unreachable, new logins get 503: %s", reason)

    def answered(self) -> None:
        with self._guard:
            back, self.down = self.down, False
        if back:
            log.info("LDAP directory answers again")


class LdapDomainController(BaseDomainController):  # type: ignore[misc]
    """Basic auth against an LDAP directory: ``config["ldap"]`` is the ``ldap:`` section."""

    def __init__(self, wsgidav_app: object, config: Mapping[str, Any]):
        super().__init__(wsgidav_app, config)
        section = config.get("ldap")
        if isinstance(section, LdapSettings):
            self.settings = section
        else:
            self.settings = parse(section if isinstance(section, Mapping) else {})
        self.cache = LoginCache(self.settings.cache_seconds, self.settings.cache_size)
        self.outage = Outage()
        # user -> in admin_group, as of that user's latest confirmed login.
        self._admins: OrderedDict[str, bool] = OrderedDict()
        self._admins_guard = threading.Lock()

    def __str__(self) -> str:
        return f"LdapDomainController({self.settings.url})"

    def _server(self) -> Server:
        """A Server of its own for each connection: ldap3 marks an address that
        failed as unavailable for seconds, which would outlast the outage."""
        s = self.settings
        tls = None
        if s.url.startswith("ldaps://") or s.starttls:
            tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=s.ca_file)
        return Server(s.url, tls=tls, connect_timeout=s.connect_timeout, get_info=NONE)

    def get_domain_realm(self, path_info: str, environ: dict[str, object] | None) -> str:
        return REALM

    def require_authentication(self, realm: str, environ: dict[str, object] | None) -> bool:
        return True

    def supports_http_digest_auth(self) -> bool:
        return False  # the directory checks passwords; it never hands out digests

    def basic_auth_user(
        self, realm: str, user_name: str, password: str, environ: dict[str, object] | None
    ) -> bool:
        if not password:
            return False  # an empty password would be an anonymous bind: "success"
        key = self.cache.key(user_name, password)
        login = self.cache.get(key)
        if login is None:
            try:
                # The directory's answer is awaited without holding up other requests.
                login = turns.blocking(self._ask, user_name, password)
            except Unreachable as exc:
                self.outage.failed(str(exc))
                raise DirectoryUnavailable(
                    "the login directory (LDAP) cannot be reached; try again later",
                    self.settings.retry_after,
                ) from exc
            self.outage.answered()
            if login is None:
                return False
            self.cache.put(key, login)
        self._remember_admin(user_name, login.admin)
        if not login.allowed:
            raise Forbidden(
                f"{user_name} is not in the group this share requires (ldap.require_group)"
            )
        return True

    def _remember_admin(self, user: str, admin: bool) -> None:
        if self.settings.admin_group is None:
            return
        with self._admins_guard:
            self._admins[user] = admin
            self._admins.move_to_end(user)
            while len(self._admins) > self.settings.cache_size:
                self._admins.popitem(last=False)

    def is_admin(self, user: str) -> bool:
        """Whether ``user`` is in ``admin_group``, as the directory said at their
        latest login check (every request of theirs passes one first: from the
        cache for ``cache_seconds``, else from the directory)."""
        with self._admins_guard:
            return self._admins.get(user, False)

    def _ask(self, user: str, password: str) -> Login | None:
        """The directory's verdict: None for a wrong password or unknown user."""
        try:
            if self.settings.user_dn is not None:
                return self._by_template(user, password)
            return self._by_search(user, password)
        except (LDAPInvalidDnError, LDAPInvalidFilterError):
            return None  # a name no escaping makes valid: nobody by that name
        except LDAPException as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from exc

    def _connect(self, dn: str | None = None, password: str | None = None) -> Connection:
        """A connection bound as ``dn`` (anonymous: None), or Unreachable; a
        refused bind leaves it unbound (``conn.bound`` False)."""
        conn = Connection(
            self._server(),
            user=dn,
            password=password,
            read_only=True,
            raise_exceptions=False,
        )
        conn.open()
        # Set here, not by ldap3: it packs its receive_timeout as whole seconds.
        conn.socket.settimeout(self.settings.receive_timeout)
        if self.settings.starttls and not conn.start_tls():
            conn.unbind()
            raise Unreachable(f"StartTLS refused: {conn.result}")
        conn.bind()
        code = (conn.result or {}).get("result")
        if code in UNAVAILABLE_CODES:
            conn.unbind()
            raise Unreachable(f"bind answered {conn.result.get('description')}")
        return conn

    def _by_template(self, user: str, password: str) -> Login | None:
        assert self.settings.user_dn is not None
        dn = self.settings.user_dn.format(user=escape_rdn(user))
        conn = self._connect(dn, password)
        try:
            if not conn.bound or not self._named(conn, dn, user):
                return None
            return self._groups(conn, dn, user)
        finally:
            conn.unbind()

    def _by_search(self, user: str, password: str) -> Login | None:
        s = self.settings
        assert s.search_base is not None
        service = self._connect(s.bind_dn, s.bind_password if s.bind_dn else None)
        try:
            if not service.bound:
                raise Unreachable(f"the service account cannot bind: {service.result}")
            query = s.search_filter.format(user=escape_filter_chars(user))
            found = self._entries(service, s.search_base, query, SUBTREE, [s.name_attribute])
            if len(found) > 1:
                log.warning("LDAP: %d entries match user %r; refused", len(found), user)
            if len(found) != 1 or user not in _values(found[0][1], s.name_attribute):
                # The same bind work as for a wrong password: the answer's timing
                # must not tell whether a user exists.
                decoy = f"cn=davserver-{secrets.token_hex(8)},{s.search_base}"
                self._connect(decoy, password).unbind()
                return None
            dn = found[0][0]
            conn = self._connect(dn, password)
            try:
                if not conn.bound:
                    return None
                return self._groups(service if s.bind_dn else conn, dn, user)
            finally:
                conn.unbind()
        finally:
            service.unbind()

    def _entries(
        self, conn: Connection, base: str, query: str, scope: str, attributes: list[str]
    ) -> list[tuple[str, Mapping[str, Any]]]:
        conn.search(base, query, search_scope=scope, attributes=attributes, size_limit=2)
        code = (conn.result or {}).get("result")
        if code in UNAVAILABLE_CODES:
            raise Unreachable(f"search answered {conn.result.get('description')}")
        return [
            (str(item["dn"]), item.get("attributes") or {})
            for item in conn.response or []
            if item.get("type") == "searchResEntry"
        ]

    def _named(self, conn: Connection, dn: str, user: str) -> bool:
        """Whether the entry at ``dn`` has exactly ``user`` as its name."""
        attribute = self.settings.name_attribute
        found = self._entries(conn, dn, "(objectClass=*)", BASE, [attribute])
        if not found:
            log.warning("LDAP: %s cannot read its own entry (attribute %s)", dn, attribute)
            return False
        return user in _values(found[0][1], attribute)

    def _groups(self, conn: Connection, dn: str, user: str) -> Login:
        group, admins = self.settings.require_group, self.settings.admin_group
        allowed = group is None or self._member(conn, group, dn, user)
        admin = admins is not None and self._member(conn, admins, dn, user)
        return Login(allowed=allowed, admin=admin)

    def _member(self, conn: Connection, group: str, dn: str, user: str) -> bool:
        attribute = self.settings.group_member_attribute
        value = user if attribute == "memberUid" else dn
        query = f"({attribute}={escape_filter_chars(value)})"
        return bool(self._entries(conn, group, query, BASE, []))


def directory_warning(section: Mapping[str, Any]) -> str | None:
    """Why the directory would refuse every login now, for check-config: it
    cannot be reached, or the service account cannot bind."""
    controller = LdapDomainController(None, {"ldap": section})
    s = controller.settings
    try:
        conn = controller._connect(s.bind_dn, s.bind_password if s.bind_dn else None)
    except (LDAPException, Unreachable) as exc:
        return f"warning: the LDAP directory {s.url} cannot be reached: {exc}"
    try:
        if s.bind_dn and not conn.bound:
            reason = (conn.result or {}).get("description", "refused")
            return f"warning: ldap.bind_dn {s.bind_dn} cannot bind ({reason}): nobody can log in"
        return _missing_group(controller, conn) if s.bind_dn else None
    except (LDAPException, Unreachable) as exc:
        return f"warning: the LDAP directory {s.url} cannot be searched: {exc}"
    finally:
        conn.unbind()


def _missing_group(controller: LdapDomainController, conn: Connection) -> str | None:
    """A group the section names that the service account does not find (a
    mistyped DN): nobody gets in (require_group), or nobody from it administers."""
    s = controller.settings
    groups = [
        ("require_group", s.require_group, "nobody can log in"),
        ("admin_group", s.admin_group, "none of its members administers"),
    ]
    for key, dn, effect in groups:
        if dn is None:
            continue
        try:
            found = controller._entries(conn, dn, "(objectClass=*)", BASE, [])
        except LDAPInvalidDnError:
            found = []
        if not found:
            return f"warning: ldap.{key} {dn} is not found in the directory: {effect}"
    return None


def _values(attributes: Mapping[str, Any], name: str) -> list[str]:
    """An attribute's values as strings (ldap3 gives one value or a list)."""
    for key, value in attributes.items():
        if key.lower() == name.lower():
            return [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return []
