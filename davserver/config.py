"""Configuration: one schema (name, type, default, help) read from YAML and the CLI.

Precedence: built-in default < YAML file < command line.  Every error names the
source (file or ``command line``), the key, and what is wrong; ``check-config``
and ``serve`` report the very same :class:`~davserver.errors.ConfigError`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from davserver.errors import ConfigError

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)
class Option:
    """One configuration key: its type, help text (shown by the CLI) and check.

    Its default is the default of the :class:`Config` field of the same name,
    written once there (where it also types the field)."""

    name: str
    type: type
    help: str
    check: Callable[[Any], str | None] | None = None  # returns an error message or None
    nullable: bool = False

    @property
    def default(self) -> Any:
        return defaults()[self.name]


def _port(value: int) -> str | None:
    return None if 0 <= value <= 65535 else "must be between 0 and 65535"


def _positive(value: int) -> str | None:
    return None if value > 0 else "must be a positive number of seconds"


def _lock_quota(value: int) -> str | None:
    return None if value > 0 else "must be a positive number of locks (null: no limit)"


def _workers(value: int) -> str | None:
    return None if 1 <= value <= 64 else "must be between 1 and 64"


def _permission_rules(value: list[Any]) -> str | None:
    from davserver.dav.permissions import parse_rules  # the rules' own validation

    try:
        parse_rules(value)
    except ValueError as exc:
        return str(exc)
    return None


def _between(low: int, high: int) -> Callable[[int], str | None]:
    def check(value: int) -> str | None:
        return None if low <= value <= high else f"must be between {low} and {high}"

    return check


def _seconds_between(low: float, high: float) -> Callable[[float], str | None]:
    def check(value: float) -> str | None:
        return None if low <= value <= high else f"must be between {low:g} and {high:g} seconds"

    return check


def _log_level(value: str) -> str | None:
    return None if value.lower() in LOG_LEVELS else f"must be one of {', '.join(LOG_LEVELS)}"


def _store_url(value: str) -> str | None:
    from davserver.lockstore.redis_url import is_sentinel, parse_sentinel_url

    schemes = ("memory://", "sqlite://", "redis://", "rediss://", "redis+sentinel://")
    if is_sentinel(value):
        try:
            parse_sentinel_url(value)
        except ValueError as exc:
            return str(exc)
        return None
    if not value.startswith(schemes):
        return f"must start with one of {', '.join(schemes)}"
    if (
        value.startswith("sqlite://")
        and value != "sqlite://"
        and not value.startswith("sqlite:///")
    ):
        return "sqlite needs an absolute path: sqlite:///ABSOLUTE/PATH (or sqlite:// alone)"
    return None


def _log_format(value: str) -> str | None:
    return None if value in LOG_FORMATS else f"must be one of {', '.join(LOG_FORMATS)}"


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPv6]:PORT`` as (host, port); ValueError says what is wrong."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("must be HOST:PORT (e.g. 127.0.0.1:8081 or [::1]:8081)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


ACTIVE_CONTENT_MODES = ("sandbox", "attachment", "inline")


def _active_content(value: str) -> str | None:
    if value not in ACTIVE_CONTENT_MODES:
        return f"must be one of {', '.join(ACTIVE_CONTENT_MODES)}, not {value!r}"
    return None


def _listen(value: str) -> str | None:
    try:
        parse_listen(value)
    except ValueError as exc:
        return str(exc)
    return None


def _controller_spec(value: str) -> str | None:
    module, sep, name = value.partition(":")
    if value and (not sep or not module or not name.isidentifier()):
        return f"must be module.path:ClassName, not {value!r}"
    return None


def _user_names(value: list[Any]) -> str | None:
    for name in value:
        if not isinstance(name, str) or not name or ":" in name:
            return f"every entry must be a user name (as users log in), not {name!r}"
    return None


def _ldap_section(value: dict[str, Any]) -> str | None:
    from davserver.dav.ldap_settings import parse  # the section's own checks

    try:
        parse(value, files=False)  # files once relative names are resolved
    except ValueError as exc:
        return str(exc)
    return None


def _trusted_proxies(value: list[Any]) -> str | None:
    from davserver.http.forwarded import parse_networks

    try:
        parse_networks(str(entry) for entry in value)
    except ValueError as exc:
        return f"every entry must be an IP address or CIDR network: {exc}"
    return None


def _user_header(value: str) -> str | None:
    from davserver.dav.proxy_identity import header_problem

    return header_problem(value) if value else None


def _user_root(value: str) -> str | None:
    from davserver.dav.user_roots import template_problem

    return template_problem(value) if value else None


def _shared_folders(value: list[Any]) -> str | None:
    for folder in value:
        if not isinstance(folder, str) or not folder.startswith("/") or folder == "/":
            return (
                f"every entry must be an absolute path below the root such as /team, not {folder!r}"
            )
    return None


def _webhooks(value: list[Any]) -> str | None:
    for url in value:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return f"every entry must be an http:// or https:// URL, not {url!r}"
    return None


SCHEMA: tuple[Option, ...] = (
    Option("root", str, "directory to serve (created if missing)"),
    Option("host", str, "address to listen on"),
    Option("port", int, "TCP port to listen on (0 picks a free one)", _port),
    Option(
        "htpasswd",
        str,
        "htpasswd file with bcrypt hashes (htpasswd -B); without it access is anonymous",
        nullable=True,
    ),
    Option("readonly", bool, "refuse every method that changes something"),
    Option(
        "active_content",
        str,
        "how GET serves files a browser would run (HTML, SVG, XML, JS): sandbox "
        "(Content-Security-Policy: sandbox), attachment (download) or inline (as is)",
        _active_content,
    ),
    Option(
        "tls_cert",
        str,
        "PEM certificate chain (server certificate first): serve HTTPS (TLS 1.2+); needs tls_key",
        nullable=True,
    ),
    Option("tls_key", str, "PEM private key of tls_cert (unencrypted)", nullable=True),
    Option("log_level", str, "debug, info, warning or error", _log_level),
    Option(
        "state_dir",
        str,
        "server state (locks, properties); default ROOT/.davserver, never served",
        nullable=True,
    ),
    Option(
        "lock_store",
        str,
        "lock/property store URL: memory://, sqlite:///PATH, redis://HOST:PORT/DB, "
        "redis+sentinel://HOST:PORT,HOST:PORT/SERVICE/DB; default sqlite in state_dir",
        _store_url,
        nullable=True,
    ),
    Option(
        "lock_store_volatile_ok",
        bool,
        "accept a Redis lock store that persists nothing (appendonly no, no save points), "
        "or whose persistence cannot be checked; refused at start otherwise",
    ),
    Option(
        "redis_min_replicas",
        int,
        "Redis replicas that must confirm each lock or property change (WAIT) before it "
        "is acknowledged; fewer in time: 503; default 1 for redis+sentinel://, else 0",
        _between(0, 16),
        nullable=True,
    ),
    Option(
        "redis_replica_timeout_ms",
        int,
        "milliseconds a change waits for redis_min_replicas confirmations",
        _between(1, 4000),
    ),
    Option(
        "lock_store_write_wait",
        float,
        "seconds (fractions allowed) a write waits for the other writers of a SQLite "
        "lock store; then 503 with Retry-After, nothing changed",
        _seconds_between(0.01, 3600),
    ),
    Option(
        "workers",
        int,
        "worker processes sharing the port (SO_REUSEPORT); default: one per CPU core "
        "(one with lock_store memory://)",
        _workers,
        nullable=True,
    ),
    Option(
        "lock_timeout_default",
        int,
        "seconds granted when a LOCK has no Timeout header",
        _positive,
    ),
    Option("lock_timeout_max", int, "longest timeout granted, in seconds", _positive),
    Option(
        "lock_allow_infinite",
        bool,
        "grant Timeout: Infinite (otherwise lock_timeout_max is granted)",
    ),
    Option(
        "propfind_infinity_max",
        int,
        "most entries a PROPFIND with Depth infinity may list; beyond: 403 "
        "DAV:propfind-finite-depth (0: refuse Depth infinity on any non-empty folder)",
        _between(0, 10_000_000),
    ),
    Option(
        "max_xml_body_bytes",
        int,
        "largest XML request body (PROPFIND, PROPPATCH, LOCK); larger: 413",
        _between(1024, 1 << 30),
    ),
    Option(
        "max_property_bytes",
        int,
        "largest dead property a PROPPATCH may store (the element as XML, in bytes); "
        "larger: 413 for that property and nothing of the PROPPATCH is stored",
        _between(256, 1 << 30),
    ),
    Option(
        "max_properties_bytes_per_resource",
        int,
        "most bytes of dead properties one resource may hold; beyond: 507 and nothing "
        "of the PROPPATCH is stored",
        _between(1024, 1 << 40),
    ),
    Option(
        "max_properties_per_resource",
        int,
        "most dead properties one resource may hold; more: 507 and nothing of the "
        "PROPPATCH is stored",
        _between(1, 10_000_000),
    ),
    Option(
        "form_max_parts",
        int,
        "most parts (files and fields) one form of the listing page may send; more: 413",
        _between(4, 100_000),
    ),
    Option(
        "form_field_max_bytes",
        int,
        "largest text field of a listing page form (a name, the token); larger: 413",
        _between(1024, 16 * 1024 * 1024),
    ),
    Option(
        "max_ranges",
        int,
        "most byte ranges one GET may ask for; more: the whole file (200)",
        _between(1, 10_000),
    ),
    Option(
        "lock_owner_max_bytes",
        int,
        "largest DAV:owner a LOCK may store and echo back; larger: 413",
        _between(64, 1 << 20),
    ),
    Option(
        "quota_bytes",
        int,
        "bytes each user may own (the files they last wrote): 10GiB, 500MB or plain bytes; "
        "beyond: 507 (null: no quota; anonymous writers share the user 'anonymous')",
        nullable=True,
    ),
    Option(
        "quotas",
        dict,
        "per-user quotas overriding quota_bytes, {alice: 50GiB, bob: null} (null: no quota)",
    ),
    Option(
        "shared_locks_per_resource",
        int,
        "most shared locks on one resource; more: 423 saying the limit",
        _between(1, 1_000_000),
    ),
    Option(
        "max_locks_per_principal",
        int,
        "most locks one user holds at once (anonymous clients: one quota per client "
        "address); more: 423 saying the limit; null: no limit",
        _lock_quota,
        nullable=True,
    ),
    Option(
        "lock_infinity_max_entries",
        int,
        "most members (at any depth) a collection may have for a LOCK with Depth "
        "infinity on it; more: 403 naming this key (0: only empty collections; null: "
        "no limit)",
        _between(0, 10_000_000),
        nullable=True,
    ),
    Option(
        "lock_infinity_min_depth",
        int,
        "a LOCK with Depth infinity on a collection fewer levels below the root than "
        "this (/ is level 0) is for admins only; others get 403 (1: not on / itself; "
        "0: anywhere)",
        _between(0, 1000),
    ),
    Option(
        "if_header_max_conditions",
        int,
        "most conditions (state tokens and entity tags, all lists together) one If "
        "header may hold; more: 400 naming this key",
        _between(1, 100_000),
    ),
    Option(
        "if_header_max_resources",
        int,
        "most different resources the tagged lists of one If header may name; more: "
        "400 naming this key",
        _between(1, 100_000),
    ),
    Option(
        "permissions",
        list,
        "per-user, per-path access rules: [{path: /team, users: [alice, '*'], "
        "access: none|read|write}]; the most specific path wins; none given: everyone "
        "may do everything the share allows",
        _permission_rules,
    ),
    Option(
        "domain_controller",
        str,
        "WsgiDAV domain controller that checks logins, as module.path:ClassName "
        "(e.g. wsgidav.dc.pam_dc:PAMDomainController); empty: the htpasswd file",
        _controller_spec,
    ),
    Option(
        "domain_controller_config",
        dict,
        "the config a domain_controller is built with, as WsgiDAV would pass it "
        "(e.g. {pam_dc: {service: login}})",
    ),
    Option(
        "ldap",
        dict,
        "LDAP logins instead of htpasswd: {url: ldap://HOST (or ldaps://), user_dn: "
        "'uid={user},ou=people,...' or search_base (+ search_filter, bind_dn, "
        "bind_password_file), starttls, ca_file, require_group, admin_group, name_attribute, "
        "group_member_attribute, connect_timeout, receive_timeout, cache_seconds, "
        "cache_size, retry_after}",
        _ldap_section,
        nullable=True,
    ),
    Option(
        "allow_insecure_auth",
        bool,
        "accept Basic credentials over plain HTTP from other machines (passwords travel "
        "in clear); loopback and https are always fine",
    ),
    Option(
        "trusted_proxies",
        list,
        "addresses or CIDR networks (IPv4, IPv6) of reverse proxies whose "
        "X-Forwarded-For/-Proto and Forwarded headers name the client and the scheme; "
        "from any other peer those headers are ignored",
        _trusted_proxies,
    ),
    Option(
        "user_header",
        str,
        "request header in which a single sign-on proxy names the logged-in user "
        "(e.g. Remote-User); believed only from trusted_proxies, a request with it from "
        "anyone else is 403; without it the request goes on to htpasswd/LDAP; null: off",
        _user_header,
        nullable=True,
    ),
    Option(
        "user_root",
        str,
        "home folders: each user's / is this folder below root (must contain {user}, "
        "e.g. users/{user}), made on first login (mode 0700); admins see the whole share; "
        "anonymous requests are 401; null: off",
        _user_root,
        nullable=True,
    ),
    Option(
        "shared_folders",
        list,
        "with user_root: folders of the share every user sees at the same path inside "
        "their own root, e.g. [/team] (permissions still decide who may read or write)",
        _shared_folders,
    ),
    Option(
        "user_header_max_length",
        int,
        "longest user name accepted in user_header (longer: 400)",
        _between(1, 1024),
    ),
    # Login limits count in the lock store, shared by workers and servers; at most
    # 1000 failures are kept per counter (lockstore.failures.MAX_PER_KEY).
    Option(
        "auth_max_failures",
        int,
        "failed logins from one client address, and for one user from one address, "
        "within auth_failure_window before that address (or that user from it) gets 429; "
        "never by user name alone (0: no throttling)",
        _between(0, 1000),
    ),
    Option(
        "auth_failure_window",
        int,
        "seconds over which failed logins are counted (and refused once too many)",
        _between(1, 86_400),
    ),
    Option(
        "auth_user_max_failures",
        int,
        "failed logins for one user from all addresses within auth_failure_window after "
        "which each address gets one wrong guess per window for that user (distributed "
        "guessing); addresses without failures are never refused (0: off)",
        _between(0, 1000),
    ),
    # The HTTP layer (davserver/http): limits enforced while reading, timeouts.
    Option(
        "max_request_line",
        int,
        "longest request line in bytes (method, URL, version); longer: 414",
        _between(256, 1 << 20),
    ),
    Option(
        "max_header_bytes",
        int,
        "largest header section in bytes; larger: 431",
        _between(1024, 1 << 24),
    ),
    Option("max_header_count", int, "most header fields; more: 431", _between(8, 10000)),
    Option(
        "max_if_header_bytes",
        int,
        "largest If header (lock tokens, ETags) in bytes; larger: 431",
        _between(256, 1 << 24),
    ),
    Option(
        "max_upload_bytes",
        int,
        "largest request body in bytes (0: unlimited); larger: 413",
        _between(0, 1 << 62),
    ),
    Option(
        "header_timeout",
        int,
        "seconds a client has to send a request line and headers; then 408",
        _positive,
    ),
    Option(
        "body_timeout",
        int,
        "seconds a request body (or a client reading our answer) may stall; then 408",
        _positive,
    ),
    Option(
        "keepalive_timeout",
        int,
        "seconds an idle kept-alive connection stays open",
        _positive,
    ),
    Option(
        "max_connections_per_address",
        int,
        "open connections per client address and worker process (0: unlimited); more: 503",
        _between(0, 1 << 20),
    ),
    Option(
        "max_threads",
        int,
        "most worker threads per process (16 at rest, more while uploads are slow)",
        _between(16, 4096),
    ),
    Option(
        "min_body_rate",
        int,
        "bytes per second a request body must bring over every min_body_rate_window "
        "seconds from its first read on (0: no minimum); slower: 408",
        _between(0, 1 << 30),
    ),
    Option(
        "min_body_rate_window",
        int,
        "seconds over which min_body_rate is measured",
        _between(1, 3600),
    ),
    Option(
        "max_body_waiters",
        int,
        "requests per process whose body has yet to arrive, each holding a thread; more: "
        "503 with Retry-After before the body is read; below max_threads",
        _between(1, 4096),
        nullable=True,
    ),
    Option(
        "max_body_waiters_per_address",
        int,
        "requests per client address and worker process whose body has yet to arrive "
        "(0: unlimited); more: 503 with Retry-After before the body is read",
        _between(0, 1 << 20),
    ),
    # Running in production (davserver/observe): logs, metrics, lock events, stopping.
    Option("log_format", str, "log lines as text or json (one per line)", _log_format),
    Option(
        "metrics_on_main_port",
        bool,
        "also answer GET /metrics (Prometheus, unauthenticated) on the WebDAV port",
    ),
    Option(
        "lock_event_log",
        str,
        "file to append lock events to, one JSON object per line",
        nullable=True,
    ),
    Option(
        "lock_webhooks",
        list,
        "URLs to POST every lock event to (JSON), retried with backoff, never blocking",
        _webhooks,
    ),
    Option(
        "lock_webhook_queue",
        int,
        "lock events waiting per webhook; beyond it new events are dropped (logged)",
        _between(1, 1_000_000),
    ),
    Option(
        "lock_webhook_retries",
        int,
        "retries of a failed webhook delivery (backoff 0.5 s, 1 s, 2 s, ...)",
        _between(0, 20),
    ),
    Option(
        "drain_timeout",
        int,
        "seconds a stopping server (SIGTERM) waits for requests in flight",
        _between(0, 3600),
    ),
    Option(
        "drain_ready_grace",
        float,
        "seconds (fractions allowed) a stopping server (SIGTERM) keeps serving while "
        "/readyz answers 503 draining, before its port closes, once /readyz was asked "
        "since the start (0: the port closes at once)",
        _seconds_between(0, 300),
    ),
    Option(
        "ready_probe_timeout",
        float,
        "seconds (fractions allowed) /readyz waits for the lock store to answer; "
        "longer: not ready (/readyz?reads: writes off), the store is still asked",
        _seconds_between(0.05, 60),
    ),
    # Administration (davserver/admin_http): the admin listener, breaking and freezing locks.
    Option("admin", bool, "serve the admin API and web console on admin_listen"),
    Option(
        "admin_listen",
        str,
        "HOST:PORT of the admin API and console (only with admin: true or --admin)",
        _listen,
    ),
    Option(
        "admins",
        list,
        "user names (htpasswd, LDAP, domain_controller or user_header logins) who may use "
        "the admin listener and lock / with Depth infinity; with ldap.admin_group its members "
        "too (others get 403)",
        _user_names,
    ),
    Option(
        "metrics_users",
        list,
        "user names who may GET /metrics on the admin listener and nothing else",
        _user_names,
    ),
    Option(
        "metrics_token_file",
        str,
        "file holding a token that may GET /metrics on the admin listener "
        "(Authorization: Bearer TOKEN); read again when it changes",
        nullable=True,
    ),
    Option(
        "admin_tls_cert",
        str,
        "PEM certificate chain of the admin listener (default: tls_cert's, when set); "
        "needs admin_tls_key",
        nullable=True,
    ),
    Option("admin_tls_key", str, "PEM private key of admin_tls_cert (unencrypted)", nullable=True),
    Option(
        "audit_log",
        str,
        "file (JSON lines) recording every broken lock and every freeze made or lifted",
        nullable=True,
    ),
    Option(
        "broken_lock_memory",
        int,
        "longest time, in seconds, a broken lock's holder is told who broke it and why "
        "(otherwise as long as the lock would have lasted)",
        _between(1, 366 * 86400),
    ),
    Option(
        "admin_reason_max",
        int,
        "longest reason, in characters, for breaking a lock or freezing; longer: 400",
        _between(10, 100_000),
    ),
    Option(
        "admin_outbox_max",
        int,
        "most lock events of `davserver locks` commands kept in the lock store until a "
        "server reports them; beyond it the oldest are dropped with a warning",
        _between(1, 1_000_000),
    ),
    Option(
        "admin_outbox_interval",
        int,
        "seconds between two looks of each server worker for lock events of "
        "`davserver locks` commands to report (metrics, event log, webhooks)",
        _between(1, 3600),
    ),
)

# Applied by SIGHUP without a restart; every other key needs one.
LIVE_KEYS = frozenset(
    {"log_level", "log_format", "htpasswd", "lock_timeout_default", "lock_timeout_max"}
    | {"lock_allow_infinite", "lock_event_log", "lock_webhooks", "lock_webhook_queue"}
    | {"lock_webhook_retries", "drain_timeout", "drain_ready_grace", "tls_cert", "tls_key"}
    | {"admin_tls_cert", "admin_tls_key"}
)
# Relative paths in a config file are relative to the file's directory.
PATH_KEYS = (
    *("root", "htpasswd", "state_dir", "lock_event_log", "audit_log", "tls_cert", "tls_key"),
    *("metrics_token_file", "admin_tls_cert", "admin_tls_key"),
)
# What "default" means where the default is computed (shown by --help).
SHOWN_DEFAULTS = {
    "workers": "one per CPU core (one with memory://)",
    "htpasswd": "none: anonymous access",
    "user_header": "none: off",
    "user_root": "none: everyone sees the whole share",
    "tls_cert": "none: plain HTTP",
    "tls_key": "none",
    "state_dir": "ROOT/.davserver",
    "lock_store": "sqlite in state_dir (memory:// for a read-only share without state_dir)",
    "lock_event_log": "none",
    "audit_log": "STATE_DIR/audit.jsonl",
    "max_body_waiters": "half of max_threads",
}

OPTIONS: Mapping[str, Option] = {option.name: option for option in SCHEMA}


@dataclass(frozen=True)
class Config:
    """The effective configuration; ``source`` is the YAML file used, if any."""

    root: str = "./share"
    host: str = "127.0.0.1"
    port: int = 8080
    htpasswd: str | None = None
    readonly: bool = False
    active_content: str = "sandbox"
    tls_cert: str | None = None
    tls_key: str | None = None
    log_level: str = "info"
    state_dir: str | None = None
    lock_store: str | None = None
    lock_store_volatile_ok: bool = False
    redis_min_replicas: int | None = None
    redis_replica_timeout_ms: int = 1000
    lock_store_write_wait: float = 10.0
    workers: int | None = None
    lock_timeout_default: int = 3600
    lock_timeout_max: int = 86400
    lock_allow_infinite: bool = False
    propfind_infinity_max: int = 10_000
    max_xml_body_bytes: int = 8 * 1024 * 1024
    max_property_bytes: int = 64 * 1024
    max_properties_bytes_per_resource: int = 1024 * 1024
    max_properties_per_resource: int = 1000
    max_ranges: int = 32
    form_max_parts: int = 100
    form_field_max_bytes: int = 65536
    lock_owner_max_bytes: int = 4096
    shared_locks_per_resource: int = 100
    max_locks_per_principal: int | None = 1000
    quota_bytes: int | None = None
    quotas: dict[str, int | None] = dataclasses.field(default_factory=dict)
    lock_infinity_max_entries: int | None = 10_000
    lock_infinity_min_depth: int = 1
    if_header_max_conditions: int = 256
    if_header_max_resources: int = 64
    permissions: list[Any] = dataclasses.field(default_factory=list)
    domain_controller: str = ""
    domain_controller_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    ldap: dict[str, Any] | None = None
    allow_insecure_auth: bool = False
    trusted_proxies: list[str] = dataclasses.field(default_factory=list)
    user_header: str | None = None
    user_header_max_length: int = 128
    user_root: str | None = None
    shared_folders: list[str] = dataclasses.field(default_factory=list)
    auth_max_failures: int = 10
    auth_failure_window: int = 60
    auth_user_max_failures: int = 100
    max_request_line: int = 8192
    max_header_bytes: int = 65536
    max_header_count: int = 100
    max_if_header_bytes: int = 16384
    max_upload_bytes: int = 0
    header_timeout: int = 10
    body_timeout: int = 30
    keepalive_timeout: int = 30
    max_connections_per_address: int = 64
    max_threads: int = 256
    min_body_rate: int = 1024
    min_body_rate_window: int = 20
    max_body_waiters: int | None = None
    max_body_waiters_per_address: int = 16
    log_format: str = "text"
    metrics_on_main_port: bool = False
    lock_event_log: str | None = None
    lock_webhooks: list[str] = dataclasses.field(default_factory=list)
    lock_webhook_queue: int = 1000
    lock_webhook_retries: int = 5
    drain_timeout: int = 30
    drain_ready_grace: float = 5.0
    ready_probe_timeout: float = 2.0
    admin: bool = False
    admin_listen: str = "127.0.0.1:8081"
    admins: list[str] = dataclasses.field(default_factory=list)
    metrics_users: list[str] = dataclasses.field(default_factory=list)
    metrics_token_file: str | None = None
    admin_tls_cert: str | None = None
    admin_tls_key: str | None = None
    audit_log: str | None = None
    broken_lock_memory: int = 604800
    admin_reason_max: int = 500
    admin_outbox_max: int = 10000
    admin_outbox_interval: int = 1
    source: str | None = None

    @property
    def root_path(self) -> Path:
        return Path(self.root).expanduser().resolve()

    @property
    def worker_count(self) -> int:
        """``workers``, or one per CPU core (like nginx's ``worker_processes auto``);
        a memory:// store lives in one process, so it gets one worker by default."""
        if self.workers is not None:
            return self.workers
        if (self.lock_store or "").startswith("memory://"):
            return 1
        return max(1, min(64, len(os.sched_getaffinity(0))))

    @property
    def state_path(self) -> Path:
        if self.state_dir:
            return Path(self.state_dir).expanduser().resolve()
        return self.root_path / ".davserver"

    @property
    def audit_path(self) -> Path:
        if self.audit_log:
            return Path(self.audit_log).expanduser().resolve()
        return self.state_path / "audit.jsonl"

    @property
    def store_url(self) -> str | None:
        """The lock store to open: a read-only share without a state directory
        keeps nothing (it takes no locks, sets no properties) and writes nothing
        into its root."""
        if self.lock_store is None and self.readonly and not self.state_dir:
            return "memory://"
        return self.lock_store


def _type_name(kind: type) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    names[list] = "a list"
    names[dict] = "a mapping"
    return names[kind]


# Keys whose values are byte sizes (10GiB, 500MB, bytes), parsed once here.
SIZE_KEYS = frozenset({"quota_bytes", "quotas"})


def _sizes(name: str, value: Any, source: str) -> Any:
    """``quota_bytes`` in bytes, or ``quotas`` with every value in bytes."""
    from davserver.sizes import parse_size

    try:
        if name != "quotas":
            return parse_size(value)
        if not isinstance(value, dict):
            raise ValueError(f"must be a mapping of user names to sizes, got {value!r}")
        parsed: dict[str, int | None] = {}
        for user, size in value.items():
            if not isinstance(user, str) or not user or ":" in user:
                raise ValueError(f"{user!r} is not a user name")
            try:
                parsed[user] = None if size is None else parse_size(size)
            except ValueError as exc:
                raise ValueError(f"{user}: {exc}") from None
        return parsed
    except ValueError as exc:
        raise ConfigError(str(exc), source=source, key=name) from None


def validate_value(name: str, value: Any, source: str) -> Any:
    """Check one value against the schema; return it (normalised) or raise ConfigError."""
    option = OPTIONS.get(name)
    if option is None:
        known = ", ".join(sorted(OPTIONS))
        raise ConfigError(f"unknown key (known keys: {known})", source=source, key=name)
    if value is None:
        if option.nullable:
            return None
        raise ConfigError(f"must be {_type_name(option.type)}, not empty", source=source, key=name)
    if name in SIZE_KEYS:
        value = _sizes(name, value, source)
    # bool is a subclass of int: refuse `port: true` explicitly.
    wrong_bool = option.type in (int, float) and isinstance(value, bool)
    if option.type is float and isinstance(value, int) and not wrong_bool:
        value = float(value)  # a whole number of seconds
    if not isinstance(value, option.type) or wrong_bool:
        shown = type(value).__name__
        raise ConfigError(
            f"must be {_type_name(option.type)}, got {shown} {value!r}", source=source, key=name
        )
    if option.check is not None:
        problem = option.check(value)
        if problem:
            raise ConfigError(f"{problem} (got {value!r})", source=source, key=name)
    if name == "log_level":
        value = str(value).lower()
    return value


def read_yaml(path: str) -> dict[str, Any]:
    """Read and validate a YAML config file; every key must be known."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", source=path) from exc
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", source=path) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of key: value", source=path)
    values, problems = {}, []
    for key, value in data.items():
        try:
            values[str(key)] = validate_value(str(key), value, path)
        except ConfigError as exc:
            problems.append(exc)
    if problems:
        raise _first_of(problems)
    return _resolve_paths(values, Path(path).parent)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader refusing a key given twice (PyYAML silently keeps the last)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def _resolve_paths(values: dict[str, Any], base: Path) -> dict[str, Any]:
    for key in PATH_KEYS:
        if isinstance(values.get(key), str):
            path = Path(values[key]).expanduser()
            values[key] = str(path if path.is_absolute() else (base / path).absolute())
    if isinstance(values.get("ldap"), dict):
        from davserver.dav.ldap_settings import resolve_files

        values["ldap"] = resolve_files(values["ldap"], base)
    return values


def _first_of(problems: list[ConfigError]) -> ConfigError:
    """One ConfigError carrying all of them (``problems``), worded as the first."""
    first = problems[0]
    first.problems = tuple(problems)  # type: ignore[attr-defined]
    return first


def all_problems(exc: ConfigError) -> tuple[ConfigError, ...]:
    return tuple(getattr(exc, "problems", (exc,)))


def load(config_file: str | None, overrides: Mapping[str, Any]) -> Config:
    """Build the effective Config: defaults, then the YAML file, then CLI overrides."""
    values: dict[str, Any] = {}
    problems: list[ConfigError] = []
    if config_file:
        try:
            values.update(read_yaml(config_file))
        except ConfigError as exc:
            problems.extend(all_problems(exc))
    for key, value in overrides.items():
        if value is not None:
            try:
                values[key] = validate_value(key, value, "command line")
            except ConfigError as exc:
                problems.append(exc)
    if problems:
        raise _first_of(problems)
    config = Config(**values, source=config_file)
    _check_consistency(config)
    return config


def _check_consistency(config: Config) -> None:
    source = config.source or "command line"
    if config.lock_timeout_default > config.lock_timeout_max:
        raise ConfigError(
            f"must not exceed lock_timeout_max ({config.lock_timeout_max})",
            source=source,
            key="lock_timeout_default",
        )
    if config.worker_count > 1 and (config.lock_store or "").startswith("memory://"):
        raise ConfigError(
            "memory:// keeps locks inside one process; with several workers use "
            "sqlite:///PATH or redis://",
            source=source,
            key="lock_store",
        )
    if config.max_body_waiters is not None and config.max_body_waiters >= config.max_threads:
        raise ConfigError(
            f"must be below max_threads ({config.max_threads}): the other threads serve "
            "everything else while bodies arrive slowly",
            source=source,
            key="max_body_waiters",
        )
    _check_admin(config, source)
    _check_user_root(config, source)
    _check_ldap(config, source)
    _check_tls(config, source)


def _check_user_root(config: Config, source: str) -> None:
    """Home folders are per user: without logins nobody would have one."""
    if not config.user_root:
        if config.shared_folders:
            raise ConfigError(
                "shared folders are shown inside home folders: set user_root too",
                source=source,
                key="shared_folders",
            )
        return
    from davserver.dav.user_roots import shared_problem

    for folder in config.shared_folders:
        if (problem := shared_problem(folder, config.user_root)) is not None:
            raise ConfigError(f"{folder}: {problem}", source=source, key="shared_folders")
    if not (config.htpasswd or config.ldap or config.user_header or config.domain_controller):
        raise ConfigError(
            "home folders need logins: set htpasswd, ldap, user_header or domain_controller",
            source=source,
            key="user_root",
        )


def _check_ldap(config: Config, source: str) -> None:
    """The ldap section's files must be readable; it replaces the login check."""
    if config.ldap is None:
        return
    from davserver.dav.ldap_settings import parse

    if config.domain_controller:
        raise ConfigError(
            "give ldap or domain_controller, not both (each decides who logs in)",
            source=source,
            key="ldap",
        )
    try:
        parse(config.ldap)
    except ValueError as exc:
        raise ConfigError(str(exc), source=source, key="ldap") from exc


def _check_tls(config: Config, source: str) -> None:
    """A certificate is served with its key: one without the other is a mistake."""
    if bool(config.tls_cert) == bool(config.tls_key):
        return
    given, missing = ("tls_cert", "tls_key") if config.tls_cert else ("tls_key", "tls_cert")
    raise ConfigError(
        f"{given} is set but {missing} is not: HTTPS needs both (or neither, for plain HTTP)",
        source=source,
        key=missing,
    )


def _check_admin(config: Config, source: str) -> None:
    """The admin listener authenticates administrators: it needs users and a port of its own."""
    if not config.admin:
        return
    if not (config.htpasswd or config.ldap or config.domain_controller or config.user_header):
        raise ConfigError(
            "the admin listener needs logins (administrators log in): set htpasswd, ldap, "
            "domain_controller or user_header",
            source=source,
            key="admin",
        )
    if not config.admins and not (config.ldap or {}).get("admin_group"):
        raise ConfigError(
            "name the administrators (user names who log in), or give ldap.admin_group",
            source=source,
            key="admins",
        )
    if bool(config.admin_tls_cert) != bool(config.admin_tls_key):
        given = "admin_tls_cert" if config.admin_tls_cert else "admin_tls_key"
        missing = "admin_tls_key" if config.admin_tls_cert else "admin_tls_cert"
        raise ConfigError(f"{given} is set but {missing} is not", source=source, key=missing)
    host, port = parse_listen(config.admin_listen)
    if port and port == config.port and host in (config.host, "0.0.0.0", "::"):
        raise ConfigError(
            f"must differ from the WebDAV address {config.host}:{config.port}",
            source=source,
            key="admin_listen",
        )


def defaults() -> dict[str, Any]:
    """Every key's built-in default (a fresh list where the default is a list)."""
    return {
        field.name: field.default_factory()
        if field.default is dataclasses.MISSING and field.default_factory is not dataclasses.MISSING
        else field.default
        for field in dataclasses.fields(Config)
    }
