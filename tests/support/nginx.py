"""A real nginx in front of a davserver, as the README configures it (reverse proxy).

Everything of nginx lives in one temporary prefix: config, pid, logs, temp files.
It listens on 127.0.0.1 only, on a port free a moment before (nginx cannot report
a port 0 it was given); it runs in the foreground (``daemon off``) as our child and
is stopped by its PID.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.tools import require_tool

# The README's nginx example (the server block), with the backend's port filled in.
SITE = """
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;              # davserver's max_upload_bytes decides
        location / {{
            proxy_pass http://127.0.0.1:{backend};
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Connection "";
            proxy_request_buffering off;     # stream uploads, keep 100-continue and pacing
            proxy_buffering off;             # stream downloads
            proxy_read_timeout 300s;
        }}
    }}
"""

MAIN = """
daemon off;
{user}
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
{site}
}}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(prefix: Path, port: int, backend: int, site: str = SITE) -> Path:
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    # As root nginx would hand its workers to "nobody", who cannot enter this
    # private temp directory; a test's nginx keeps running as the test's user.
    user = "user root root;" if os.geteuid() == 0 else ""
    server = site.format(port=port, backend=backend, spare=free_port())
    config = prefix / "nginx.conf"
    config.write_text(MAIN.format(user=user, prefix=prefix, site=server))
    return config


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def nginx_proxy(
    prefix: Path, backend: int, timeout: float = 20.0, *, site: str = SITE
) -> Iterator[str]:
    """Run nginx proxying to 127.0.0.1:``backend``; yields its base URL.  ``site``
    is the server blocks, formatted with ``port``, ``backend`` and ``spare`` (a
    second free port, for a server block of the site's own)."""
    binary = require_tool("nginx")
    port = free_port()
    config = write_config(prefix, port, backend, site)
    proc = subprocess.Popen(
        [binary, "-p", str(prefix), "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while not listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                error_log = prefix / "error.log"
                log = error_log.read_text() if error_log.exists() else ""
                raise RuntimeError(
                    f"nginx did not start: {proc.stderr.read() if proc.stderr else ''}{log}"
                )
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGQUIT)  # graceful: finish, then exit
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stderr:
            proc.stderr.close()
