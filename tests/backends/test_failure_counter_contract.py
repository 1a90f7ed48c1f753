"""The FailureCounter contract (failed-login counters of the login throttle), run
against every backend; shared backends must count the failures of every
process that opens them."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from davserver.lockstore import FailureCounter, open_stores
from davserver.lockstore.failures import MAX_PER_KEY
from tests.backends.conftest import Harness

T0 = 1_700_000_000.0
WINDOW = 60.0


@pytest.fixture
def counter(harness: Harness) -> FailureCounter:
    return harness.opened[-1].failures


def test_counts_failures_per_key_in_the_order_asked(counter: FailureCounter) -> None:
    assert counter.counts(["a:x", "u:alice"], T0, WINDOW) == [0, 0]
    counter.add(["a:x", "u:alice"], T0, WINDOW)
    counter.add(["a:x"], T0 + 1, WINDOW)
    assert counter.counts(["u:alice", "a:x", "a:y"], T0 + 2, WINDOW) == [1, 2, 0]


def test_failures_leave_the_window(counter: FailureCounter) -> None:
    counter.add(["k"], T0, WINDOW)
    counter.add(["k"], T0 + 30, WINDOW)
    assert counter.counts(["k"], T0 + 59.5, WINDOW) == [2]
    assert counter.counts(["k"], T0 + 60, WINDOW) == [1]  # exactly window old: gone
    assert counter.counts(["k"], T0 + 90, WINDOW) == [0]
    counter.add(["k"], T0 + 200, WINDOW)  # older ones may be dropped, never counted
    assert counter.counts(["k"], T0 + 200, WINDOW) == [1]


def test_times_are_the_recent_failures_oldest_first(counter: FailureCounter) -> None:
    for at in (T0 + 5, T0, T0 + 70, T0 + 71):
        counter.add(["k"], at, 1000.0)
    assert counter.times("k", T0 + 80, WINDOW) == [T0 + 70, T0 + 71]
    assert counter.times("k", T0 + 80, 1000.0) == [T0, T0 + 5, T0 + 70, T0 + 71]
    assert counter.times("other", T0, WINDOW) == []


def test_clear_forgets_only_the_keys_named(counter: FailureCounter) -> None:
    counter.add(["a:x", "ua:alice:x", "u:alice"], T0, WINDOW)
    counter.clear(["a:x", "ua:alice:x"])
    assert counter.counts(["a:x", "ua:alice:x", "u:alice"], T0, WINDOW) == [0, 0, 1]
    counter.clear(["never-seen"])


def test_keys_hold_any_address_and_user_name(counter: FailureCounter) -> None:
    keys = ["ua:ålice:2001:db8::1%eth0", "a:2001:db8::1", "u:a b*?[x]"]
    counter.add(keys, T0, WINDOW)
    assert counter.counts(keys, T0, WINDOW) == [1, 1, 1]
    assert counter.counts(["ua:ålice:2001:db8::1"], T0, WINDOW) == [0]


def test_a_count_is_capped_not_unbounded(counter: FailureCounter) -> None:
    for n in range(MAX_PER_KEY + 5):
        counter.add(["k"], T0 + n / 1000, WINDOW)
    assert counter.counts(["k"], T0 + 2, WINDOW) == [MAX_PER_KEY]
    times = counter.times("k", T0 + 2, WINDOW)
    assert len(times) == MAX_PER_KEY and times[-1] == pytest.approx(T0 + 1.004)


def test_concurrent_failures_are_all_counted(counter: FailureCounter) -> None:
    def fail() -> None:
        for _ in range(20):
            counter.add(["a:x"], T0, WINDOW)

    threads = [threading.Thread(target=fail) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter.counts(["a:x"], T0, WINDOW) == [80]


def test_every_process_opening_a_shared_store_counts_together(
    shared_url: tuple[str, Path],
) -> None:
    """Two openings of one store (two workers, or two servers on one Redis)."""
    url, state_dir = shared_url
    first = open_stores(url, state_dir=state_dir)
    second = open_stores(url, state_dir=state_dir)
    try:
        first.failures.add(["a:x"], T0, WINDOW)
        second.failures.add(["a:x"], T0 + 1, WINDOW)
        assert first.failures.counts(["a:x"], T0 + 2, WINDOW) == [2]
        second.failures.clear(["a:x"])
        assert first.failures.counts(["a:x"], T0 + 2, WINDOW) == [0]
    finally:
        first.close()
        second.close()
