"""A client that follows the primary Redis Sentinel names (``redis+sentinel://``).

redis-py asks the sentinels for the primary's address whenever it opens a
connection, and a connection to a former primary that was turned into a
replica fails with a connection error ("READONLY" is translated into one):
so after a failover the next connection goes to the new primary, and the
requests in between get 503 (a transient fault) like any Redis outage.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from davserver.lockstore.redis_url import parse_sentinel_url


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
        db=target.db,
        username=target.username,
        password=target.password,
        decode_responses=True,
        # Fail fast (503) rather than hold a request thread for a whole failover.
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.2), retries=1),
        **tls,
    )
    return client, options.get("prefix")
