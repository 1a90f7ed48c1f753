"""Reads follow the primary Sentinel names, soon after a failover.

After a forced failover the former primary stays up, still a primary in its
own eyes, until the sentinels turn it into a replica (seconds later).  Pooled
connections to it would keep serving reads from it meanwhile — stale ones: it
no longer gets the writes.  The client asks the sentinels for the primary's
address at most once a second and drops connections to a replaced one, so a
key written on the new primary only is read within about that second.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from davserver.lockstore import Stores, open_stores
from davserver.lockstore.usage_open import open_usage
from tests.support.redis_sentinel import SERVICE, SentinelDeployment

# The address check runs at most once a second; a read goes to the new primary
# well within this after the sentinel names it, even on a loaded machine.
FOLLOWS_WITHIN_S = 3.0
PREFIX = "follow:"


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[SentinelDeployment]:
    with SentinelDeployment(tmp_path / "redis") as nodes:
        yield nodes


@pytest.fixture
def stores(deployment: SentinelDeployment, tmp_path: Path) -> Iterator[Stores]:
    opened = open_stores(f"{deployment.url}?prefix={PREFIX}", state_dir=tmp_path / "state")
    yield opened
    opened.close()


def test_reads_go_to_the_new_primary_soon_after_a_failover(
    deployment: SentinelDeployment, stores: Stores
) -> None:
    usage = open_usage(stores.locks)
    old = deployment.primary
    # Warm the pool: connections to the current primary, idle and reusable.
    for _ in range(5):
        assert usage.used("alice") == 0
    deployment.sentinels[0].ask("FAILOVER", SERVICE)
    # Every sentinel names the new primary within a second or so; the former one
    # is demoted (and would copy the key below) about ten seconds later.
    new_port = deployment.await_failover(old).port
    with redis.Redis("127.0.0.1", new_port, decode_responses=True) as new_primary:
        new_primary.hset(f"{PREFIX}usage:totals", "alice", 42)
    with redis.Redis("127.0.0.1", old.port, decode_responses=True) as old_primary:
        # The former primary has not got it: a read from there would be stale.
        assert old_primary.hget(f"{PREFIX}usage:totals", "alice") is None
    named = time.monotonic()
    deadline = named + FOLLOWS_WITHIN_S
    seen = []
    while (value := usage.used("alice")) != 42:
        seen.append(value)
        assert time.monotonic() < deadline, f"still reading the former primary: {seen[-3:]}"
        time.sleep(0.05)
