"""Build the application and the WSGI adapter cheroot calls.

::

    cheroot → http.adapter.Adapter (environ → Request: client, path guard, Basic
    auth by a domain controller, body framing; Response → WSGI)
      → observe Observed (access log, metrics)
        → dav.dispatch.Dispatcher: handle(Request) -> Response

WsgiDAV contributes one thing, the domain controller that checks logins
(:mod:`davserver.dav.logins.controller`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from davserver.common.net import parse_networks
from davserver.config import Config
from davserver.config.permission_rules import parse_rules
from davserver.dav.browser.actions import BrowserActions
from davserver.dav.browser.forms import FormLimits
from davserver.dav.dispatch import Dispatcher
from davserver.dav.lock_policy import InfinityPolicy
from davserver.dav.logins.admins import Admins, admins_of
from davserver.dav.logins.basic import Authenticator
from davserver.dav.logins.controller import (
    ControllerHost,
    HtpasswdDomainController,
    load_controller,
)
from davserver.dav.logins.proxy_identity import identity
from davserver.dav.logins.throttle import LoginThrottle, login_throttle
from davserver.dav.methods.base import Dav, Limits
from davserver.dav.permissions import Permissions
from davserver.dav.quotas import quota_service
from davserver.dav.user_roots import user_roots
from davserver.fs.share import Share
from davserver.http.adapter import Adapter
from davserver.locking.manager import LockManager
from davserver.locking.timeout import TimeoutPolicy
from davserver.lockstore import Stores, open_stores
from davserver.lockstore.sqlite import SqliteLockStore
from davserver.observe.wiring import Observability

log = logging.getLogger(__name__)


@dataclass
class Application:
    """The WSGI callable plus what the server needs to close on shutdown."""

    wsgi: Any
    dav: Dav
    stores: Stores
    manager: LockManager
    throttle: LoginThrottle
    observe: Observability | None = None
    controller: Any = None
    admins: Admins | None = None  # who administers (lock policy, admin listener)

    @property
    def store_description(self) -> str:
        return self.stores.url

    def reload(self, config: Config) -> None:
        """Apply what may change while serving (config.LIVE_KEYS) on SIGHUP;
        raises StartupError (then the previous settings stay) if a file is bad."""
        if isinstance(self.controller, HtpasswdDomainController):
            self.controller.reload(config.auth.htpasswd)
        self.manager.policy = lock_manager(config, self.stores).policy
        if self.observe is not None:
            self.observe.reload(config)

    def close(self) -> None:
        if self.observe is not None:
            self.observe.close()
        self.stores.close()
        if self.dav.quotas is not None:
            self.dav.quotas.store.close()


def lock_manager(config: Config, stores: Stores) -> LockManager:
    policy = TimeoutPolicy(
        default_seconds=config.locks.timeout_default,
        max_seconds=config.locks.timeout_max,
        allow_infinite=config.locks.allow_infinite,
    )
    # Wall-clock time: expiry must agree across processes and servers (Redis TTLs).
    return LockManager(
        stores.locks,
        time.time,
        policy,
        max_shared=config.locks.shared_per_resource,
        max_per_principal=config.locks.max_per_principal,
    )


def login_controller(config: Config) -> Any:
    """The domain controller that checks logins: LDAP when an ``ldap:`` section is
    given (its own module: the only one importing ldap3), else ``domain_controller``."""
    if config.ldap is not None:
        from davserver.dav.logins.ldap import LdapDomainController

        return LdapDomainController(ControllerHost({"ldap": config.ldap}), {"ldap": config.ldap})
    return load_controller(
        config.auth.domain_controller, config.auth.domain_controller_config, config.auth.htpasswd
    )


def form_limits(config: Config) -> FormLimits:
    """The listing's upload forms: a file at most ``max_upload_bytes`` (the
    whole body is held to it by the HTTP layer too), parts and fields bounded."""
    return FormLimits(
        max_file_bytes=config.http.max_upload_bytes,
        max_parts=config.dav.form_max_parts,
        max_field_bytes=config.dav.form_field_max_bytes,
    )


def build_app(config: Config, stores: Stores | None = None) -> Application:
    """The WSGI application for ``config``; opens the configured stores unless given."""
    root = config.root_path
    state_dir = config.state_path
    if stores is None:
        stores = open_stores(
            config.store_url,
            state_dir=state_dir,
            volatile_ok=config.store.volatile_ok,
            min_replicas=config.store.redis_min_replicas,
            replica_timeout_ms=config.store.redis_replica_timeout_ms,
        )
    if isinstance(stores.locks, SqliteLockStore):
        stores.locks.bound_write_wait(config.store.write_wait)
    quotas = quota_service(config.quota.bytes, config.quota.users, stores.locks)
    observe = Observability(config)
    stores = observe.instrument(stores)
    manager = lock_manager(config, stores)
    manager.events = observe.events
    share = Share(root, state_dir=state_dir, readonly=config.readonly)
    limits = Limits.of(config.dav, config.locks)
    permissions = Permissions(parse_rules(config.permissions))
    controller = login_controller(config)
    # One answer to "is this an administrator" (admins, ldap.admin_group).
    admins = admins_of(config.admin.users, controller)
    infinity = InfinityPolicy(
        min_depth=config.locks.infinity_min_depth,
        max_entries=config.locks.infinity_max_entries,
        admins=admins,
    )
    dav = Dav(
        share=share,
        locks=manager,
        props=stores.props,
        limits=limits,
        permissions=permissions,
        infinity=infinity,
        active_content=config.dav.active_content,
        quotas=quotas,
    )
    throttle = login_throttle(config, stores.failures)
    auth = Authenticator(controller, throttle, allow_insecure=config.auth.allow_insecure)
    # The listing's actions run their WebDAV requests through the observed handle
    # again: each is logged, measured and checked like any client's.
    actions = BrowserActions(Dispatcher(dav), form_limits(config), str(state_dir))
    handle = observe.wrap(actions, stores.locks, lambda: manager.clock())
    actions.internal = handle
    wsgi = Adapter(
        handle,
        auth,
        share.is_hidden,
        trusted=parse_networks(config.http.trusted_proxies),
        routes=observe.probes(),
        identity=identity(config),
        homes=user_roots(
            config.user_root,
            share.root,
            admins,
            readonly=config.readonly,
            shared=config.shared_folders,
        ),
    )
    return Application(
        wsgi=wsgi,
        dav=dav,
        stores=stores,
        manager=manager,
        throttle=throttle,
        observe=observe,
        controller=controller,
        admins=admins,
    )
