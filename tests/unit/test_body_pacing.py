"""The minimum body rate and the body waiters (davserver/http/pacing.py): time is a parameter."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from davserver.http.limits import HttpLimits
from davserver.http.pacing import BodyPace, BodyTooSlow, BodyWaiters, RateFloor


def test_nothing_arrives_the_floor_breaks_one_window_after_the_start() -> None:
    floor = RateFloor(rate=100, window=10.0, start=50.0)
    assert floor.deadline() == 60.0


def test_a_body_at_the_rate_is_never_cut() -> None:
    floor = RateFloor(rate=100, window=10.0, start=0.0)
    for second in range(1, 200):
        assert floor.deadline() > second - 1  # the wait for this second's bytes is allowed
        floor.record(100, float(second))
    assert floor.deadline() > 199


def test_a_trickle_below_the_rate_is_cut_one_window_in() -> None:
    """One byte a second against 100 bytes/s: never idle, still cut at the window."""
    floor = RateFloor(rate=100, window=10.0, start=0.0)
    for second in range(1, 10):
        floor.record(1, float(second))
    assert floor.deadline() == 10.0


def test_credit_from_a_fast_start_lasts_one_window() -> None:
    """A fast start does not buy a long trickle: 10 MB in the first second, then
    nothing -- cut a window after the last bytes that still counted."""
    floor = RateFloor(rate=100, window=10.0, start=0.0)
    floor.record(10_000_000, 1.0)
    assert floor.deadline() == 11.0
    floor.record(1, 5.0)  # a trickle later changes nothing: the window holds 1 byte
    assert floor.deadline() == 11.0


def test_the_window_slides() -> None:
    floor = RateFloor(rate=100, window=10.0, start=0.0)
    floor.record(1000, 3.0)  # exactly one window's worth
    assert floor.deadline() == 13.0
    floor.record(500, 12.0)  # (2, 12] holds 1500; by 13 only 500 of it is in the window
    assert floor.deadline() == 13.0
    floor.record(500, 12.9)  # 1000 since 3: the next window may start at 12
    assert floor.deadline() == 22.0


def test_disabled_floor_has_no_deadline() -> None:
    floor = RateFloor(rate=0, window=10.0, start=0.0)
    floor.record(1, 1.0)
    assert floor.deadline() == math.inf


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.floats(0.001, 3.0), st.integers(0, 400)), max_size=80))
def test_the_deadline_is_never_earlier_than_the_exact_sliding_window(
    arrivals: list[tuple[float, int]],
) -> None:
    """Against the definition (every window after the start brings rate * window
    bytes), computed from every arrival: merging samples may only make it later,
    and by at most one bucket."""
    rate, window = 100, 10.0
    floor = RateFloor(rate, window, 0.0)
    now, events = 0.0, []
    for gap, count in arrivals:
        now += gap
        if now >= floor.deadline():
            return  # cut already: nothing after counts
        floor.record(count, now)
        if count:
            events.append((now, count))
    exact = exact_deadline(events, rate, window, now)
    assert exact - 1e-9 <= floor.deadline() <= exact + window / 20 + 1e-9


def exact_deadline(events: list[tuple[float, int]], rate: int, window: float, now: float) -> float:
    """The first t >= now (and a window after the start) at which (t - window, t]
    holds fewer than rate * window bytes if nothing more arrives."""
    first = max(now, window)
    candidates = sorted({first} | {at + window for at, _ in events if at + window > first})
    for t in candidates:
        if sum(count for at, count in events if at > t - window + 1e-9) < rate * window:
            return t
    raise AssertionError("the last candidate empties the window")


def test_pace_names_the_keys_and_tells_idle_from_slow() -> None:
    pace = BodyPace.start(rate=100, window=10.0, idle=4.0)
    assert pace.budget(0.0) == 4.0  # body_timeout comes first
    with pytest.raises(TimeoutError) as idle:
        pace.budget(4.0)
    assert not isinstance(idle.value, BodyTooSlow)
    pace.waited(8.0)
    assert pace.budget(1.0) == 1.0  # the floor is nearer than idle
    with pytest.raises(BodyTooSlow) as slow:
        pace.budget(2.0)
    assert (
        "http.min_body_rate (100 bytes/s over http.min_body_rate_window 10 s)" in slow.value.reason
    )


def test_only_time_spent_waiting_counts() -> None:
    """Bytes read without a wait (they came while the server wrote a block to disk)
    arrive at the clock's time: the server's own delays never cut a client."""
    pace = BodyPace.start(rate=100, window=10.0, idle=30.0)
    pace.waited(9.0)
    pace.arrived(1000)  # after 9 s of waiting, then 60 s of writing to disk, say
    pace.arrived(500)  # read at once: no wait, no time
    assert pace.budget(0.0) == 10.0  # a full window from the arrival, not a breach
    pace.waited(5.0)
    pace.arrived(500)  # (9, 19] holds these 500 only: 500 more must come by 19
    assert pace.floor.deadline() == 19.0


def test_waiters_per_address_then_per_process() -> None:
    waiters = BodyWaiters(cap=3, per_address=2)
    assert waiters.enter("a") is None and waiters.enter("a") is None
    assert "max_body_waiters_per_address 2" in (waiters.enter("a") or "")
    assert waiters.enter("b") is None
    assert "max_body_waiters 3" in (waiters.enter("c") or "")
    waiters.leave("a")
    assert waiters.enter("c") is None
    assert waiters.waiting() == 3 and waiters.waiting("a") == 1


def test_unlimited_per_address() -> None:
    waiters = BodyWaiters(cap=5, per_address=0)
    assert all(waiters.enter("proxy") is None for _ in range(5))
    assert waiters.enter("proxy") is not None


def test_the_cap_leaves_threads_for_everything_else() -> None:
    assert HttpLimits().body_waiters_cap == 128  # half of max_threads 256
    assert HttpLimits(max_threads=16).body_waiters_cap == 8
    assert HttpLimits(max_threads=40, max_body_waiters=100).body_waiters_cap == 39
    assert HttpLimits(max_body_waiters=10).body_waiters_cap == 10
