"""The cache of logins a directory confirmed: bounded in time and in size, keyed
without the password."""

from __future__ import annotations

from davserver.dav.logins.cache import Login, LoginCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_login_is_forgotten_after_its_seconds() -> None:
    clock = Clock()
    cache = LoginCache(60, 10, clock)
    key = cache.key("alice", "alice-pw")
    cache.put(key, Login(allowed=True))
    clock.now += 59.9
    assert cache.get(key) == Login(allowed=True)
    clock.now += 0.2
    assert cache.get(key) is None
    assert len(cache) == 0


def test_the_least_recently_used_login_goes_first() -> None:
    cache = LoginCache(60, 2, Clock())
    keys = [cache.key(name, "pw") for name in ("a", "b", "c")]
    cache.put(keys[0], Login(True))
    cache.put(keys[1], Login(True))
    assert cache.get(keys[0]) is not None  # a is used: b is now the oldest
    cache.put(keys[2], Login(True))
    assert len(cache) == 2
    assert cache.get(keys[1]) is None
    assert cache.get(keys[0]) is not None and cache.get(keys[2]) is not None


def test_the_key_is_neither_the_password_nor_its_plain_hash() -> None:
    import hashlib

    cache = LoginCache(60, 10)
    key = cache.key("alice", "alice-pw")
    assert b"alice-pw" not in key
    assert key != hashlib.sha256(b"alice\0alice-pw").digest()
    assert key != cache.key("alice", "alice-pw ")
    assert key != cache.key("alice ", "alice-pw")
    assert key == cache.key("alice", "alice-pw")
    # Another process (or a restart) keys differently: nothing to test guesses against.
    assert key != LoginCache(60, 10).key("alice", "alice-pw")


def test_zero_seconds_remembers_nothing() -> None:
    cache = LoginCache(0, 10)
    key = cache.key("alice", "pw")
    cache.put(key, Login(True))
    assert cache.get(key) is None
