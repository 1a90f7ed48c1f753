"""A WSGI application behind davserver's HTTP layer, in this process, on a free port."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from davserver.http import DavWSGIServer


@contextlib.contextmanager
def serving(app: Any, **options: Any) -> Iterator[int]:
    """``app`` served by :class:`DavWSGIServer` (``options``: its keyword arguments,
    e.g. ``numthreads``, ``limits``, ``timeout``, ``tls_context``) on 127.0.0.1;
    yields the port and stops the server afterwards."""
    server = DavWSGIServer(("127.0.0.1", 0), app, **options)
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield server.bind_addr[1]
    finally:
        server.stop()
        thread.join(10)
