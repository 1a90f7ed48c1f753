"""The whole configuration: what is served where (top level) and one model per section.

Top level: ``root``, ``host``, ``port``, ``readonly``, ``workers``, ``state_dir`` and the
``permissions`` rules; everything else lives in a section (``http``, ``tls``, ``dav``,
``locks``, ``store``, ``auth``, ``logs``, ``metrics``, ``webhooks``, ``admin``,
``shutdown``).  Checks that involve two keys are :func:`consistency_problems`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, PrivateAttr

from davserver.config.checks import shared_problem
from davserver.config.dav import (
    AuthSection,
    DavSection,
    LocksSection,
    QuotaSection,
    StoreSection,
)
from davserver.config.fields import (
    SECTION,
    Between,
    LdapMapping,
    PermissionRules,
    SharedFolders,
    UserRoot,
    key,
    parse_listen,
)
from davserver.config.http import HttpSection, ShutdownSection, TlsSection
from davserver.config.observe import AdminSection, LogsSection, MetricsSection, WebhooksSection


class Config(BaseModel):
    """The effective configuration; ``source`` is the YAML file used, if any."""

    model_config = SECTION

    root: str = key("./share", "directory to serve (created if missing)", flag="ROOT", path=True)
    host: str = key("127.0.0.1", "address to listen on", flag="--host", metavar="HOST")
    port: Annotated[int, Between(0, 65535)] = key(
        8080, "TCP port to listen on (0 picks a free one)", flag="--port", metavar="PORT"
    )
    readonly: bool = key(False, "refuse every method that changes something", flag="--readonly")
    workers: Annotated[int, Between(1, 64)] | None = key(
        None,
        "worker processes sharing the port (SO_REUSEPORT); default: one per CPU core "
        "(one with store.url memory://)",
        flag="--workers",
        metavar="N",
        shown="one per CPU core (one with memory://)",
    )
    state_dir: str | None = key(
        None,
        "server state (locks, properties); default ROOT/.davserver, never served",
        flag="--state-dir",
        metavar="DIR",
        path=True,
        shown="ROOT/.davserver",
    )
    permissions: PermissionRules = key(
        factory=list,
        help="per-user, per-path access rules: [{path: /team, users: [alice, '*'], "
        "access: none|read|write}]; the most specific path wins; none given: everyone "
        "may do everything the share allows",
        flag="",
    )
    user_root: UserRoot = key(
        None,
        "home folders: each user's / is this folder below root (must contain {user}, "
        "e.g. users/{user}), made on first login (mode 0700); admins see the whole share; "
        "anonymous requests are 401; null: off",
        metavar="TEMPLATE",
        shown="none: everyone sees the whole share",
    )
    shared_folders: SharedFolders = key(
        factory=list,
        help="with user_root: folders of the share every user sees at the same path inside "
        "their own root, e.g. [/team] (permissions still decide who may read or write)",
        metavar="PATH,PATH",
    )
    ldap: LdapMapping = key(
        None,
        "LDAP logins instead of htpasswd: {url: ldap://HOST (or ldaps://), user_dn: "
        "'uid={user},ou=people,...' or search_base (+ search_filter, bind_dn, "
        "bind_password_file), starttls, ca_file, require_group, admin_group, name_attribute, "
        "group_member_attribute, connect_timeout, receive_timeout, cache_seconds, "
        "cache_size, retry_after}",
        flag="",
        shown="none: htpasswd or auth.domain_controller",
    )
    http: HttpSection = key(factory=HttpSection, help="the HTTP layer: limits, timeouts")
    tls: TlsSection = key(factory=TlsSection, help="HTTPS on the WebDAV port")
    dav: DavSection = key(factory=DavSection, help="limits of the WebDAV methods")
    locks: LocksSection = key(factory=LocksSection, help="what LOCK grants")
    store: StoreSection = key(factory=StoreSection, help="the lock and property store")
    auth: AuthSection = key(factory=AuthSection, help="authentication and login throttling")
    quota: QuotaSection = key(factory=QuotaSection, help="per-user byte quotas")
    logs: LogsSection = key(factory=LogsSection, help="log lines and the lock event log")
    metrics: MetricsSection = key(factory=MetricsSection, help="Prometheus metrics")
    webhooks: WebhooksSection = key(factory=WebhooksSection, help="lock event webhooks")
    admin: AdminSection = key(factory=AdminSection, help="the admin listener")
    shutdown: ShutdownSection = key(factory=ShutdownSection, help="stopping")

    _source: str | None = PrivateAttr(default=None)
    _deprecated: tuple[str, ...] = PrivateAttr(default=())

    @property
    def source(self) -> str | None:
        return self._source

    @property
    def deprecated(self) -> tuple[str, ...]:
        """One warning per flat key of 0.1 the config file still uses."""
        return self._deprecated

    @property
    def root_path(self) -> Path:
        return Path(self.root).expanduser().resolve()

    @property
    def worker_count(self) -> int:
        """``workers``, or one per CPU core (like nginx's ``worker_processes auto``);
        a memory:// store lives in one process, so it gets one worker by default."""
        if self.workers is not None:
            return self.workers
        if (self.store.url or "").startswith("memory://"):
            return 1
        return max(1, min(64, len(os.sched_getaffinity(0))))

    @property
    def state_path(self) -> Path:
        if self.state_dir:
            return Path(self.state_dir).expanduser().resolve()
        return self.root_path / ".davserver"

    @property
    def audit_path(self) -> Path:
        if self.admin.audit_log:
            return Path(self.admin.audit_log).expanduser().resolve()
        return self.state_path / "audit.jsonl"

    @property
    def store_url(self) -> str | None:
        """The lock store to open: a read-only share without a state directory
        keeps nothing (it takes no locks, sets no properties) and writes nothing
        into its root."""
        if self.store.url is None and self.readonly and not self.state_dir:
            return "memory://"
        return self.store.url


SECTIONS: tuple[str, ...] = tuple(
    name
    for name, field in Config.model_fields.items()
    if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
)


def dotted_values(config: BaseModel, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every key of ``config`` as (dotted key, value), sections flattened."""
    for name in type(config).model_fields:
        value = getattr(config, name)
        if isinstance(value, BaseModel):
            yield from dotted_values(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value


def value_at(config: Config, dotted: str) -> Any:
    found: Any = config
    for part in dotted.split("."):
        found = getattr(found, part)
    return found


def replaced(config: Config, values: dict[str, Any]) -> Config:
    """``config`` with the dotted keys of ``values`` set (no validation: running values)."""
    top: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for dotted, value in values.items():
        section, _, name = dotted.partition(".")
        if name:
            nested.setdefault(section, {})[name] = value
        else:
            top[section] = value
    for section, changes in nested.items():
        top[section] = getattr(config, section).model_copy(update=changes)
    return config.model_copy(update=top)


def consistency_problems(config: Config) -> list[tuple[str, str]]:
    """(dotted key, problem) for every rule between two keys that ``config`` breaks."""
    found: list[tuple[str, str]] = []
    locks, http = config.locks, config.http
    if locks.timeout_default > locks.timeout_max:
        found.append(
            ("locks.timeout_default", f"must not exceed locks.timeout_max ({locks.timeout_max})")
        )
    if config.worker_count > 1 and (config.store.url or "").startswith("memory://"):
        found.append(
            (
                "store.url",
                "memory:// keeps locks inside one process; with several workers use "
                "sqlite:///PATH or redis://",
            )
        )
    if http.max_body_waiters is not None and http.max_body_waiters >= http.max_threads:
        found.append(
            (
                "http.max_body_waiters",
                f"must be below http.max_threads ({http.max_threads}): the other threads "
                "serve everything else while bodies arrive slowly",
            )
        )
    if bool(config.tls.cert) != bool(config.tls.key):
        given, missing = ("tls.cert", "tls.key") if config.tls.cert else ("tls.key", "tls.cert")
        found.append(
            (
                missing,
                f"{given} is set but {missing} is not: HTTPS needs both "
                "(or neither, for plain HTTP)",
            )
        )
    return found + _admin_problems(config) + _user_root_problems(config) + _ldap_problems(config)


def _user_root_problems(config: Config) -> list[tuple[str, str]]:
    """Home folders are per user: without logins nobody would have one."""
    if not config.user_root:
        if config.shared_folders:
            return [
                (
                    "shared_folders",
                    "shared folders are shown inside home folders: set user_root too",
                )
            ]
        return []
    found = [
        ("shared_folders", f"{folder}: {problem}")
        for folder in config.shared_folders
        if (problem := shared_problem(folder, config.user_root)) is not None
    ]
    if not _logins(config):
        need = "auth.htpasswd, ldap, auth.user_header or auth.domain_controller"
        found.append(("user_root", f"home folders need logins: set {need}"))
    return found


def _logins(config: Config) -> bool:
    auth = config.auth
    return bool(auth.htpasswd or config.ldap or auth.user_header or auth.domain_controller)


def _ldap_problems(config: Config) -> list[tuple[str, str]]:
    """The ldap section's files must be readable; it replaces the login check."""
    if config.ldap is None:
        return []
    from davserver.config.ldap_settings import parse

    if config.auth.domain_controller:
        return [
            ("ldap", "give ldap or auth.domain_controller, not both (each decides who logs in)")
        ]
    try:
        parse(config.ldap)
    except ValueError as exc:
        return [("ldap", str(exc))]
    return []


def _admin_problems(config: Config) -> list[tuple[str, str]]:
    """The admin listener authenticates administrators: it needs users and a port of its own."""
    admin = config.admin
    if not admin.enabled:
        return []
    found: list[tuple[str, str]] = []
    if not _logins(config):
        problem = (
            "the admin listener needs logins (administrators log in): set auth.htpasswd, "
            "ldap, auth.domain_controller or auth.user_header"
        )
        found.append(("admin.enabled", problem))
    if not admin.users and not (config.ldap or {}).get("admin_group"):
        problem = "name the administrators (user names who log in), or give ldap.admin_group"
        found.append(("admin.users", problem))
    if bool(admin.tls_cert) != bool(admin.tls_key):
        given, missing = (
            ("admin.tls_cert", "admin.tls_key")
            if admin.tls_cert
            else ("admin.tls_key", "admin.tls_cert")
        )
        found.append((missing, f"{given} is set but {missing} is not"))
    host, port = parse_listen(admin.listen)
    if port and port == config.port and host in (config.host, "0.0.0.0", "::"):
        found.append(
            ("admin.listen", f"must differ from the WebDAV address {config.host}:{config.port}")
        )
    return found
