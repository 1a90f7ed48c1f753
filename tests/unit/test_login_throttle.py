"""The login throttle's rules (davserver.dav.logins.throttle), with the clock as a parameter."""

from __future__ import annotations

from collections.abc import Sequence

from davserver.dav.logins.throttle import LoginThrottle
from davserver.lockstore.failures import MemoryFailureCounter

T0 = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Spy(MemoryFailureCounter):
    """Counts the writes a throttle makes to its store."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.keys: set[str] = set()

    def add(self, keys: Sequence[str], now: float, window: float) -> None:
        self.writes += 1
        self.keys.update(keys)
        super().add(keys, now, window)

    def clear(self, keys: Sequence[str]) -> None:
        self.writes += 1
        super().clear(keys)


def throttle(clock: Clock, counter: MemoryFailureCounter, user_max: int = 0) -> LoginThrottle:
    return LoginThrottle(3, 60.0, clock, counter=counter, user_max_failures=user_max)


def test_retry_after_is_when_the_oldest_counted_failure_leaves_the_window() -> None:
    clock = Clock()
    limits = throttle(clock, MemoryFailureCounter())
    for step in (0, 10, 20):
        clock.now = T0 + step
        limits.failed("a", "alice")
    clock.now = T0 + 25
    assert limits.retry_after("a", "alice") == 35  # the failure at T0 leaves at T0+60
    assert limits.retry_after("a", "bob") == 35  # the address is refused, for anyone
    assert limits.retry_after("b", "alice") is None  # never by user name alone
    clock.now = T0 + 60
    assert limits.retry_after("a", "alice") is None


def test_logins_without_failures_write_nothing() -> None:
    """Every authenticated request passes the throttle: only failures may write."""
    clock, spy = Clock(), Spy()
    limits = throttle(clock, spy)
    for _ in range(5):
        verdict = limits.check("a", "alice")
        assert verdict.wait is None and not verdict.had_failures
        limits.succeeded("a", "alice", verdict)
    assert spy.writes == 0
    limits.failed("a", "alice")
    verdict = limits.check("a", "alice")
    limits.succeeded("a", "alice", verdict)
    assert spy.writes == 2
    assert limits.check("a", "alice").had_failures is False


def test_the_user_guard_refuses_only_addresses_that_failed_for_the_user() -> None:
    clock = Clock()
    limits = throttle(clock, MemoryFailureCounter(), user_max=3)
    for address in ("x", "y", "z"):
        limits.failed(address, "alice")
    clock.now = T0 + 30
    assert limits.retry_after("x", "alice") == 30  # one guess per window per address
    assert limits.retry_after("x", "bob") is None  # other users are not under attack
    assert limits.retry_after("clean", "alice") is None


def test_zero_turns_the_throttle_off() -> None:
    spy = Spy()
    limits = LoginThrottle(0, 60.0, Clock(), counter=spy, user_max_failures=1)
    for _ in range(20):
        limits.failed("a", "alice")
    assert limits.retry_after("a", "alice") is None and spy.writes == 0


def test_an_ipv6_network_of_64_counts_as_one_client() -> None:
    limits = throttle(Clock(), MemoryFailureCounter())
    for host in ("2001:db8::1", "2001:db8::2", "2001:db8::ffff:1%eth0"):
        limits.failed(host, "alice")
    assert limits.retry_after("2001:db8::99", "bob") is not None
    assert limits.retry_after("2001:db8:0:1::1", "alice") is None
    for _ in range(3):
        limits.failed("::ffff:192.0.2.1", "alice")
    assert limits.retry_after("192.0.2.1", "bob") is not None


def test_a_long_user_name_is_counted_under_a_short_key() -> None:
    counter = Spy()
    limits = throttle(Clock(), counter)
    name = "m" * 60_000
    for _ in range(3):
        limits.failed("a", name)
    assert limits.retry_after("a", name) is not None
    assert limits.retry_after("b", "m" * 60_001) is None
    assert max(len(key) for key in counter.keys) < 400
