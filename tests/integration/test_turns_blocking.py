"""A request stuck in a slow call that waits for something else — a bcrypt check,
the SQLite writers' queue, a Redis reply — lets the other requests of its process
run (davserver.common.turns.blocking), instead of keeping them asleep for their turn.

The real HTTP layer serves the real app in this process.  The turn's fallback
wait is raised to a minute: a request that did not get the turn would time out
here instead of running regardless after a quarter of a second.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import redis
import requests

from davserver.common import turns
from tests.integration.lock_helpers import Dav, basic, lockinfo
from tests.support.redis import RedisServer
from tests.support.wsgi_server import serving

STUCK_FOR = 30.0  # the stuck call's own bound, should the test fail half-way
CLIENT_TIMEOUT = 10.0


@pytest.fixture(autouse=True)
def no_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(turns, "TURN_WAIT", 60.0)


@contextmanager
def served(dav: Dav) -> Iterator[str]:
    (dav.root / "doc.txt").write_bytes(b"the document")
    with serving(dav.app.wsgi, numthreads=4) as port:
        yield f"http://127.0.0.1:{port}"


class Stuck:
    """Wraps a blocking call: the first armed call that ``matches`` signals
    ``entered`` and waits for ``release`` before it goes on."""

    def __init__(self, real: Callable[..., Any], matches: Callable[..., bool]):
        self.real, self.matches = real, matches
        self.entered, self.release = threading.Event(), threading.Event()
        self.armed = False
        self._lock = threading.Lock()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            mine = self.armed and self.matches(*args, **kwargs)
            if mine:
                self.armed = False
        if mine:
            self.entered.set()
            self.release.wait(STUCK_FOR)
        return self.real(*args, **kwargs)


def in_background(call: Callable[[], requests.Response]) -> tuple[threading.Thread, list[Any]]:
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(call()))
    thread.start()
    return thread, result


def assert_get_completes_while_stuck(base: str, stuck: Stuck, headers: dict[str, str]) -> None:
    assert stuck.entered.wait(CLIENT_TIMEOUT), "the slow call was never reached"
    try:
        answer = requests.get(f"{base}/doc.txt", headers=headers, timeout=CLIENT_TIMEOUT)
    finally:
        stuck.release.set()
    assert answer.status_code == 200
    assert answer.content == b"the document"


def test_a_slow_bcrypt_check_lets_another_request_of_the_process_run(
    tmp_path: Path, htpasswd_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stuck = Stuck(bcrypt.checkpw, lambda secret, hashed: secret == b"bob-secret")
    monkeypatch.setattr(bcrypt, "checkpw", stuck)
    dav = Dav(tmp_path / "share", htpasswd=str(htpasswd_file), allow_insecure_auth=True)
    with served(dav) as base:
        alice = {"Authorization": basic("alice")}
        assert requests.get(f"{base}/doc.txt", headers=alice, timeout=CLIENT_TIMEOUT).ok
        stuck.armed = True
        bob = {"Authorization": basic("bob")}
        thread, result = in_background(
            lambda: requests.get(f"{base}/doc.txt", headers=bob, timeout=STUCK_FOR)
        )
        assert_get_completes_while_stuck(base, stuck, alice)
        thread.join(STUCK_FOR)
    assert result[0].status_code == 200  # bob's check went on once released


def test_waiting_for_the_sqlite_writers_queue_lets_another_request_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dav = Dav(tmp_path / "share", lock_store="sqlite://")
    queue_file = dav.root / ".davserver" / "locks.sqlite-writers"
    # Another process's writer holds the queue: flock conflicts between open files.
    holder = os.open(queue_file, os.O_RDONLY | os.O_CREAT, 0o644)
    fcntl.flock(holder, fcntl.LOCK_EX)
    stuck = Stuck(fcntl.flock, lambda fd, op: op == fcntl.LOCK_EX and fd != holder)
    monkeypatch.setattr(fcntl, "flock", stuck)
    try:
        with served(dav) as base:
            stuck.armed = True
            thread, result = in_background(
                lambda: requests.request("LOCK", f"{base}/doc.txt", data=lockinfo(), timeout=60)
            )
            assert stuck.entered.wait(CLIENT_TIMEOUT)
            answer = requests.get(f"{base}/doc.txt", timeout=CLIENT_TIMEOUT)
            assert (answer.status_code, answer.content) == (200, b"the document")
            fcntl.flock(holder, fcntl.LOCK_UN)  # the other writer is done
            stuck.release.set()
            thread.join(STUCK_FOR)
    finally:
        stuck.release.set()
        os.close(holder)
    assert result[0].status_code == 200
    assert result[0].headers["Lock-Token"].startswith("<opaquelocktoken:")


def test_a_slow_redis_reply_lets_another_request_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = redis.connection.Connection.read_response
    stuck = Stuck(real, lambda *args, **kwargs: True)
    monkeypatch.setattr(
        redis.connection.Connection, "read_response", lambda *a, **kw: stuck(*a, **kw)
    )
    with RedisServer(tmp_path / "redis") as server:
        dav = Dav(tmp_path / "share", lock_store=server.url)
        with served(dav) as base:
            stuck.armed = True
            thread, result = in_background(
                lambda: requests.request(
                    "LOCK", f"{base}/doc.txt", data=lockinfo(), timeout=STUCK_FOR
                )
            )
            assert_get_completes_while_stuck(base, stuck, {})
            thread.join(STUCK_FOR)
    assert result[0].status_code == 200
