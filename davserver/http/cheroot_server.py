"""The WSGI server: cheroot's, with our connections, selector thread and pool."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable
from typing import Any

from cheroot import wsgi

from davserver.http.connection import DavHTTPConnection
from davserver.http.connection_manager import AddressBook, DavConnectionManager, ElasticThreadPool
from davserver.http.gateway import DavGateway
from davserver.http.limits import HttpLimits
from davserver.http.pacing import BodyWaiters


class DavWSGIServer(wsgi.Server):
    """``wsgi.Server(bind_addr, app, numthreads=…, …)`` plus ``limits`` and ``tls_context``.

    ``numthreads`` is the pool's size at rest; it grows to ``limits.max_threads``.
    With ``tls_context`` (see :func:`davserver.http.tls.server_context`) it serves HTTPS."""

    ConnectionClass = DavHTTPConnection
    _connections: Any  # cheroot's, undeclared in its stubs

    def __init__(
        self,
        bind_addr: Any,
        wsgi_app: Any,
        *args: Any,
        limits: HttpLimits | None = None,
        tls_context: ssl.SSLContext | None = None,
        **kw: Any,
    ):
        super().__init__(bind_addr, wsgi_app, *args, **kw)
        self.limits = limits or HttpLimits()
        self.tls_context = tls_context
        self.gateway = DavGateway
        # Announced in Keep-Alive headers (HTTP/1.0) and used by nothing else now.
        self.timeout = int(self.limits.keepalive_timeout)
        low = self.requests.min
        self.requests = ElasticThreadPool(self, min=low, max=max(low, self.limits.max_threads))
        self.addresses = AddressBook(self.limits.max_connections_per_address)
        # Requests waiting for their body hold threads: never all of the pool.
        self.body_waiters = BodyWaiters(
            self.limits.body_waiters_cap, self.limits.max_body_waiters_per_address
        )
        # Told of every answer this layer gives itself (a refusal before or
        # instead of the application): (client, method, target, status, reason).
        self.on_refusal: Callable[[str, str, str, int, str], None] | None = None

    def refused(self, client: str, method: str, target: str, status: str, reason: str) -> None:
        if self.on_refusal is not None:
            with contextlib.suppress(Exception):  # a log line must never cost the answer
                self.on_refusal(client, method, target, int(status[:3]), reason)

    def prepare(self) -> None:
        if self.ssl_adapter is not None:
            # They wrap and handshake on the accepting thread, blocking, and read
            # through a file object that SocketReader replaces: TLS is tls_context's.
            raise ValueError(
                "davserver's HTTP layer takes a tls_context, not cheroot's TLS adapters"
            )
        super().prepare()
        # Replace cheroot's manager (its selector holds only the listening socket yet).
        self._connections._selector.close()
        self._connections = DavConnectionManager(self)

    @property
    def connection_manager(self) -> DavConnectionManager:
        manager: DavConnectionManager = self._connections
        return manager
