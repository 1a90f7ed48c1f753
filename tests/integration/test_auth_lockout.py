"""Login throttling that nobody can turn against a user: counted per
address and per user from an address, never by user name alone, and shared by
every process using one lock store."""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from pathlib import Path

import pytest

from davserver.dav.logins.throttle import LoginThrottle
from davserver.errors import StoreUnavailable
from tests.integration.lock_helpers import Dav, FakeClock, basic
from tests.integration.test_admin_api import Admin, auth

ATTACKER = "127.0.0.66"  # loopback addresses: Basic over plain HTTP is accepted
ALICE = "127.0.0.7"
WRONG = {"Authorization": "Basic " + base64.b64encode(b"alice:wrong").decode("ascii")}


def make(tmp_path: Path, htpasswd: Path, name: str = "share", **options: object) -> Dav:
    dav = Dav(tmp_path / name, htpasswd=str(htpasswd), auth_max_failures=3, **options)
    (dav.root / "f.txt").write_bytes(b"hello")
    dav.app.throttle.clock = dav.clock
    return dav


def get(dav: Dav, address: str, headers: dict[str, str]) -> int:
    return dav.client.request("GET", "/f.txt", headers=headers, remote_addr=address).status


def as_alice(dav: Dav, address: str) -> int:
    return get(dav, address, {"Authorization": basic("alice")})


@pytest.fixture
def dav(tmp_path: Path, htpasswd_file: Path) -> Dav:
    return make(tmp_path, htpasswd_file)


def test_failures_from_one_address_do_not_lock_alice_out_of_another(dav: Dav) -> None:
    assert [get(dav, ATTACKER, WRONG) for _ in range(4)] == [401, 401, 401, 429]
    assert as_alice(dav, ALICE) == 200
    # The guessing address stays refused, even with the right password.
    assert as_alice(dav, ATTACKER) == 429


def test_guesses_every_window_never_keep_alice_out(dav: Dav) -> None:
    """The measured attack: a burst of guesses just inside every window."""
    for _ in range(14):
        for _ in range(4):
            get(dav, ATTACKER, WRONG)
        assert as_alice(dav, ALICE) == 200
        dav.clock.advance(55)


def test_a_valid_account_cannot_reset_the_guesses_at_another(dav: Dav) -> None:
    bob = {"Authorization": basic("bob")}
    assert [get(dav, ATTACKER, WRONG) for _ in range(2)] == [401, 401]
    assert get(dav, ATTACKER, bob) == 200  # clears the address, not alice's count there
    assert get(dav, ATTACKER, WRONG) == 401
    assert as_alice(dav, ATTACKER) == 429
    assert get(dav, ATTACKER, bob) == 200
    assert as_alice(dav, ALICE) == 200


def test_distributed_guessing_slows_addresses_that_failed_never_clean_ones(
    tmp_path: Path, htpasswd_file: Path
) -> None:
    dav = make(tmp_path, htpasswd_file, auth_user_max_failures=4)
    guessers = [f"127.0.1.{n}" for n in range(4)]
    assert [get(dav, address, WRONG) for address in guessers] == [401] * 4
    # alice is under attack: an address that failed for her gets no second guess ...
    assert get(dav, guessers[0], WRONG) == 429
    assert as_alice(dav, guessers[0]) == 429
    # ... a new address gets one, and alice from her own address is never refused.
    assert [get(dav, "127.0.1.9", WRONG) for _ in range(2)] == [401, 429]
    assert as_alice(dav, ALICE) == 200
    dav.clock.advance(61)
    assert as_alice(dav, guessers[0]) == 200


def test_workers_sharing_a_sqlite_store_count_together(tmp_path: Path, htpasswd_file: Path) -> None:
    """Two applications on one SQLite file, as two worker processes are."""
    store = {"store.url": f"sqlite://{tmp_path / 'locks.sqlite'}"}
    first = make(tmp_path, htpasswd_file, **store)
    second = Dav(first.root, htpasswd=str(htpasswd_file), auth_max_failures=3, **store)
    second.app.throttle.clock = first.clock
    try:
        statuses = [get(app, ATTACKER, WRONG) for app in (first, second, first, second)]
        assert statuses == [401, 401, 401, 429]
        assert as_alice(second, ALICE) == 200
        assert as_alice(first, ATTACKER) == 429
    finally:
        first.app.close()
        second.app.close()


class BrokenCounter:
    """A store that cannot be reached."""

    def _fail(self, *args: object) -> list[int]:
        raise StoreUnavailable("lock store down", 5)

    add = counts = times = clear = _fail


def test_a_failing_store_falls_back_to_counting_in_the_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    throttle = LoginThrottle(3, 60.0, FakeClock(), counter=BrokenCounter())
    with caplog.at_level(logging.WARNING, logger="davserver.dav.logins.throttle"):
        for _ in range(3):
            assert throttle.retry_after(ATTACKER, "alice") is None
            throttle.failed(ATTACKER, "alice")
        assert throttle.retry_after(ATTACKER, "alice") == 60
        assert throttle.retry_after(ALICE, "alice") is None
    warnings: Sequence[logging.LogRecord] = caplog.records
    assert len(warnings) == 1 and "per process" in warnings[0].getMessage()


def test_admin_logins_are_throttled_by_address_with_the_dav_port(tmp_path: Path) -> None:
    admin = Admin(tmp_path)
    admin.dav.app.throttle.clock = admin.dav.clock

    def call(address: str, password: str | None = None) -> int:
        headers = auth("root", password)
        return admin.client.request("GET", "/api/locks", b"", headers, remote_addr=address).status

    wrong = {"Authorization": "Basic " + base64.b64encode(b"root:wrong").decode("ascii")}
    # Guesses on the WebDAV port and on the admin port are one count.
    assert [get(admin.dav, ATTACKER, wrong) for _ in range(9)] == [401] * 9
    assert call(ATTACKER, "wrong") == 401
    assert call(ATTACKER) == 429
    assert call(ALICE) == 200


def test_a_broken_sqlite_store_still_throttles_and_lets_alice_in(
    tmp_path: Path, htpasswd_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "locks.sqlite"
    dav = make(tmp_path, htpasswd_file, lock_store=f"sqlite://{database}")
    try:
        database.unlink()  # the store is broken: every store call is refused
        with caplog.at_level(logging.WARNING, logger="davserver.dav.logins.throttle"):
            assert [get(dav, ATTACKER, WRONG) for _ in range(4)] == [401, 401, 401, 429]
            assert as_alice(dav, ALICE) == 200
        assert [r.getMessage() for r in caplog.records if "per process" in r.getMessage()]
    finally:
        dav.app.close()


def test_the_store_is_used_again_once_it_recovers(monkeypatch: pytest.MonkeyPatch) -> None:
    from davserver.dav.logins import throttle as module
    from davserver.lockstore.failures import MemoryFailureCounter

    monkeypatch.setattr(module, "STORE_RETRY_S", 0.0)
    store = MemoryFailureCounter()
    limits = LoginThrottle(3, 60.0, FakeClock(), counter=BrokenCounter())
    limits.failed(ATTACKER, "alice")  # counted in the process
    limits.counter = store
    for _ in range(3):
        limits.failed(ATTACKER, "alice")
    assert store.counts([f"a:{ATTACKER}"], FakeClock()(), 60.0) == [3]
