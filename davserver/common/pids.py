"""This process's id, read once and again after each fork.

``os.getpid()`` is a system call.  Code that must notice a fork (a SQLite
connection, a file lock or a metrics file must not be shared with the parent)
asks for the id on every operation: prometheus-client's multiprocess values on
each metric update, the SQLite lock store on each transaction, 13 to 20 system
calls a request.  The id only changes in a fork, and a fork made through Python
(``os.fork``, ``multiprocessing``, ``subprocess`` before it execs) runs the hook
that reads it again, so :func:`current` is exact in every process.
"""

from __future__ import annotations

import os

_pid = [os.getpid()]


def current() -> int:
    """This process's id (no system call)."""
    return _pid[0]


def _forked() -> None:
    _pid[0] = os.getpid()


os.register_at_fork(after_in_child=_forked)
