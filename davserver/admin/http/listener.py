"""The admin listener: a second HTTP server, in a thread of every serving process.

Its address is ``admin_listen``; the port is reserved by the parent process
before any worker starts (as the WebDAV port is), so "address in use" stops the
server at once, and every worker then binds it with ``SO_REUSEPORT``.  State is
in the lock store and the audit file, never in a process, so whichever worker
answers a request answers it the same.  It serves with davserver's own HTTP
layer (the same framing rules and limits as the WebDAV port) on a few threads.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from davserver.admin.audit import AuditLog
from davserver.admin.http import api, console
from davserver.admin.http.admin_auth import AdminAuth
from davserver.admin.http.app import OPEN_PATHS, AdminApp, WSGIApp
from davserver.admin.http.metrics_access import MetricsToken
from davserver.admin.service import AdminService
from davserver.common.net import parse_networks
from davserver.config import Config, parse_listen
from davserver.dav.logins.admins import admins_of
from davserver.dav.logins.basic import Authenticator
from davserver.dav.logins.controller import HtpasswdDomainController, read_htpasswd
from davserver.dav.logins.proxy_identity import identity
from davserver.dav.logins.throttle import LoginThrottle, login_throttle
from davserver.errors import DavServerError, StartupError
from davserver.http import DavWSGIServer, HttpLimits, tls
from davserver.observe.access import AccessLog, refusal_recorder
from davserver.runtime.application import login_controller

log = logging.getLogger(__name__)

THREADS = 4  # a few administrators and their consoles' polling
QUIET = frozenset({*OPEN_PATHS, "/metrics"})  # probes and scrapes: access lines at DEBUG


def reserve(
    config: Config, reserve_port: Callable[[str, int], socket.socket]
) -> tuple[Config, socket.socket | None]:
    """Reserve ``admin_listen`` (when the listener is on) and return the config with
    the port actually bound (``:0`` picks one) and the reservation to close at exit."""
    if not config.admin.enabled:
        return config, None
    host, port = parse_listen(config.admin.listen)
    tls_context(config)  # a pair that does not load stops the server before any worker
    reservation = reserve_port(host, port)
    bound = reservation.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    admin = config.admin.model_copy(update={"listen": f"{shown}:{bound}"})
    return config.model_copy(update={"admin": admin}), reservation


def banner(config: Config) -> str:
    """What the start line says about the admin listener (nothing when it is off)."""
    if not config.admin.enabled:
        return ""
    return f" admin={scheme(config)}://{config.admin.listen}/"


def tls_pair(config: Config) -> tuple[str, str] | None:
    """The certificate and key of the admin listener: its own, else the WebDAV
    port's (an HTTPS server's administrators should not log in in clear)."""
    if config.admin.tls_cert and config.admin.tls_key:
        return config.admin.tls_cert, config.admin.tls_key
    if config.tls.cert and config.tls.key:
        return config.tls.cert, config.tls.key
    return None


def scheme(config: Config) -> str:
    return "https" if tls_pair(config) else "http"


def tls_context(config: Config) -> ssl.SSLContext | None:
    """The admin listener's TLS context (None: plain HTTP); StartupError naming
    what is wrong with the pair when it does not load."""
    pair = tls_pair(config)
    if pair is None:
        return None
    try:
        return tls.server_context(*pair)
    except OSError:
        problem = tls.load_problem(*pair)
        if config.admin.tls_cert and problem:  # the admin pair's own keys
            problem = problem.replace("tls.cert", "admin.tls_cert").replace(
                "tls.key", "admin.tls_key"
            )
        raise StartupError(problem or "the admin listener's TLS pair does not load") from None


def reloaded_tls(serving_tls: bool, new: Config) -> ssl.SSLContext | None:
    """The admin pair read again (SIGHUP); switching HTTPS on or off needs a restart."""
    if not new.admin.enabled:
        return None
    if (tls_pair(new) is not None) != serving_tls:
        raise StartupError("the admin listener's HTTPS cannot be turned on or off by a reload")
    return tls_context(new)


def build(config: Config, application: Any) -> WSGIApp:
    """The admin WSGI app over ``application``'s lock manager and share."""
    share = application.dav.share

    def exists(path: str) -> bool:
        try:
            return share.lookup(path) is not None
        except DavServerError:  # e.g. a path the share refuses to look at: not "missing"
            return True

    service = AdminService(
        application.manager,
        AuditLog(config.audit_path),
        exists=exists,
        memory_max=config.admin.broken_lock_memory,
        reason_max=config.admin.reason_max,
    )
    # The WebDAV port's controller and throttle: one password, one count of the guesses at it.
    throttle: LoginThrottle = getattr(application, "throttle", None) or login_throttle(config, None)
    controller = getattr(application, "controller", None) or login_controller(config)
    admins = getattr(application, "admins", None) or admins_of(config.admin.users, controller)
    warn_unknown(config, controller)
    token = config.metrics.token_file
    auth = AdminAuth(
        Authenticator(controller, throttle, allow_insecure=config.auth.allow_insecure),
        admins,
        metrics_users=config.metrics.users,
        metrics_token=MetricsToken(Path(token)) if token else None,
        identity=identity(config),
    )
    observe = getattr(application, "observe", None)
    routes: dict[str, WSGIApp] = observe.endpoints() if observe is not None else {}
    admin = AdminApp(
        service,
        auth,
        api=api.handle,
        console=console.handle,
        routes=routes,
        trusted=parse_networks(config.http.trusted_proxies),
    )
    # Its own access lines (listener=admin), refusals included; probes quiet while they pass.
    return AccessLog(admin, listener="admin", quiet=QUIET)


def warn_unknown(config: Config, controller: Any) -> None:
    """Warn about administrators and metrics readers the htpasswd file does not
    know (a directory, another controller or a proxy may know them)."""
    if config.auth.user_header or not isinstance(controller, HtpasswdDomainController):
        return
    htpasswd = controller.path
    known = set(read_htpasswd(htpasswd)) if htpasswd else set()
    unknown = sorted(set(config.admin.users + config.metrics.users) - known)
    if unknown:
        log.warning("users not in %s (they cannot log in): %s", htpasswd, ", ".join(unknown))


class AdminListener:
    """The admin server of one process; :meth:`stop` finishes its requests."""

    def __init__(self, config: Config, application: Any, limits: HttpLimits):
        host, port = parse_listen(config.admin.listen)
        self.server = DavWSGIServer(
            (host, port),
            build(config, application),
            numthreads=THREADS,
            server_name="davserver-admin",
            request_queue_size=64,
            shutdown_timeout=2,
            reuse_port=True,
            limits=limits.model_copy(update={"max_threads": max(THREADS, 16)}),
            tls_context=tls_context(config),
        )
        self.server.on_refusal = refusal_recorder(None, listener="admin")
        self.thread = threading.Thread(target=self.server.serve, name="davserver-admin")
        self.thread.daemon = True

    def start(self) -> None:
        self.server.prepare()  # binds here: a failure is the caller's to report
        self.thread.start()

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(timeout=5)


def start(config: Config, application: Any, limits: HttpLimits) -> AdminListener | None:
    """Start the admin listener of this process, when the config turns it on."""
    if not config.admin.enabled:
        return None
    listener = AdminListener(config, application, limits)
    listener.start()
    log.info("admin listener on %s://%s/", scheme(config), config.admin.listen)
    return listener
