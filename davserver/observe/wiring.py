"""One application's observability: metrics, lock events, request log, endpoints.

:func:`davserver.runtime.application.build_app` creates an :class:`Observability`, lets it time
the stores, wrap the application and give the HTTP adapter its endpoints::

    HTTP adapter  →  Observed (access log, metrics)  →  handle(Request) -> Response

Probes and scrapes (``/healthz``, ``/readyz``, ``/metrics``) are answered by the
adapter before the WebDAV access log and its request metrics (they do not count
as requests), each through an access log of its own: a probe shows at DEBUG
while it succeeds and at INFO once it fails.  Lock events come from the lock
manager and, for refusals, from the dispatcher where it renders them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import cast

from davserver.config import Config
from davserver.dav.request import Request
from davserver.dav.response import Response
from davserver.lockstore import Stores
from davserver.lockstore.base import LockStore, PropertyStore
from davserver.observe.access import AccessLog, Observed
from davserver.observe.endpoints import (
    Readiness,
    WSGIApp,
    healthz_app,
    metrics_app,
    readyz_app,
)
from davserver.observe.event_sinks import EventHub
from davserver.observe.metrics import Metrics, TimedStore


class Observability:
    def __init__(self, config: Config):
        self.metrics = Metrics()
        self.events = EventHub(
            self.metrics,
            config.logs.lock_events,
            config.webhooks.urls,
            config.webhooks.queue,
            config.webhooks.retries,
        )
        self.metrics_on_main_port = config.metrics.on_main_port
        self.ready_probe_timeout = config.store.ready_probe_timeout
        self.locks: LockStore | None = None
        self.clock: Callable[[], float] = time.time
        self.readiness = Readiness(None, lambda: 0.0)

    def instrument(self, stores: Stores) -> Stores:
        """The same stores, every call timed and every failure counted."""
        locks = cast(LockStore, TimedStore(stores.locks, "locks", self.metrics))
        props = cast(PropertyStore, TimedStore(stores.props, "props", self.metrics))
        return dataclasses.replace(stores, locks=locks, props=props)

    def wrap(
        self, handle: Callable[[Request], Response], locks: LockStore, clock: Callable[[], float]
    ) -> Callable[[Request], Response]:
        """``handle`` observed: one access record per request, the request metrics."""
        self.locks, self.clock = locks, clock
        self.readiness = Readiness(locks, clock, self.ready_probe_timeout)
        return Observed(handle, self.metrics)

    def probes(self) -> dict[str, WSGIApp]:
        """The endpoints the WebDAV port answers before authentication, each logged."""
        routes = {"/healthz": healthz_app(), "/readyz": readyz_app(self.readiness)}
        if self.metrics_on_main_port:
            routes["/metrics"] = metrics_app(self.metrics, self.locks, self.clock)
        quiet = frozenset(routes)
        return {path: AccessLog(app, quiet=quiet) for path, app in routes.items()}

    def endpoints(self) -> dict[str, WSGIApp]:
        """``/metrics``, ``/healthz`` and ``/readyz`` for an admin listener to mount."""
        return {
            "/metrics": metrics_app(self.metrics, self.locks, self.clock),
            "/healthz": healthz_app(),
            "/readyz": readyz_app(self.readiness),
        }

    def reload(self, config: Config) -> None:
        """Apply a new lock_event_log and webhooks (raises StartupError)."""
        self.events.reconfigure(
            config.logs.lock_events,
            config.webhooks.urls,
            config.webhooks.queue,
            config.webhooks.retries,
        )

    def close(self) -> None:
        self.events.close()
