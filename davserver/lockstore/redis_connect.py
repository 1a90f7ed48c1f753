"""Connecting to Redis: a client for a ``redis://`` or ``redis+sentinel://`` URL,
and the check at start that Redis keeps its data on disk."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from davserver.errors import StartupError
from davserver.lockstore.redis_turns import step_aside_on_replies
from davserver.lockstore.redis_url import is_sentinel

log = logging.getLogger("davserver.lockstore")

DEFAULT_PREFIX = "davserver:"
SOCKET_TIMEOUT_S = 5.0

# redis-py's annotations are partial (untyped ``watch``) and cannot know that
# ``decode_responses=True`` makes every reply a str, so the client and its
# pipelines are ``Any`` at this boundary; the codec validates what comes back.
Client = Any
Pipe = Any


def check_persistence(client: Client, name: str, volatile_ok: bool) -> None:
    """Refuse (StartupError) a Redis that would lose every lock when it restarts."""
    try:
        appendonly = client.config_get("appendonly").get("appendonly", "")
        save = client.config_get("save").get("save", "")
    except redis.exceptions.ResponseError as exc:
        problem = f"cannot check that Redis at {name} keeps its data on disk: CONFIG GET {exc}"
        if not volatile_ok:
            raise StartupError(
                f"{problem}; make sure it persists (appendonly yes, or save points) and set "
                "store.volatile_ok: true"
            ) from exc
        log.warning("%s (accepted: store.volatile_ok is true)", problem)
        return
    if appendonly == "yes" or str(save).strip():
        return
    problem = (
        f"Redis at {name} keeps its data only in memory (appendonly no, no save points): "
        "a restart of Redis loses every lock"
    )
    if not volatile_ok:
        raise StartupError(
            f"{problem}; enable persistence (appendonly yes in redis.conf) or set "
            "store.volatile_ok: true to accept it"
        )
    log.warning(
        "%s (accepted: store.volatile_ok is true; a Redis that comes back empty is "
        "still refused until `davserver locks confirm-store`)",
        problem,
    )


def connect(url: str) -> tuple[Client, str]:
    """A client for ``url`` (without connecting) and the key prefix from ``?prefix=``.

    redis-py's default retry policy backs off for seconds; a request thread should
    instead fail fast with 503 when Redis is down, so retries are short and few.
    """
    if is_sentinel(url):
        from davserver.lockstore.redis_sentinel import connect_sentinel

        client, prefix = connect_sentinel(url, SOCKET_TIMEOUT_S)
        step_aside_on_replies(client)  # before any connection exists
        return client, prefix or DEFAULT_PREFIX
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    prefix = next((v for k, v in query if k == "prefix"), DEFAULT_PREFIX)
    rest = urlencode([(k, v) for k, v in query if k != "prefix"])
    client = redis.Redis.from_url(
        urlunsplit(parts._replace(query=rest)),
        decode_responses=True,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=SOCKET_TIMEOUT_S,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.2), retries=1),
    )
    step_aside_on_replies(client)  # before any connection exists
    return client, prefix
