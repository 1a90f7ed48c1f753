"""Process wiring: bind, serve with cheroot, workers, signals, graceful stop.

Signals (see :mod:`davserver.runtime.lifecycle` and :mod:`davserver.runtime.supervisor`):
SIGHUP reloads the config and htpasswd files, SIGTERM/SIGINT drain and exit 0.
The metrics of all processes of one server share a temporary directory,
created here before anything imports prometheus-client and removed at the end.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import resource
import signal
import socket
from pathlib import Path
from types import FrameType

from davserver.admin.http import listener as admin_listener
from davserver.config import Config
from davserver.dav.logins.controller import read_htpasswd
from davserver.dav.usage_recovery import reconcile
from davserver.errors import StartupError
from davserver.fs.recovery import recover
from davserver.fs.share import Share
from davserver.http import DavWSGIServer, HttpLimits
from davserver.http.limits import http_limits as limits_for
from davserver.lockstore import root_claim
from davserver.observe import metrics, notify
from davserver.observe.access import refusal_recorder
from davserver.observe.endpoints import readiness_asked
from davserver.runtime import startline
from davserver.runtime.application import Application, build_app
from davserver.runtime.janitor import Janitor
from davserver.runtime.lifecycle import Drain, Loader, Reloader, reloaded_tls, tls_context
from davserver.runtime.preflight import exposure_warning
from davserver.runtime.supervisor import STOP_AND_RELOAD, Supervisor

log = logging.getLogger("davserver")

THREADS_PER_WORKER = 16
LISTEN_BACKLOG = 1024


def prepare_root(config: Config) -> None:
    """Check and create what serving needs, before the port is taken."""
    root = config.root_path
    if root.exists() and not root.is_dir():
        raise StartupError(f"root {root} is not a directory")
    if config.readonly and not root.is_dir():
        raise StartupError(f"root {root} does not exist (a read-only share is never created)")
    state_dir = config.state_path
    try:
        root.mkdir(parents=True, exist_ok=True)
        if config.store_url != "memory://" or config.state_dir:
            state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(f"cannot create {exc.filename}: {exc.strerror}") from exc
    if config.auth.htpasswd:
        read_htpasswd(Path(config.auth.htpasswd))
    if config.readonly:
        return  # nothing is ever written into a read-only root
    # What a crash cut short (PUT, COPY, MOVE, DELETE) is finished or rolled back
    # before anything is served (it logs what it did).
    recover(Share(root, state_dir=state_dir), hold=True)


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind (not listen) with SO_REUSEPORT so every worker can bind the same port,
    and so that "port in use" is reported before anything starts.  SO_REUSEADDR
    too: connections closed by the server that used the port before (another
    program, without SO_REUSEPORT) linger in TIME_WAIT for a minute and would
    otherwise block the bind; it never allows binding beside a listener."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(f"port {port} on {host} is already in use") from exc
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    # SO_REUSEPORT lets us bind beside another davserver of the same user that is
    # already listening there: detect that by connecting.
    if _listening(host, sock.getsockname()[1]):
        sock.close()
        raise StartupError(f"port {port} on {host} is already in use")
    return sock


def _listening(host: str, port: int) -> bool:
    target = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
    family = socket.AF_INET6 if ":" in target else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((target, port)) == 0


def http_limits(config: Config) -> HttpLimits:
    """The HTTP layer takes its config section as it is (plus the identity headers)."""
    return limits_for(config)


def make_server(config: Config, app: Application, port: int) -> DavWSGIServer:
    raise_file_limit()
    server = DavWSGIServer(
        (config.host, port),
        app.wsgi,
        numthreads=THREADS_PER_WORKER,
        server_name="davserver",
        # Connections wait in the selector, not in the kernel's accept queue: a
        # short backlog only makes a burst of clients retry their SYN (1 s).
        request_queue_size=LISTEN_BACKLOG,
        shutdown_timeout=10,
        reuse_port=True,
        limits=http_limits(config),
        tls_context=tls_context(config),  # checked before start (preflight)
    )
    server.on_refusal = refusal_recorder(app.observe.metrics if app.observe else None)
    return server


def raise_file_limit() -> None:
    """Every waiting connection is a file descriptor: use the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_one(
    config: Config, app: Application, port: int, load: Loader | None = None, *, worker: bool = False
) -> None:
    """Serve in this process until SIGINT/SIGTERM (drained), reloading on SIGHUP."""
    server = make_server(config, app, port)
    server.shutdown_timeout = config.shutdown.drain_timeout
    drain = Drain(
        server,
        app.observe.readiness.draining.set if app.observe else lambda: None,
        grace=config.shutdown.drain_ready_grace,
        probed=readiness_asked,  # any worker's /readyz
    )
    admin: admin_listener.AdminListener | None = None  # a reload before it starts skips it

    def apply(new: Config) -> None:
        # First what can fail: a certificate that does not load refuses the reload.
        context = reloaded_tls(server.tls_context is not None, new)
        admin_context = admin_listener.reloaded_tls(admin_serves_tls, new)
        app.reload(new)
        server.tls_context = context  # new connections; open ones keep theirs
        if admin is not None:
            admin.server.tls_context = admin_context
        server.shutdown_timeout = new.shutdown.drain_timeout
        drain.grace = new.shutdown.drain_ready_grace

    admin_serves_tls = admin_listener.tls_pair(config) is not None
    reloader = Reloader(config, load, apply, announce=not worker)

    def on_stop(signum: int, frame: FrameType | None) -> None:
        # stop() joins the worker threads (requests in flight finish), so it must
        # not run inside the signal handler on the serving thread.
        drain.request(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, lambda signum, frame: reloader.in_background())
    # A worker starts with them blocked: one sent meanwhile is handled now.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_AND_RELOAD)
    server.prepare()
    admin = admin_listener.start(config, app, http_limits(config))
    janitor = Janitor(
        app.manager,
        outbox=app.stores.outbox,
        outbox_interval=config.admin.outbox_interval,
    )
    janitor.start()
    if app.observe is not None:
        app.observe.metrics.process_gauges().start()  # this worker's process_* metrics
    if not worker:
        notify.ready(f"serving port {port}")
    try:
        server.serve()
    finally:
        drain.finish()
        if admin is not None:
            admin.stop()
        janitor.stop()
        app.close()


def serve(config: Config, reload: Loader | None = None) -> int:
    """Serve ``config`` until SIGTERM; ``reload`` gives the config again on SIGHUP."""
    # Until the handlers are in place, a signal waits (blocked) instead of killing.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_AND_RELOAD)
    # Asked before recovery takes this server's own serving lock on the root.
    others = root_claim.others_serve(config.root_path)
    prepare_root(config)
    reservation = reserve_port(config.host, config.port)
    port = reservation.getsockname()[1]
    try:
        config, admin_reservation = admin_listener.reserve(config, reserve_port)
    except BaseException:
        reservation.close()
        raise
    metrics_dir = metrics.create_multiprocess_dir(str(config.state_path))
    try:
        app = build_app(config)
        root_claim.claim(config.root_path, app.stores, others=others, readonly=config.readonly)
        if app.dav.quotas is not None:  # before any worker serves (dav/usage_recovery.py)
            reconcile(app.dav.quotas, config.root_path)
        # In the log's format: with JSON logs, stdout carries JSON only too.
        print(startline.stdout_line(config, app.store_description, port), flush=True)
        if warning := exposure_warning(config):
            log.warning("%s", warning)
        # The same on stderr, in the log's format (JSON lines stay all JSON).
        log.info("%s", startline.text(startline.fields(config, app.store_description, port)))
        if config.worker_count == 1:
            run_one(config, app, port, reload)
            return 0
        app.close()

        def worker() -> int:  # its own app: stores must not cross a fork
            run_one(config, build_app(config), port, reload, worker=True)
            return 0

        return Supervisor(config, worker, reload).run()
    finally:
        reservation.close()
        if admin_reservation is not None:
            admin_reservation.close()
        metrics.remove_multiprocess_dir(metrics_dir)
