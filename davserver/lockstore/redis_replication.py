"""Durable Redis writes: a change is acknowledged once a replica has it.

Redis replicates asynchronously: a primary that dies right after a write takes
the write with it, and the replica promoted in its place (by Sentinel) never had
it — a lock granted there could be granted again.  So every write transaction
of the stores is followed, on the same connection, by ``WAIT numreplicas
timeout``: the reply counts the replicas that acknowledged everything this
connection wrote (and so everything written before it).  With fewer than
:attr:`Replication.min_replicas` the write raises :class:`Unreplicated` and the
request is answered 503: the change may be in effect on the primary, but it is
not acknowledged (a LOCK grant is then withdrawn again, see
:meth:`~davserver.lockstore.redis.RedisLockStore.insert_if`; an UNLOCK's lock is
put back, so that the client's repeated UNLOCK finds it).

``WAIT`` must run on the connection that wrote, and redis-py hands a
pipeline's connection back to the pool as soon as ``EXEC`` returns; hence a
pipeline class that sends ``WAIT`` right after ``EXEC``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from redis.client import Pipeline

from davserver.errors import StoreError


@dataclass(frozen=True)
class Replication:
    """How many replicas must confirm a write, within how many milliseconds (0: no WAIT)."""

    min_replicas: int = 0
    timeout_ms: int = 1000


NO_WAIT = Replication()


class Unreplicated(StoreError):
    """A write committed on the primary that too few replicas confirmed in time."""

    def __init__(self, acked: int, wanted: int, timeout_ms: int, cause: str = ""):
        self.acked = acked
        self.wanted = wanted
        why = f" ({cause})" if cause else ""
        super().__init__(
            f"{acked} of {wanted} replica(s) confirmed the write within {timeout_ms} ms{why}"
        )


class WaitingPipeline(Pipeline):
    """A pipeline whose transactions WAIT for ``replication`` after EXEC (when
    :attr:`wrote` says the results are of a write: a script may decide to write
    nothing, and a refusal must not wait for replicas that might not answer)."""

    replication: Replication = NO_WAIT

    def wrote(self, results: list[Any]) -> bool:
        return True

    def _execute_transaction(self, connection: Any, commands: Any, raise_on_error: Any) -> Any:
        results = super()._execute_transaction(connection, commands, raise_on_error)
        wanted, timeout_ms = self.replication.min_replicas, self.replication.timeout_ms
        if wanted > 0 and self.wrote(results):
            acked = _wait(connection, wanted, timeout_ms)
            if acked < wanted:
                raise Unreplicated(acked, wanted, timeout_ms)
        return results


def _wait(connection: Any, wanted: int, timeout_ms: int) -> int:
    """WAIT on ``connection``.  A failure is raised as :class:`Unreplicated`, never as
    a connection error: redis-py would retry the whole (already committed)
    transaction after one of those."""
    try:
        connection.send_command("WAIT", wanted, timeout_ms)
        return int(connection.read_response())
    except (redis.exceptions.RedisError, OSError, ValueError) as exc:
        with contextlib.suppress(Exception):
            connection.disconnect()
        raise Unreplicated(0, wanted, timeout_ms, f"WAIT failed: {exc}") from exc


def replica_warning(url: str, min_replicas: int | None) -> str | None:
    """For check-config: a primary with fewer replicas attached than must confirm
    each write (``serve`` still starts; its lock changes get 503 until they attach)."""
    from davserver.lockstore.redis_connect import connect
    from davserver.lockstore.redis_url import is_sentinel

    wanted = (1 if is_sentinel(url) else 0) if min_replicas is None else min_replicas
    if wanted <= 0:
        return None
    try:
        client, _ = connect(url)
    except ValueError:
        return None  # a malformed URL: the store check names it
    try:
        connected = int(client.info("replication").get("connected_slaves", 0))
    except redis.exceptions.RedisError:
        return None  # unreachable: the store check names it
    finally:
        client.close()
    if connected >= wanted:
        return None
    return (
        f"warning: the Redis primary has {connected} replica(s) attached, but "
        f"store.redis_min_replicas is {wanted}: every lock change is answered 503 until "
        "enough replicas attach"
    )


def pipeline(
    client: Any, replication: Replication, wrote: Callable[[list[Any]], bool] | None = None
) -> WaitingPipeline:
    """A transactional pipeline on ``client``'s pool that WAITs as ``replication``
    says (only after results that ``wrote`` calls a write, if given)."""
    pipe = WaitingPipeline(client.connection_pool, client.response_callbacks, True, None)
    pipe.replication = replication
    if wrote is not None:
        pipe.wrote = wrote  # type: ignore[method-assign,assignment]
    return pipe
