"""The requests of one process take turns; a request waiting for the kernel steps aside.

cheroot serves each connection on its own thread, and CPython runs one
thread's Python at a time.  With several requests in flight, every system
call a request makes (recv, stat, each SQLite step) lets another thread take
the interpreter, and getting it back is a wake-up through the kernel: under
eight clients the server spent about 60 % of its CPU in the kernel, switching
threads, and a PUT that costs 0.7 ms alone cost 2.8 ms.  Taking turns — one
request's Python at a time, the others asleep on one lock — makes each system
call return straight to the thread that made it.

A request steps aside (:func:`waiting`) while it waits for something slow:
the client's body, a large send, ``fsync``, creating or renaming a file.  A
call that waits for something other than this process — a bcrypt check, a
Redis round trip, the SQLite writers' queue and SQLite's busy wait, a pause
between retries — goes through :func:`blocking`, so that it never keeps the
process's other requests asleep.  And a turn is waited for at most
:data:`TURN_WAIT` seconds; whoever waited longer runs anyway, so one stuck
request can delay the others but never stop them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

TURN_WAIT = 0.25
"""Seconds a request waits for its turn before it runs regardless."""

_turn = threading.Lock()
_held = threading.local()  # .mine: this thread holds the turn


def holding() -> bool:
    return getattr(_held, "mine", False)


# Both are classes with __enter__/__exit__ rather than generator context
# managers: every request enters a turn, and a PUT steps aside three or four
# times; a generator object per use cost more than the lock itself.


class _Turn:
    """Run the body in this process's turn (after at most :data:`TURN_WAIT`).
    Nested use is free: the outermost ``turn`` holds it."""

    __slots__ = ("outer",)

    def __enter__(self) -> None:
        self.outer = not getattr(_held, "mine", False)
        if self.outer:
            _held.mine = _turn.acquire(timeout=TURN_WAIT)

    def __exit__(self, *exc: object) -> None:
        if self.outer and _held.mine:
            _held.mine = False
            _turn.release()


class _Waiting:
    """Let another request run while this one waits for the kernel or the client."""

    __slots__ = ("stepped",)

    def __enter__(self) -> None:
        self.stepped = getattr(_held, "mine", False)
        if self.stepped:
            _held.mine = False
            _turn.release()

    def __exit__(self, *exc: object) -> None:
        if self.stepped:
            _held.mine = _turn.acquire(timeout=TURN_WAIT)


def turn() -> _Turn:
    return _Turn()


def waiting() -> _Waiting:
    return _Waiting()


def blocking(call: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """``call(*args, **kwargs)`` stepped aside: for a call that waits (see the
    module docstring); outside a turn it is a plain call."""
    with _Waiting():
        return call(*args, **kwargs)
