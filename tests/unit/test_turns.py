"""Requests take turns, but a request that waits for the kernel lets others run,
and one stuck request never stops the rest."""

from __future__ import annotations

import threading

from davserver.common import turns


def run_in_thread(body):  # type: ignore[no-untyped-def]
    result: dict[str, object] = {}

    def target() -> None:
        result["value"] = body()

    thread = threading.Thread(target=target)
    thread.start()
    return thread, result


def test_a_waiting_request_hands_its_turn_to_another() -> None:
    stepped_aside = threading.Event()
    done = threading.Event()

    def first() -> bool:
        with turns.turn():
            with turns.waiting():
                stepped_aside.set()
                done.wait(5)
            return turns.holding()  # got the turn back afterwards

    def second() -> bool:
        stepped_aside.wait(5)
        with turns.turn():
            return turns.holding()  # really holds it: not the timeout fallback

    a, a_result = run_in_thread(first)
    b, b_result = run_in_thread(second)
    b.join(5)
    done.set()
    a.join(5)
    assert b_result["value"] is True
    assert a_result["value"] is True
    assert not turns._turn.locked()


def test_a_stuck_request_delays_others_by_at_most_the_turn_wait() -> None:
    holding = threading.Event()
    release = threading.Event()

    def stuck() -> None:
        with turns.turn():
            holding.set()
            release.wait(10)

    def other() -> bool:
        holding.wait(5)
        with turns.turn():
            return turns.holding()

    a, _ = run_in_thread(stuck)
    b, b_result = run_in_thread(other)
    b.join(turns.TURN_WAIT * 8)
    assert not b.is_alive(), "a stuck turn stopped another request"
    assert b_result["value"] is False  # ran without the turn
    release.set()
    a.join(5)
    assert not turns._turn.locked()


def test_nested_turns_hold_once_and_release_at_the_outermost() -> None:
    with turns.turn():
        with turns.turn():
            assert turns.holding()
        assert turns.holding()
        assert turns._turn.locked()
    assert not turns.holding()
    assert not turns._turn.locked()


def test_waiting_outside_a_turn_changes_nothing() -> None:
    with turns.waiting():
        assert not turns.holding()
    assert not turns._turn.locked()


def test_a_blocking_call_runs_stepped_aside_and_returns_its_result() -> None:
    entered = threading.Event()
    release = threading.Event()

    def slow(answer: int, *, extra: int) -> int:  # a bcrypt check, a Redis reply ...
        entered.set()
        release.wait(5)
        return answer + extra

    def first() -> tuple[int, bool]:
        with turns.turn():
            result = turns.blocking(slow, 40, extra=2)
            return result, turns.holding()

    def second() -> bool:
        entered.wait(5)
        with turns.turn():
            return turns.holding()  # really holds it: not the timeout fallback

    a, a_result = run_in_thread(first)
    b, b_result = run_in_thread(second)
    b.join(5)
    release.set()
    a.join(5)
    assert b_result["value"] is True
    assert a_result["value"] == (42, True)
    assert not turns._turn.locked()


def test_a_blocking_call_outside_a_turn_is_a_plain_call() -> None:
    assert turns.blocking(sum, [1, 2, 3]) == 6
    assert not turns.holding()
