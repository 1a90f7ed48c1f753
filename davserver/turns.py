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
the client's body, a large send, ``fsync``, creating or renaming a file.  And
a turn is waited for at most :data:`TURN_WAIT` seconds; whoever waited longer
runs anyway, so one stuck request can delay the others but never stop them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

TURN_WAIT = 0.25
"""Seconds a request waits for its turn before it runs regardless."""

_turn = threading.Lock()
_held = threading.local()  # .mine: this thread holds the turn


def holding() -> bool:
    return getattr(_held, "mine", False)


@contextlib.contextmanager
def turn() -> Iterator[None]:
    """Run the body in this process's turn (after at most :data:`TURN_WAIT`).
    Nested use is free: the outermost ``turn`` holds it."""
    if holding():
        yield
        return
    _held.mine = _turn.acquire(timeout=TURN_WAIT)
    try:
        yield
    finally:
        if _held.mine:
            _held.mine = False
            _turn.release()


@contextlib.contextmanager
def waiting() -> Iterator[None]:
    """Let another request run while this one waits for the kernel or the client."""
    if not holding():
        yield
        return
    _held.mine = False
    _turn.release()
    try:
        yield
    finally:
        _held.mine = _turn.acquire(timeout=TURN_WAIT)
