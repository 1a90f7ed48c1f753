"""Racing ``insert_if`` callers, importable by spawned worker processes."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from davserver.lockstore import open_stores
from davserver.lockstore.base import LockStore
from tests.backends.helpers import Refused, make_lock, unless_exclusive


def contender_path(round_no: int, contender: int) -> str:
    """Even contenders lock the round's collection (depth infinity), odd ones the
    same member: every pair conflicts, on one path or through an ancestor."""
    base = f"/round{round_no}"
    return base if contender % 2 == 0 else f"{base}/member"


def try_lock(store: LockStore, round_no: int, contender: int) -> bool:
    """One attempt: True when this contender won the round."""
    now = time.time()
    path = contender_path(round_no, contender)
    try:
        store.insert_if(path, True, now, unless_exclusive(make_lock(path, now=now)))
    except Refused:
        return False
    return True


def race_threads(store: LockStore, rounds: int, contenders: int) -> list[int]:
    """Winners per round when ``contenders`` threads race each round."""
    wins = [0] * rounds
    mutex = threading.Lock()
    barrier = threading.Barrier(contenders)

    def run(contender: int) -> None:
        for round_no in range(rounds):
            barrier.wait()
            if try_lock(store, round_no, contender):
                with mutex:
                    wins[round_no] += 1

    threads = [threading.Thread(target=run, args=(c,)) for c in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return wins


def process_worker(
    url: str, state_dir: Path, contender: int, rounds: int, barrier: Any, results: Any
) -> None:
    """Entry point of a spawned process: open the store itself, race every round."""
    stores = open_stores(url, state_dir=state_dir)
    try:
        won = []
        for round_no in range(rounds):
            barrier.wait(timeout=30)
            if try_lock(stores.locks, round_no, contender):
                won.append(round_no)
        results.put((contender, won))
    finally:
        stores.close()
