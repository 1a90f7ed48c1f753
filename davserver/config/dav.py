"""Sections of WebDAV work: ``dav`` (request limits), ``locks``, ``store``, ``auth``.

Lock timeouts stay whole seconds: RFC 4918 §10.7 grants them as ``Second-N``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel

from davserver.config.fields import (
    SECTION,
    ActiveContent,
    Between,
    ControllerSpec,
    PositiveWholeSeconds,
    Seconds,
    Size,
    Sizes,
    StoreUrl,
    UserHeader,
    key,
)


class DavSection(BaseModel):
    """Per-request limits of the WebDAV methods, and how GET serves active content."""

    model_config = SECTION

    active_content: ActiveContent = key(
        "sandbox",
        "how GET serves files a browser would run (HTML, SVG, XML, JS): sandbox "
        "(Content-Security-Policy: sandbox), attachment (download) or inline (as is)",
    )
    propfind_infinity_max: Annotated[int, Between(0, 10_000_000)] = key(
        10_000,
        "most entries a PROPFIND with Depth infinity may list; beyond: 403 "
        "DAV:propfind-finite-depth (0: refuse Depth infinity on any non-empty folder)",
    )
    max_xml_body_bytes: Annotated[int, Between(1024, 1 << 30)] = key(
        8 * 1024 * 1024, "largest XML request body (PROPFIND, PROPPATCH, LOCK); larger: 413"
    )
    max_property_bytes: Annotated[int, Between(256, 1 << 30)] = key(
        64 * 1024,
        "largest dead property a PROPPATCH may store (the element as XML, in bytes); "
        "larger: 413 for that property and nothing of the PROPPATCH is stored",
    )
    max_properties_bytes_per_resource: Annotated[int, Between(1024, 1 << 40)] = key(
        1024 * 1024,
        "most bytes of dead properties one resource may hold; beyond: 507 and nothing "
        "of the PROPPATCH is stored",
    )
    max_properties_per_resource: Annotated[int, Between(1, 10_000_000)] = key(
        1000,
        "most dead properties one resource may hold; more: 507 and nothing of the "
        "PROPPATCH is stored",
    )
    max_ranges: Annotated[int, Between(1, 10_000)] = key(
        32, "most byte ranges one GET may ask for; more: the whole file (200)"
    )
    form_max_parts: Annotated[int, Between(4, 100_000)] = key(
        100, "most parts (files and fields) one form of the listing page may send; more: 413"
    )
    form_field_max_bytes: Annotated[int, Between(1024, 16 * 1024 * 1024)] = key(
        65536, "largest text field of a listing page form (a name, the token); larger: 413"
    )


class LocksSection(BaseModel):
    """What LOCK grants (RFC 4918 §6, §9.10) and the limits on lock requests."""

    model_config = SECTION

    timeout_default: PositiveWholeSeconds = key(
        3600,
        "seconds granted when a LOCK has no Timeout header",
        live=True,
        old="lock_timeout_default",
    )
    timeout_max: PositiveWholeSeconds = key(
        86400, "longest timeout granted, in seconds", live=True, old="lock_timeout_max"
    )
    allow_infinite: bool = key(
        False,
        "grant Timeout: Infinite (otherwise locks.timeout_max is granted)",
        live=True,
        old="lock_allow_infinite",
    )
    owner_max_bytes: Annotated[int, Between(64, 1 << 20)] = key(
        4096,
        "largest DAV:owner a LOCK may store and echo back; larger: 413",
        old="lock_owner_max_bytes",
    )
    shared_per_resource: Annotated[int, Between(1, 1_000_000)] = key(
        100,
        "most shared locks on one resource; more: 423 saying the limit",
        old="shared_locks_per_resource",
    )
    max_per_principal: Annotated[int, Between(1, 1 << 40)] | None = key(
        1000,
        "most locks one user holds at once (anonymous clients: one quota per client "
        "address); more: 423 saying the limit; null: no limit",
        old="max_locks_per_principal",
    )
    infinity_max_entries: Annotated[int, Between(0, 10_000_000)] | None = key(
        10_000,
        "most members (at any depth) a collection may have for a LOCK with Depth "
        "infinity on it; more: 403 naming this key (0: only empty collections; null: "
        "no limit)",
        old="lock_infinity_max_entries",
    )
    infinity_min_depth: Annotated[int, Between(0, 1000)] = key(
        1,
        "a LOCK with Depth infinity on a collection fewer levels below the root than "
        "this (/ is level 0) is for admins only; others get 403 (1: not on / itself; "
        "0: anywhere)",
        old="lock_infinity_min_depth",
    )
    if_header_max_conditions: Annotated[int, Between(1, 100_000)] = key(
        256,
        "most conditions (state tokens and entity tags, all lists together) one If "
        "header may hold; more: 400 naming this key",
    )
    if_header_max_resources: Annotated[int, Between(1, 100_000)] = key(
        64,
        "most different resources the tagged lists of one If header may name; more: "
        "400 naming this key",
    )


class StoreSection(BaseModel):
    """Where locks and dead properties live, shared by the workers (and servers)."""

    model_config = SECTION

    url: StoreUrl | None = key(
        None,
        "lock/property store URL: memory://, sqlite:///PATH, redis://HOST:PORT/DB, "
        "redis+sentinel://HOST:PORT,HOST:PORT/SERVICE/DB; default sqlite in state_dir",
        flag="--lock-store",
        metavar="URL",
        shown="sqlite in state_dir (memory:// for a read-only share without state_dir)",
        old="lock_store",
    )
    volatile_ok: bool = key(
        False,
        "accept a Redis lock store that persists nothing (appendonly no, no save points), "
        "or whose persistence cannot be checked; refused at start otherwise",
        old="lock_store_volatile_ok",
    )
    write_wait: Annotated[float, Seconds(0.01, 3600)] = key(
        10.0,
        "seconds (fractions allowed) a write waits for the other writers of a SQLite "
        "lock store; then 503 with Retry-After, nothing changed",
        old="lock_store_write_wait",
    )
    redis_min_replicas: Annotated[int, Between(0, 16)] | None = key(
        None,
        "Redis replicas that must confirm each lock or property change (WAIT) before it "
        "is acknowledged; fewer in time: 503; default 1 for redis+sentinel://, else 0",
        shown="1 for redis+sentinel://, else 0",
    )
    redis_replica_timeout_ms: Annotated[int, Between(1, 4000)] = key(
        1000, "milliseconds a change waits for store.redis_min_replicas confirmations"
    )
    ready_probe_timeout: Annotated[float, Seconds(0.05, 60)] = key(
        2.0,
        "seconds (fractions allowed) /readyz waits for the lock store to answer; "
        "longer: not ready (/readyz?reads: writes off), the store is still asked",
    )


class AuthSection(BaseModel):
    """Who is asking: Basic authentication against an htpasswd file, and throttling.

    Login limits count in the lock store, shared by workers and servers; at most
    1000 failures are kept per counter (lockstore.failures.MAX_PER_KEY)."""

    model_config = SECTION

    htpasswd: str | None = key(
        None,
        "htpasswd file with bcrypt hashes (htpasswd -B); without it access is anonymous",
        flag="--htpasswd",
        metavar="FILE",
        live=True,
        path=True,
        shown="none: anonymous access",
    )
    allow_insecure: bool = key(
        False,
        "accept Basic credentials over plain HTTP from other machines (passwords travel "
        "in clear); loopback and https are always fine",
        old="allow_insecure_auth",
    )
    max_failures: Annotated[int, Between(0, 1000)] = key(
        10,
        "failed logins from one client address, and for one user from one address, "
        "within auth.failure_window before that address (or that user from it) gets 429; "
        "never by user name alone (0: no throttling)",
        old="auth_max_failures",
    )
    failure_window: Annotated[float, Seconds(1, 86_400)] = key(
        60.0,
        "seconds over which failed logins are counted (and refused once too many)",
        old="auth_failure_window",
    )
    user_max_failures: Annotated[int, Between(0, 1000)] = key(
        100,
        "failed logins for one user from all addresses within auth.failure_window after "
        "which each address gets one wrong guess per window for that user (distributed "
        "guessing); addresses without failures are never refused (0: off)",
        old="auth_user_max_failures",
    )
    domain_controller: ControllerSpec = key(
        "",
        "WsgiDAV domain controller that checks logins, as module.path:ClassName "
        "(e.g. wsgidav.dc.pam_dc:PAMDomainController); empty: the htpasswd file",
        shown="none: the htpasswd file",
    )
    user_header: UserHeader = key(
        None,
        "request header in which a single sign-on proxy names the logged-in user "
        "(e.g. Remote-User); believed only from http.trusted_proxies, a request with it "
        "from anyone else is 403; without it the request goes on to htpasswd/LDAP; null: off",
        metavar="HEADER",
        shown="none: off",
    )
    user_header_max_length: Annotated[int, Between(1, 1024)] = key(
        128, "longest user name accepted in auth.user_header (longer: 400)"
    )
    domain_controller_config: dict[str, Any] = key(
        factory=dict,
        help="the config a domain_controller is built with, as WsgiDAV would pass it "
        "(e.g. {pam_dc: {service: login}})",
        flag="",
    )


class QuotaSection(BaseModel):
    """Per-user byte quotas: the files each user last wrote (RFC 4331 properties)."""

    model_config = SECTION

    bytes: Size | None = key(
        None,
        "bytes each user may own (the files they last wrote): 10GiB, 500MB or plain bytes; "
        "beyond: 507 (null: no quota; anonymous writers share the user 'anonymous')",
        metavar="SIZE",
        shown="none: no quota",
        old="quota_bytes",
    )
    users: Sizes = key(
        factory=dict,
        help="per-user quotas overriding quota.bytes, {alice: 50GiB, bob: null} (null: no quota)",
        flag="",
        old="quotas",
    )
