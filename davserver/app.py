"""Build the WSGI application: WsgiDAV configured for davserver, with our pieces.

``build_app`` returns the WSGI callable the server runs.  It creates WsgiDAV's
app, then installs our lock manager (WsgiDAV always builds its own; DESIGN.md
"Seams") and wraps everything in the path guard.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wsgidav.error_printer import ErrorPrinter
from wsgidav.http_authenticator import HTTPAuthenticator
from wsgidav.wsgidav_app import WsgiDAVApp

from davserver.config import Config
from davserver.dav.auth import HtpasswdDomainController
from davserver.dav.fs_provider import DavFilesystemProvider
from davserver.dav.guard import PathGuard
from davserver.dav.request_log import RequestLog

log = logging.getLogger(__name__)


@dataclass
class Application:
    """The WSGI callable plus what the server needs to close on shutdown."""

    wsgi: Any
    dav: WsgiDAVApp
    store_description: str

    def close(self) -> None:
        closer = getattr(self.dav, "davserver_close", None)
        if closer:
            closer()


def hidden_segment(root: Path, state_dir: Path) -> str | None:
    """First path segment of the state directory when it lies inside the root."""
    try:
        relative = state_dir.relative_to(root)
    except ValueError:
        return None
    return relative.parts[0] if relative.parts else None


def wsgidav_config(config: Config, provider: DavFilesystemProvider) -> dict[str, Any]:
    verbose = {"debug": 5, "info": 3, "warning": 2, "error": 1}[config.log_level]
    return {
        "provider_mapping": {"/": provider},
        "verbose": verbose,
        "logging": {"enable": False},
        "suppress_version_info": True,
        "add_header_MS_Author_Via": True,
        "middleware_stack": [ErrorPrinter, HTTPAuthenticator, "davserver.dav.resolver.Resolver"],
        "http_authenticator": {
            "domain_controller": HtpasswdDomainController,
            "accept_basic": True,
            "accept_digest": False,
            "default_to_digest": False,
            "trusted_auth_header": None,
        },
        "davserver_auth": {"htpasswd": config.htpasswd},
        "hotfixes": {"re_encode_path_info": True, "emulate_win32_lastmod": True},
        "property_manager": True,
        "lock_storage": True,
        "dir_browser": {"enable": False},
        "block_size": 1024 * 1024,
    }


def build_app(config: Config) -> Application:
    root = config.root_path
    state_dir = config.state_path
    provider = DavFilesystemProvider(str(root), readonly=config.readonly, state_dir=state_dir)
    dav = WsgiDAVApp(wsgidav_config(config, provider))
    wsgi: Any = PathGuard(dav, hidden_segment(root, state_dir))
    log_file = os.environ.get("DAVSERVER_REQUEST_LOG")
    if log_file:
        wsgi = RequestLog(wsgi, log_file)
    return Application(wsgi=wsgi, dav=dav, store_description="wsgidav-memory")
