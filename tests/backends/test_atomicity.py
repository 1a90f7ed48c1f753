"""insert_if is atomic: racing callers never both win (threads, and processes).

Each round, contenders try to lock a collection or one of its members with a
``decide`` that refuses when any exclusive lock is relevant; exactly one may win.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from pathlib import Path

import pytest

from davserver.lockstore import open_stores
from tests.backends.conftest import Harness
from tests.backends.race import contender_path, process_worker, race_threads

ROUNDS = 40


def test_threads_race_one_winner_per_round(harness: Harness) -> None:
    store = harness.opened[-1].locks
    wins = race_threads(store, ROUNDS, contenders=6)
    assert wins == [1] * ROUNDS
    now = time.time()
    for round_no in range(ROUNDS):
        assert len(store.find_below(contender_path(round_no, 0), now)) == 1


@pytest.mark.e2e
def test_processes_race_one_winner_per_round(shared_url: tuple[str, Path]) -> None:
    url, state_dir = shared_url
    stores = open_stores(url, state_dir=state_dir)  # creates the schema before the race
    ctx = multiprocessing.get_context("spawn")
    contenders = 3
    barrier = ctx.Barrier(contenders)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=process_worker, args=(url, state_dir, c, ROUNDS, barrier, results))
        for c in range(contenders)
    ]
    try:
        for proc in procs:
            proc.start()
        outcomes = [results.get(timeout=60) for _ in procs]
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
    assert all(proc.exitcode == 0 for proc in procs)
    wins = Counter(round_no for _, won in outcomes for round_no in won)
    assert [wins[r] for r in range(ROUNDS)] == [1] * ROUNDS
    assert len(stores.locks.all_locks(time.time())) == ROUNDS
    stores.close()
