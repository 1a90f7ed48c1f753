"""Per-user usage for quotas: one contract on every backend, and Redis under load.

The contract (:mod:`davserver.lockstore.usage`): a write is checked against the
writer's quota and applied with its journal entry in one step; settle forgets
the entry, revert puts back what the write replaced, correct takes what recovery
saw on disk unless the row changed meanwhile.  Redis does each step as one Lua
script: many writes of one user at once never conflict (no 503) and none is lost
or counted twice.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from davserver.errors import QuotaExceeded, StoreUnavailable
from davserver.lockstore import open_stores
from davserver.lockstore.usage import Install, Row, UsageStore
from davserver.lockstore.usage_open import open_usage
from tests.backends.conftest import Harness
from tests.backends.conftest import _backend_url as backend_url
from tests.support.redis import RedisServer

THREADS = 16
WRITES_PER_THREAD = 25


@pytest.fixture
def redis_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    h = Harness("redis", backend_url("redis", request, tmp_path), tmp_path)
    yield h
    h.close()


@pytest.fixture
def usage(harness: Harness) -> Iterator[UsageStore]:
    store = open_usage(harness.opened[-1].locks)
    yield store
    store.close()


def put(path: str, size: int, owner: str = "alice", limit: int | None = None) -> Install:
    return Install(owner, limit, (path, None), drop=(path,), add=((path, size),))


def test_a_write_is_counted_and_journalled_until_settled(usage: UsageStore) -> None:
    ticket = usage.apply(Install("alice", 100, ("/a", 7), drop=("/a",), add=(("/a", 60),)), "h1")
    assert usage.used("alice") == 60
    assert usage.row("/a") == Row("alice", 60)
    [pending] = usage.pending()
    assert (pending.ticket, pending.tag, pending.check) == (ticket, "h1", ("/a", 7))
    usage.settle(ticket)
    assert usage.pending() == []
    assert usage.all_rows() == {"/a": Row("alice", 60)}


def test_a_write_past_the_quota_is_refused_with_the_numbers(usage: UsageStore) -> None:
    usage.settle(usage.apply(put("/a", 60, limit=100), "h"))
    with pytest.raises(QuotaExceeded) as refused:
        usage.apply(Install("alice", 100, ("/b", None), add=(("/b", 50),), what="copy"), "h")
    assert (refused.value.quota, refused.value.used, refused.value.needed) == (100, 60, 50)
    assert "copy" in str(refused.value)
    assert usage.used("alice") == 60 and usage.row("/b") is None and usage.pending() == []


def test_an_overwrite_counts_the_difference_and_may_change_the_owner(usage: UsageStore) -> None:
    usage.settle(usage.apply(put("/a", 90, limit=100), "h"))
    usage.settle(usage.apply(put("/a", 95, limit=100), "h"))  # needs 5, not 95
    assert usage.used("alice") == 95
    with pytest.raises(QuotaExceeded):  # bob would own it: he needs 10 of his 0
        usage.apply(put("/a", 10, owner="bob", limit=0), "h")
    assert (usage.used("alice"), usage.used("bob")) == (95, 0)
    usage.settle(usage.apply(put("/a", 10, owner="bob"), "h"))
    assert (usage.used("alice"), usage.used("bob")) == (0, 10)
    assert usage.row("/a") == Row("bob", 10)


def test_a_drop_takes_the_subtree_but_not_its_siblings(usage: UsageStore) -> None:
    for path in ("/d", "/d/x", "/d/y/z", "/d-e", "/dd", "/é/ü"):
        usage.settle(usage.apply(put(path, 10), "h"))
    usage.settle(usage.apply(Install("alice", None, ("/d", 3), drop=("/d", "/é")), "h"))
    assert sorted(usage.all_rows()) == ["/d-e", "/dd"]
    assert usage.used("alice") == 20


def test_a_move_keeps_the_owners_and_replaces_the_destination(usage: UsageStore) -> None:
    usage.settle(usage.apply(put("/s/a", 10, owner="bob"), "h"))
    usage.settle(usage.apply(put("/s/b/c", 20), "h"))
    usage.settle(usage.apply(put("/t/old", 5), "h"))
    move = Install("carol", 0, ("/t", 1), drop=("/t",), move=("/s", "/t"), what="move")
    usage.settle(usage.apply(move, "h"))
    assert usage.all_rows() == {"/t/a": Row("bob", 10), "/t/b/c": Row("alice", 20)}
    assert (usage.used("alice"), usage.used("bob"), usage.used("carol")) == (20, 10, 0)


def test_revert_puts_back_what_the_write_replaced(usage: UsageStore) -> None:
    usage.settle(usage.apply(put("/a", 10, owner="bob"), "h"))
    usage.settle(usage.apply(put("/f/x", 7), "h"))
    ticket = usage.apply(
        Install("alice", None, ("/a", 1), drop=("/a", "/f"), add=(("/a", 30), ("/n", 4))), "h"
    )
    assert usage.all_rows() == {"/a": Row("alice", 30), "/n": Row("alice", 4)}
    usage.revert(ticket)
    assert usage.all_rows() == {"/a": Row("bob", 10), "/f/x": Row("alice", 7)}
    assert (usage.used("alice"), usage.used("bob"), usage.pending()) == (7, 10, [])
    usage.revert(ticket)  # a second time: nothing left to put back
    assert (usage.used("alice"), usage.used("bob")) == (7, 10)


def test_correct_takes_the_disk_unless_the_row_changed(usage: UsageStore) -> None:
    usage.settle(usage.apply(put("/a", 10), "h"))
    usage.settle(usage.apply(put("/b", 20), "h"))
    usage.correct("/a", Row("alice", 10), 15)
    usage.correct("/b", Row("alice", 20), None)
    usage.correct("/a", Row("alice", 10), 99)  # the row is 15 now: left alone
    assert usage.all_rows() == {"/a": Row("alice", 15)}
    assert usage.used("alice") == 15


def test_concurrent_writes_of_one_user_on_redis_never_conflict(
    redis_harness: Harness,
) -> None:
    """16 threads, each with its own store of one Redis (as many workers would):
    every write within the quota passes (no 503), every one is counted once."""
    stores = [open_usage(redis_harness.open().locks) for _ in range(THREADS)]
    failures: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def writer(n: int) -> None:
        barrier.wait()
        try:
            for i in range(WRITES_PER_THREAD):
                path = f"/u/{n}/{i}"
                stores[n].settle(stores[n].apply(put(path, 3, limit=10**9), "h"))
        except BaseException as exc:  # reported below, with the thread's name
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n,), name=f"w{n}") for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    check = stores[0]
    assert check.used("alice") == 3 * THREADS * WRITES_PER_THREAD
    assert len(check.all_rows()) == THREADS * WRITES_PER_THREAD
    assert check.pending() == []


def test_concurrent_writes_stop_exactly_at_the_quota_on_redis(redis_harness: Harness) -> None:
    """Racing writers of one user: exactly as many pass as the quota holds."""
    stores = [open_usage(redis_harness.open().locks) for _ in range(THREADS)]
    passed: list[str] = []
    refused: list[int] = []
    other: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def writer(n: int) -> None:
        barrier.wait()
        for i in range(4):
            try:
                stores[n].apply(put(f"/q/{n}/{i}", 10, limit=205), "h")
                passed.append(f"/q/{n}/{i}")
            except QuotaExceeded as exc:
                refused.append(exc.used)
            except BaseException as exc:
                other.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert other == []
    assert len(passed) == 20 and len(refused) == 4 * THREADS - 20
    assert stores[0].used("alice") == 200
    assert sorted(stores[0].all_rows()) == sorted(passed)
    assert len(stores[0].pending()) == 20


def test_usage_changes_wait_for_a_replica_but_refusals_do_not(tmp_path: Path) -> None:
    """Like every Redis write, a usage change no replica confirmed is a 503; a
    quota refusal wrote nothing, so it is the 507 whatever the replicas do."""
    with RedisServer(tmp_path / "primary") as primary:
        open_stores(primary.url, state_dir=tmp_path).close()  # its record, while none must confirm
        stores = open_stores(primary.url, state_dir=tmp_path, min_replicas=1, replica_timeout_ms=50)
        usage = open_usage(stores.locks)
        try:
            with pytest.raises(QuotaExceeded):
                usage.apply(put("/big", 10, limit=5), "h")
            with pytest.raises(StoreUnavailable, match="replica"):
                usage.apply(put("/a", 3, limit=5), "h")
        finally:
            usage.close()
            stores.close()
