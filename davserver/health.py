"""``davserver health``: probe ``/healthz`` where the configuration says the server listens.

For container health checks and monitoring scripts: exit 0 when the server
answers 200, 1 otherwise (Docker reserves 2), with one line saying why.  The
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
from davserver.errors import ConfigError

CONFIG_ENV = "DAVSERVER_CONFIG"
UNSPECIFIED = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def add_health_command(commands: Any) -> None:
    health = commands.add_parser(
        "health", help="probe /healthz of a running server (exit 0 healthy, 1 not)"
    )
    health.add_argument(
        "--config", metavar="FILE", help=f"the server's YAML config file (default: ${CONFIG_ENV})"
    )
    health.add_argument("--url", help="probe this URL instead (e.g. http://127.0.0.1:8080/healthz)")
    health.add_argument("--timeout", type=float, default=4.0, help="seconds (default: 4)")


def target(config: config_mod.Config) -> tuple[str, ssl.SSLContext | None]:
    """The /healthz URL of a server run with ``config`` and the TLS context to reach it."""
    host = UNSPECIFIED.get(config.host, config.host)
    shown = f"[{host}]" if ":" in host else host
    if not config.tls_cert:
        return f"http://{shown}:{config.port}/healthz", None
    context = ssl.create_default_context(cafile=config.tls_cert)
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # a chain file: trust its certificates
    context.check_hostname = False
    return f"https://{shown}:{config.port}/healthz", context


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
        connection.request("GET", parts.path or "/", headers={"User-Agent": "davserver-health"})
        response = connection.getresponse()
        response.read(4096)
    except (OSError, http.client.HTTPException) as exc:
        return False, f"{url}: {exc.__class__.__name__}: {exc}"
    finally:
        connection.close()
    return response.status == 200, f"{url} answered {response.status} {response.reason}"


def run_health(args: argparse.Namespace) -> int:
    if args.url:
        url, context = args.url, url_context(args.url)
    else:
        try:
            url, context = target(config_mod.load(args.config or os.environ.get(CONFIG_ENV), {}))
        except (ConfigError, OSError, ssl.SSLError) as exc:
            print(f"unhealthy: cannot read the configuration: {exc}")
            return 1
    healthy, why = probe(url, context, args.timeout)
    print(("healthy: " if healthy else "unhealthy: ") + why)
    return 0 if healthy else 1
