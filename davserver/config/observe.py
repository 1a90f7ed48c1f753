"""Sections of running it in production: ``logs``, ``metrics``, ``webhooks``, ``admin``."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel

from davserver.config.fields import (
    SECTION,
    Between,
    Listen,
    LogFormat,
    LogLevel,
    Seconds,
    Urls,
    UserNames,
    key,
)


class LogsSection(BaseModel):
    """Log lines (stderr, or the journal) and the lock event log."""

    model_config = SECTION

    level: LogLevel = key(
        "info", "debug, info, warning or error", flag="--log-level", live=True, old="log_level"
    )
    format: LogFormat = key(
        "text",
        "log lines as text or json (one per line)",
        flag="--log-format",
        live=True,
        old="log_format",
    )
    lock_events: str | None = key(
        None,
        "file to append lock events to, one JSON object per line",
        live=True,
        path=True,
        shown="none",
        old="lock_event_log",
    )


class MetricsSection(BaseModel):
    """Prometheus metrics: on the admin listener, optionally on the WebDAV port."""

    model_config = SECTION

    on_main_port: bool = key(
        False,
        "also answer GET /metrics (Prometheus, unauthenticated) on the WebDAV port",
        old="metrics_on_main_port",
    )
    users: UserNames = key(
        factory=list,
        help="user names who may GET /metrics on the admin listener and nothing else",
        metavar="USER,USER",
        old="metrics_users",
    )
    token_file: str | None = key(
        None,
        "file holding a token that may GET /metrics on the admin listener "
        "(Authorization: Bearer TOKEN); read again when it changes",
        metavar="FILE",
        path=True,
        shown="none",
        old="metrics_token_file",
    )


class WebhooksSection(BaseModel):
    """Lock events POSTed as JSON: retried with backoff, never blocking a request."""

    model_config = SECTION

    urls: Urls = key(
        factory=list,
        help="URLs to POST every lock event to (JSON), retried with backoff, never blocking",
        metavar="URL,URL",
        live=True,
        old="lock_webhooks",
    )
    queue: Annotated[int, Between(1, 1_000_000)] = key(
        1000,
        "lock events waiting per webhook; beyond it new events are dropped (logged)",
        live=True,
        old="lock_webhook_queue",
    )
    retries: Annotated[int, Between(0, 20)] = key(
        5,
        "retries of a failed webhook delivery (backoff 0.5 s, 1 s, 2 s, ...)",
        live=True,
        old="lock_webhook_retries",
    )


class AdminSection(BaseModel):
    """The admin listener (JSON API and web console): breaking and freezing locks."""

    model_config = SECTION

    enabled: bool = key(
        False, "serve the admin API and web console on admin.listen", flag="--admin", old="admin"
    )
    listen: Listen = key(
        "127.0.0.1:8081",
        "HOST:PORT of the admin API and console (only with admin.enabled or --admin)",
        flag="--admin-listen",
        metavar="HOST:PORT",
        old="admin_listen",
    )
    users: UserNames = key(
        factory=list,
        help="user names (htpasswd, LDAP, domain_controller or user_header logins) who may "
        "use the admin listener and lock / with Depth infinity; with ldap.admin_group its "
        "members too (others get 403)",
        flag="--admins",
        metavar="USER,USER",
        old="admins",
    )
    tls_cert: str | None = key(
        None,
        "PEM certificate chain of the admin listener (default: tls.cert's, when set); "
        "needs admin.tls_key",
        metavar="FILE",
        live=True,
        path=True,
        shown="tls.cert",
        old="admin_tls_cert",
    )
    tls_key: str | None = key(
        None,
        "PEM private key of admin.tls_cert (unencrypted)",
        metavar="FILE",
        live=True,
        path=True,
        shown="tls.key",
        old="admin_tls_key",
    )
    audit_log: str | None = key(
        None,
        "file (JSON lines) recording every broken lock and every freeze made or lifted",
        metavar="FILE",
        path=True,
        shown="STATE_DIR/audit.jsonl",
    )
    broken_lock_memory: Annotated[int, Between(1, 366 * 86400)] = key(
        604800,
        "longest time, in seconds, a broken lock's holder is told who broke it and why "
        "(otherwise as long as the lock would have lasted)",
    )
    reason_max: Annotated[int, Between(10, 100_000)] = key(
        500,
        "longest reason, in characters, for breaking a lock or freezing; longer: 400",
        old="admin_reason_max",
    )
    outbox_max: Annotated[int, Between(1, 1_000_000)] = key(
        10000,
        "most lock events of `davserver locks` commands kept in the lock store until a "
        "server reports them; beyond it the oldest are dropped with a warning",
        old="admin_outbox_max",
    )
    outbox_interval: Annotated[float, Seconds(0.05, 3600)] = key(
        1.0,
        "seconds between two looks of each server worker for lock events of "
        "`davserver locks` commands to report (metrics, event log, webhooks)",
        old="admin_outbox_interval",
    )
