"""Fault episodes: one log line each, transient faults retried, broken ones gated."""

from __future__ import annotations

import logging

import pytest

from davserver.errors import StoreUnavailable
from davserver.lockstore.health import QUIET_INTERVAL, Fault, FaultKind, StoreHealth

BUSY = Fault(FaultKind.BUSY, "busy for 10 s", "wait")
GONE = Fault(FaultKind.MISSING, "/x/locks.sqlite was deleted", "restore it")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


def test_the_client_hears_what_and_who_acts_never_a_path() -> None:
    refused = StoreHealth("sqlite:///x/locks.sqlite").fail(GONE)
    assert isinstance(refused, StoreUnavailable) and refused.retry_after > 0
    assert "/x/" not in str(refused)
    assert "deleted" in str(refused) and "confirm-store" in str(refused)
    assert "try again" in str(StoreHealth("s").fail(BUSY))


def test_one_warning_per_episode_and_an_info_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    clock = Clock()
    health = StoreHealth("s", clock)
    for _ in range(5):
        health.fail(BUSY)
    health.succeeded()
    assert lines(caplog, logging.WARNING) == ["lock store s: busy for 10 s. wait"]
    assert len(lines(caplog, logging.INFO)) == 1
    health.fail(BUSY)  # a new episode soon after: not logged again
    assert len(lines(caplog, logging.WARNING)) == 1
    health.succeeded()
    clock.now += QUIET_INTERVAL
    health.fail(BUSY)
    assert len(lines(caplog, logging.WARNING)) == 2


def test_a_broken_store_is_refused_without_being_touched_until_a_recheck() -> None:
    clock = Clock()
    health = StoreHealth("s", clock)
    checks: list[float] = []

    def still_gone() -> Fault | None:
        checks.append(clock.now)
        return GONE

    health.gate(still_gone)  # sound: no check at all
    health.fail(GONE)
    for _ in range(3):
        with pytest.raises(StoreUnavailable):
            health.gate(still_gone)
    assert checks == []  # refused at once, the store untouched
    clock.now += 1.0
    with pytest.raises(StoreUnavailable):
        health.gate(still_gone)
    assert checks == [clock.now]
    clock.now += 1.0
    health.gate(lambda: None)  # the re-check passes: sound again
    assert health.broken is None
    health.gate(still_gone)
    assert checks == [clock.now - 1.0]
