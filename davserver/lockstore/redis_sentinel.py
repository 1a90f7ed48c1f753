"""A client that follows the primary Redis Sentinel names (``redis+sentinel://``).

redis-py asks the sentinels for the primary's address whenever it opens a
connection, and a connection to a former primary that was turned into a
replica fails with a connection error ("READONLY" is translated into one):
so after a failover the next connection goes to the new primary, and the
requests in between get 503 (a transient fault) like any Redis outage.

That alone leaves a gap: a primary replaced while it is still up (a forced
failover, or the second of two quick ones) remains a primary in its own eyes
until the sentinels demote it, seconds later, and pooled connections keep
reading from it — stale answers; writes there are safe, no replica confirms
them (503).  So the pool (:class:`FollowingPool`) asks the sentinels for the
address at most once every :data:`CHECK_INTERVAL_S` when a connection is taken
from it; redis-py's pool drops its idle connections when the address changed,
and connections in use are closed when handed back (the pool owns only those
to the current primary).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool

from davserver.lockstore.redis_url import parse_sentinel_url

# How stale a read may be after a failover, and how often a process asks the
# sentinels (one SENTINEL MASTERS round trip) while it is busy.
CHECK_INTERVAL_S = 1.0


class FollowingPool(SentinelConnectionPool):
    """A primary's pool that checks, at most once a second, who the primary is."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self._checked_at = float("-inf")
        self._checking = threading.Lock()

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        self._follow()
        return super().get_connection(*args, **kwargs)

    def _follow(self) -> None:
        now = time.monotonic()
        if now - self._checked_at < CHECK_INTERVAL_S:
            return
        if not self._checking.acquire(blocking=False):
            return  # another thread asks right now: no need to wait for it
        try:
            if now - self._checked_at < CHECK_INTERVAL_S:
                return
            self._checked_at = now
            # Disconnects the idle connections when the address changed.
            self.get_master_address()  # type: ignore[no-untyped-call]
        except redis.exceptions.RedisError:
            pass  # no sentinel answers: the connection itself reports the outage
        finally:
            self._checking.release()


def connect_sentinel(url: str, socket_timeout: float) -> tuple[Any, str | None]:
    """A client for the primary named by ``url`` (without connecting) and the
    ``prefix`` option (None: the default).  ValueError for a malformed URL."""
    target = parse_sentinel_url(url)
    options = target.options
    tls: dict[str, Any] = {}
    if target.tls:
        tls = {"ssl": True}
        if "ssl_ca_certs" in options:
            tls["ssl_ca_certs"] = options["ssl_ca_certs"]
    sentinel_kwargs: dict[str, Any] = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_timeout,
        "username": options.get("sentinel_username"),
        "password": options.get("sentinel_password"),
        **tls,
    }
    sentinel = Sentinel(
        list(target.sentinels),
        sentinel_kwargs=sentinel_kwargs,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
    )
    client = sentinel.master_for(
        target.service,
        redis_class=redis.Redis,
        connection_pool_class=FollowingPool,
        db=target.db,
        username=target.username,
        password=target.password,
        decode_responses=True,
        # Fail fast (503) rather than hold a request thread for a whole failover.
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.2), retries=1),
        **tls,
    )
    return client, options.get("prefix")
