"""Build the WSGI application: WsgiDAV configured for davserver, with our pieces.

``build_app`` returns the WSGI callable the server runs.  It creates WsgiDAV's
app, then installs our lock manager (WsgiDAV always builds its own; DESIGN.md
"Seams") and wraps everything in the path guard.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wsgidav.error_printer import ErrorPrinter
from wsgidav.http_authenticator import HTTPAuthenticator
from wsgidav.wsgidav_app import WsgiDAVApp

from davserver.config import Config
from davserver.dav.auth import HtpasswdDomainController
from davserver.dav.dir_browser import DirBrowser
from davserver.dav.fs_provider import DavFilesystemProvider
from davserver.dav.guard import PathGuard
from davserver.dav.lock_adapter import WsgiDavLockAdapter
from davserver.dav.property_adapter import StorePropertyManager
from davserver.dav.request_log import RequestLog
from davserver.dav.resolver import Resolver
from davserver.locking.manager import LockManager
from davserver.locking.timeout import TimeoutPolicy
from davserver.lockstore import Stores, open_stores

log = logging.getLogger(__name__)


@dataclass
class Application:
    """The WSGI callable plus what the server needs to close on shutdown."""

    wsgi: Any
    dav: WsgiDAVApp
    stores: Stores
    manager: LockManager

    @property
    def store_description(self) -> str:
        return self.stores.url

    def close(self) -> None:
        self.stores.close()


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
        # The directory browser answers GET/HEAD on collections (an HTML listing);
        # clients such as webdavclient3 check a folder exists with HEAD.
        "middleware_stack": [ErrorPrinter, HTTPAuthenticator, DirBrowser, Resolver],
        "http_authenticator": {
            "domain_controller": HtpasswdDomainController,
            "accept_basic": True,
            "accept_digest": False,
            "default_to_digest": False,
            "trusted_auth_header": None,
        },
        "davserver_auth": {"htpasswd": config.htpasswd},
        "hotfixes": {"re_encode_path_info": True, "emulate_win32_lastmod": True},
        # Ours are installed after construction (install_managers).
        "property_manager": None,
        "lock_storage": None,
        "dir_browser": {
            "enable": True,
            "ignore": [".DS_Store", "._*", "Thumbs.db"],
            "response_trailer": "davserver",
            "davmount": False,
            "ms_sharepoint_support": False,
            "libre_office_support": False,
        },
        "block_size": 1024 * 1024,
    }


def lock_manager(config: Config, stores: Stores) -> LockManager:
    policy = TimeoutPolicy(
        default_seconds=config.lock_timeout_default,
        max_seconds=config.lock_timeout_max,
        allow_infinite=config.lock_allow_infinite,
    )
    # Wall-clock time: expiry must agree across processes and servers (Redis TTLs).
    return LockManager(stores.locks, time.time, policy)


def install_managers(dav: WsgiDAVApp, manager: LockManager, stores: Stores) -> None:
    """WsgiDAV always builds its own managers; replace them on the app and on every
    provider (DESIGN.md, "Seams")."""
    adapter = WsgiDavLockAdapter(manager)
    properties = StorePropertyManager(stores.props)
    dav.lock_manager = adapter
    dav.prop_manager = properties
    for provider in dav.provider_map.values():
        provider.set_lock_manager(adapter)
        provider.set_prop_manager(properties)
    # Lock roots live in the share at "/" (the directory browser adds a provider
    # for its own assets).
    adapter.provider = dav.provider_map["/"]


def build_app(config: Config, stores: Stores | None = None) -> Application:
    """The WSGI application for ``config``; opens the configured stores unless given."""
    root = config.root_path
    state_dir = config.state_path
    if stores is None:
        stores = open_stores(config.lock_store, state_dir=state_dir)
    manager = lock_manager(config, stores)
    provider = DavFilesystemProvider(str(root), readonly=config.readonly, state_dir=state_dir)
    dav = WsgiDAVApp(wsgidav_config(config, provider))
    install_managers(dav, manager, stores)
    wsgi: Any = PathGuard(dav, hidden_segment(root, state_dir))
    log_file = os.environ.get("DAVSERVER_REQUEST_LOG")
    if log_file:
        wsgi = RequestLog(wsgi, log_file)
    return Application(wsgi=wsgi, dav=dav, stores=stores, manager=manager)
