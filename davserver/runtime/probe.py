"""``davserver health``: probe ``/healthz`` where the configuration says the server listens.

For container health checks and monitoring scripts: exit 0 when the server
answers 200, 1 otherwise (Docker reserves 2), with one line saying why.
``--ready`` probes ``/readyz`` instead (200 only when writes work too, as a
load balancer needing the lock store asks) and ``--reads`` probes
``/readyz?reads`` (200 while reads work, also when the lock store is down;
503 while draining), so a Kubernetes exec probe can ask what it means.  The
address, port and scheme come from the config file (``--config``, or
``$DAVSERVER_CONFIG``), or from ``--url``.  A server on every interface is
probed on loopback.  With TLS the configured certificate is the trust anchor,
so a self-signed certificate passes and no public CA is consulted; the name is
not checked because the probe goes to an address, not to the certificate's name.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import os
import ssl
import urllib.parse
from typing import Any

from davserver import config as config_mod
from davserver.common.escape import escape_controls
from davserver.errors import ConfigError

CONFIG_ENV = "DAVSERVER_CONFIG"
UNSPECIFIED = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
# What each probe asks for: alive, ready for everything, ready for reads.
PROBES = {"health": "/healthz", "ready": "/readyz", "reads": "/readyz?reads"}
# The answer's first line says why (a readiness reason); capped for a one-line report.
REASON_CHARS = 300


def add_health_command(commands: Any) -> None:
    health = commands.add_parser(
        "health", help="probe /healthz of a running server (exit 0 healthy, 1 not)"
    )
    health.add_argument(
        "--config", metavar="FILE", help=f"the server's YAML config file (default: ${CONFIG_ENV})"
    )
    health.add_argument("--url", help="probe this URL instead (e.g. http://127.0.0.1:8080/healthz)")
    health.add_argument("--timeout", type=float, default=4.0, help="seconds (default: 4)")
    what = health.add_mutually_exclusive_group()
    what.add_argument(
        "--ready",
        dest="probe",
        action="store_const",
        const="ready",
        default="health",
        help="probe /readyz: ready for reads and writes (the lock store answers, not draining)",
    )
    what.add_argument(
        "--reads",
        dest="probe",
        action="store_const",
        const="reads",
        help="probe /readyz?reads: ready for reads (also while the lock store is down)",
    )


def target(
    config: config_mod.Config, path: str = PROBES["health"]
) -> tuple[str, ssl.SSLContext | None]:
    """The URL of ``path`` on a server run with ``config`` and the TLS context to reach it."""
    host = UNSPECIFIED.get(config.host, config.host)
    shown = f"[{host}]" if ":" in host else host
    if not config.tls.cert:
        return f"http://{shown}:{config.port}{path}", None
    context = ssl.create_default_context(cafile=config.tls.cert)
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # a chain file: trust its certificates
    context.check_hostname = False
    return f"https://{shown}:{config.port}{path}", context


def url_context(url: str) -> ssl.SSLContext | None:
    """``--url``: public CAs, except on loopback (a self-signed local server)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https":
        return None
    context = ssl.create_default_context()
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def probe(url: str, context: ssl.SSLContext | None, timeout: float) -> tuple[bool, str]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False, f"{url}: not an http:// or https:// URL"
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname, parts.port or 443, timeout=timeout, context=context
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        connection.request("GET", target, headers={"User-Agent": "davserver-health"})
        response = connection.getresponse()
        body = response.read(4096)
    except (OSError, http.client.HTTPException) as exc:
        return False, f"{url}: {exc.__class__.__name__}: {exc}"
    finally:
        connection.close()
    answer = f"{url} answered {response.status} {response.reason}"
    return response.status == 200, answer + _reason(body)


def _reason(body: bytes) -> str:
    """The answer's first line (a readiness reason or state), escaped; none for "ok"."""
    lines = body.decode("utf-8", "replace").strip().splitlines()
    if not lines or lines[0] == "ok":
        return ""
    return ": " + escape_controls(lines[0][:REASON_CHARS])


def run_health(args: argparse.Namespace) -> int:
    if args.url:
        url, context = args.url, url_context(args.url)
    else:
        try:
            config = config_mod.load(args.config or os.environ.get(CONFIG_ENV), {})
            url, context = target(config, PROBES[args.probe])
        except (ConfigError, OSError, ssl.SSLError) as exc:
            print(f"unhealthy: cannot read the configuration: {exc}")
            return 1
    healthy, why = probe(url, context, args.timeout)
    print(("healthy: " if healthy else "unhealthy: ") + why)
    return 0 if healthy else 1
