"""Process wiring: bind, serve with cheroot, workers, signals, graceful stop."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import resource
import signal
import socket
import sys
import threading
from pathlib import Path
from types import FrameType

from davserver.app import Application, build_app
from davserver.config import Config
from davserver.dav.auth import read_htpasswd
from davserver.dav.share import Share
from davserver.dav.trees import cleanup_temp_files
from davserver.errors import StartupError
from davserver.http import DavWSGIServer, HttpLimits
from davserver.janitor import Janitor

log = logging.getLogger("davserver")

THREADS_PER_WORKER = 16
LISTEN_BACKLOG = 1024


def prepare_root(config: Config) -> None:
    """Check and create what serving needs, before the port is taken."""
    root = config.root_path
    if root.exists() and not root.is_dir():
        raise StartupError(f"root {root} is not a directory")
    try:
        root.mkdir(parents=True, exist_ok=True)
        state_dir = config.state_path
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(f"cannot create {exc.filename}: {exc.strerror}") from exc
    if config.htpasswd:
        read_htpasswd(Path(config.htpasswd))
    # Uploads cut off by a crash leave their temporary files behind (it logs them).
    share = Share(root, state_dir=state_dir)
    cleanup_temp_files(share.root, skip=share.is_hidden_fs)


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind (not listen) with SO_REUSEPORT so every worker can bind the same port,
    and so that "port in use" is reported before anything starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
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


def start_line(config: Config, app: Application, port: int) -> str:
    host = f"[{config.host}]" if ":" in config.host else config.host
    auth = f"htpasswd {config.htpasswd}" if config.htpasswd else "anonymous (no authentication)"
    workers = f" workers={config.worker_count}" if config.worker_count > 1 else ""
    return (
        f"davserver serving http://{host}:{port}/ root={config.root_path} "
        f"lock_store={app.store_description} config={config.source or '(defaults)'} "
        f"auth={auth}{workers}"
    )


def http_limits(config: Config) -> HttpLimits:
    return HttpLimits(
        max_request_line=config.max_request_line,
        max_header_bytes=config.max_header_bytes,
        max_header_count=config.max_header_count,
        max_if_header_bytes=config.max_if_header_bytes,
        max_upload_bytes=config.max_upload_bytes,
        header_timeout=float(config.header_timeout),
        body_timeout=float(config.body_timeout),
        keepalive_timeout=float(config.keepalive_timeout),
        max_connections_per_address=config.max_connections_per_address,
        max_threads=config.max_threads,
    )


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
    )
    return server


def raise_file_limit() -> None:
    """Every waiting connection is a file descriptor: use the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_one(config: Config, app: Application, port: int) -> None:
    """Serve in this process until SIGINT/SIGTERM; in-flight requests finish."""
    server = make_server(config, app, port)
    stoppers: list[threading.Thread] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # stop() joins the worker threads (requests in flight finish), so it must
        # not run inside the signal handler on the serving thread.
        if not stoppers:
            stopper = threading.Thread(target=server.stop, name="davserver-stop")
            stoppers.append(stopper)
            stopper.start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.prepare()
    janitor = Janitor(app.manager)
    janitor.start()
    try:
        server.serve()
    finally:
        if stoppers:
            stoppers[0].join()
        else:
            server.stop()
        janitor.stop()
        app.close()


def serve(config: Config) -> int:
    prepare_root(config)
    reservation = reserve_port(config.host, config.port)
    port = reservation.getsockname()[1]
    app = build_app(config)
    print(start_line(config, app, port), flush=True)
    if config.worker_count == 1:
        try:
            run_one(config, app, port)
        finally:
            reservation.close()
        return 0
    app.close()
    return run_workers(config, port, reservation)


def run_workers(config: Config, port: int, reservation: socket.socket) -> int:
    """Fork ``workers`` processes, each a full server on the shared port."""
    children: list[int] = []
    for _ in range(config.worker_count):
        pid = os.fork()
        if pid == 0:  # child: its own app (stores must not cross a fork)
            code = 0
            try:
                run_one(config, build_app(config), port)
            except BaseException:
                log.exception("worker failed")
                code = 1
            os._exit(code)
        children.append(pid)

    def forward(signum: int, frame: FrameType | None) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    for child in children:
        _, code = os.waitpid(child, 0)
        status = status or (1 if code else 0)
    reservation.close()
    sys.stdout.flush()
    return status
