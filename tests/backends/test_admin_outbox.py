"""The admin outbox: bounded, and every record claimed by exactly one process."""

from __future__ import annotations

import logging
import multiprocessing
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from davserver.locking.events import LockEvent, LockEventKind
from davserver.lockstore import Role, open_stores
from davserver.lockstore.outbox import OutboxSink, deliver
from tests.backends.helpers import make_lock

RECORDS = 300


def event(n: int) -> LockEvent:
    lock = make_lock(f"/doc{n}.txt", now=1000.0)
    return LockEvent(LockEventKind.BROKEN, 1000.0 + n, lock=lock, path=lock.root, actor="ops")


def test_a_full_outbox_keeps_the_newest_events_and_warns(
    shared_url: tuple[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    url, state_dir = shared_url
    server = open_stores(url, state_dir=state_dir)  # a server made the store
    admin = open_stores(url, state_dir=state_dir, role=Role.ADMIN)
    try:
        assert admin.outbox is not None and server.outbox is not None
        sink = OutboxSink(admin.outbox, limit=2)
        events = [event(n) for n in range(3)]
        with caplog.at_level(logging.WARNING, logger="davserver.lockstore.outbox"):
            for posted in events:
                sink(posted)
        assert "admin.outbox_max 2" in caplog.text and "dropped the 1 oldest" in caplog.text
        got: list[LockEvent] = []
        assert deliver(server.outbox, got.append) == 2
        assert got == events[1:]
        assert deliver(server.outbox, got.append) == 0
    finally:
        admin.close()
        server.close()


def claimer(url: str, state_dir: Path, barrier: Any, results: Any) -> None:
    """A spawned worker: claim in small batches until the outbox is empty."""
    stores = open_stores(url, state_dir=state_dir)
    assert stores.outbox is not None
    taken: list[str] = []
    barrier.wait()
    while batch := stores.outbox.claim(7):
        taken += batch
    stores.close()
    results.put(taken)


@pytest.mark.e2e
def test_concurrent_claims_take_each_record_once(shared_url: tuple[str, Path]) -> None:
    url, state_dir = shared_url
    stores = open_stores(url, state_dir=state_dir)
    assert stores.outbox is not None
    for n in range(RECORDS):
        stores.outbox.post(f"record {n}", RECORDS)
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=claimer, args=(url, state_dir, barrier, results)) for _ in range(3)]
    try:
        for proc in procs:
            proc.start()
        taken = [record for _ in procs for record in results.get(timeout=60)]
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
    assert all(proc.exitcode == 0 for proc in procs)
    assert Counter(taken) == Counter(f"record {n}" for n in range(RECORDS))
    assert stores.outbox.claim(10) == []
    stores.close()
