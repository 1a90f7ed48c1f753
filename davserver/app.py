"""Build the WSGI application: WsgiDAV as the framework, our method layer inside it.

WsgiDAV contributes its WSGI application (path decoding, share routing) and its
HTTP authenticator with our domain controller; the last middleware is our
:class:`~davserver.dav.dispatch.Dispatcher`, which parses each request once and
runs davserver's handler for its method.  Outermost sits the path guard, which
sees the raw request path before anything normalises it.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from davserver.config import Config
from davserver.dav.auth import DavAuthenticator, HtpasswdDomainController
from davserver.dav.dispatch import Dispatcher, ShareProvider
from davserver.dav.framework import DavApp
from davserver.dav.guard import PathGuard
from davserver.dav.methods.base import Dav
from davserver.dav.request_log import RequestLog
from davserver.dav.share import Share
from davserver.dav.throttle import LoginThrottle
from davserver.locking.manager import LockManager
from davserver.locking.timeout import TimeoutPolicy
from davserver.lockstore import Stores, open_stores

log = logging.getLogger(__name__)


@dataclass
class Application:
    """The WSGI callable plus what the server needs to close on shutdown."""

    wsgi: Any
    dav: Dav
    stores: Stores
    manager: LockManager
    throttle: LoginThrottle

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


def wsgidav_config(
    config: Config, dispatcher: Dispatcher, throttle: LoginThrottle
) -> dict[str, Any]:
    return {
        "provider_mapping": {"/": ShareProvider(config.readonly)},
        # WsgiDAV's own request log line is built for every request at INFO;
        # davserver logs requests itself.
        "verbose": 1 if config.log_level != "debug" else 5,
        "logging": {"enable": False},
        "suppress_version_info": True,
        "middleware_stack": [DavAuthenticator, dispatcher],
        "http_authenticator": {
            "domain_controller": HtpasswdDomainController,
            "accept_basic": True,
            "accept_digest": False,
            "default_to_digest": False,
            "trusted_auth_header": None,
        },
        "davserver_auth": {
            "htpasswd": config.htpasswd,
            "throttle": throttle,
            "refuse": dispatcher.refuse,
        },
        "hotfixes": {"re_encode_path_info": True},
        "property_manager": None,
        "lock_storage": None,
        "dir_browser": {"enable": False},
    }


def lock_manager(config: Config, stores: Stores) -> LockManager:
    policy = TimeoutPolicy(
        default_seconds=config.lock_timeout_default,
        max_seconds=config.lock_timeout_max,
        allow_infinite=config.lock_allow_infinite,
    )
    # Wall-clock time: expiry must agree across processes and servers (Redis TTLs).
    return LockManager(stores.locks, time.time, policy)


def build_app(config: Config, stores: Stores | None = None) -> Application:
    """The WSGI application for ``config``; opens the configured stores unless given."""
    root = config.root_path
    state_dir = config.state_path
    if stores is None:
        stores = open_stores(config.lock_store, state_dir=state_dir)
    manager = lock_manager(config, stores)
    share = Share(root, state_dir=state_dir, readonly=config.readonly)
    dav = Dav(share=share, locks=manager, props=stores.props)
    dispatcher = Dispatcher(dav)
    throttle = LoginThrottle(config.auth_max_failures, float(config.auth_failure_window))
    wsgidav = DavApp(wsgidav_config(config, dispatcher, throttle))
    wsgi: Any = PathGuard(wsgidav, hidden_segment(root, state_dir))
    log_file = os.environ.get("DAVSERVER_REQUEST_LOG")
    if log_file:
        wsgi = RequestLog(wsgi, log_file)
    return Application(wsgi=wsgi, dav=dav, stores=stores, manager=manager, throttle=throttle)
