"""Redis round trips step aside (:func:`davserver.common.turns.blocking`).

A request waiting for Redis's reply waits for another machine: the other
requests of its process should run meanwhile.  Every reply of every client
(plain, TLS, Unix socket, Sentinel) is read by its connection's
``read_response``, so the connections of a client's pool get one that steps
aside while it waits.
"""

from __future__ import annotations

from typing import Any

from davserver.common import turns


class _StepAside:
    """Mixed in before a redis-py connection class."""

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        return turns.blocking(super().read_response, *args, **kwargs)  # type: ignore[misc]


def step_aside_on_replies(client: Any) -> None:
    """Make the connections ``client``'s pool creates from now on step aside (call
    it before the first command: a connection made before keeps its class)."""
    pool = getattr(client, "connection_pool", None)
    base = getattr(pool, "connection_class", None)
    if pool is None or not isinstance(base, type) or issubclass(base, _StepAside):
        return
    pool.connection_class = type(f"SteppingAside{base.__name__}", (_StepAside, base), {})
