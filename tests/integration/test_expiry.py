"""Expired locks are gone for every purpose at once (RFC 4918 §6.6)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.lock_helpers import NS, Dav, assert_423_submitted, xml


@pytest.fixture
def dav(tmp_path: Path) -> Dav:
    dav = Dav(tmp_path / "share", lock_timeout_default=60, lock_timeout_max=600)
    (dav.root / "f.txt").write_bytes(b"hello")
    (dav.root / "dir").mkdir()
    (dav.root / "dir" / "m.txt").write_bytes(b"member")
    return dav


def test_lock_holds_until_the_last_second(dav: Dav) -> None:
    dav.locked("/f.txt", timeout="Second-60")
    dav.clock.advance(59.5)
    response = dav.put("/f.txt")
    assert_423_submitted(response, "/f.txt")
    assert response.header("Retry-After") == "1"


def test_expired_lock_no_longer_blocks_writes(dav: Dav) -> None:
    dav.locked("/f.txt", timeout="Second-60")
    dav.clock.advance(60)
    assert dav.put("/f.txt", b"free").status == 204
    assert (dav.root / "f.txt").read_bytes() == b"free"


def test_expired_lock_gone_from_lockdiscovery(dav: Dav) -> None:
    dav.locked("/f.txt", timeout="Second-60")
    assert len(dav.lockdiscovery("/f.txt")) == 1
    dav.clock.advance(61)
    assert dav.lockdiscovery("/f.txt") == []


def test_expired_inherited_lock_gone_from_member_discovery(dav: Dav) -> None:
    dav.locked("/dir", depth="infinity", timeout="Second-60")
    dav.clock.advance(61)
    assert dav.lockdiscovery("/dir/m.txt") == []
    assert dav.put("/dir/m.txt", b"free").status == 204


def test_expired_lock_cannot_be_refreshed(dav: Dav) -> None:
    token = dav.locked("/f.txt", timeout="Second-60")
    dav.clock.advance(61)
    response = dav.request("LOCK", "/f.txt", headers={"If": f"(<{token}>)"})
    assert response.status == 412
    assert dav.manager.get(token) is None


def test_expired_lock_cannot_be_unlocked(dav: Dav) -> None:
    token = dav.locked("/f.txt", timeout="Second-60")
    dav.clock.advance(61)
    assert dav.unlock("/f.txt", token).status == 409


def test_expired_lock_no_longer_conflicts(dav: Dav) -> None:
    dav.locked("/f.txt", timeout="Second-60")
    dav.clock.advance(61)
    assert dav.lock("/f.txt").status == 200
    assert len(dav.manager.discover("/f.txt")) == 1


def test_expired_token_in_if_header_is_false(dav: Dav) -> None:
    token = dav.locked("/f.txt", timeout="Second-60")
    dav.clock.advance(61)
    response = dav.put("/f.txt", b"x", token=token)
    assert response.status == 412
    assert (dav.root / "f.txt").read_bytes() == b"hello"


def test_only_the_expired_of_several_locks_goes(dav: Dav) -> None:
    short = dav.locked("/f.txt", scope="shared", timeout="Second-10")
    long = dav.locked("/f.txt", scope="shared", timeout="Second-100")
    dav.clock.advance(11)
    tokens = [
        lock.findtext("D:locktoken/D:href", namespaces=NS) for lock in dav.lockdiscovery("/f.txt")
    ]
    assert tokens == [long]
    assert dav.manager.get(short) is None


def test_purge_removes_expired_locks_from_the_store(dav: Dav) -> None:
    dav.locked("/f.txt", timeout="Second-10")
    dav.locked("/dir/m.txt", timeout="Second-100")
    dav.clock.advance(11)
    assert dav.manager.purge_expired() == 1
    assert [lock.root for lock in dav.manager.locks_below("/")] == ["/dir/m.txt"]


def test_refreshed_lock_outlives_its_first_timeout(dav: Dav) -> None:
    token = dav.locked("/f.txt", timeout="Second-60")
    dav.clock.advance(50)
    refreshed = dav.request(
        "LOCK", "/f.txt", headers={"If": f"(<{token}>)", "Timeout": "Second-60"}
    )
    assert refreshed.status == 200
    timeout = xml(refreshed).findtext(".//D:activelock/D:timeout", namespaces=NS)
    assert timeout == "Second-60"
    dav.clock.advance(50)
    assert_423_submitted(dav.put("/f.txt"), "/f.txt")


def test_real_clock_expiry(tmp_path: Path) -> None:
    # Once with the real wall clock, the way the server runs: a 1 s lock.
    dav = Dav(tmp_path / "share", lock_timeout_default=1, lock_timeout_max=1)
    dav.app.manager.clock = time.time
    (dav.root / "f.txt").write_bytes(b"hello")
    dav.locked("/f.txt")
    assert dav.put("/f.txt").status == 423
    time.sleep(1.1)
    assert dav.lockdiscovery("/f.txt") == []
    assert dav.put("/f.txt", b"free").status == 204


def test_expiry_agrees_across_processes_sharing_a_store(tmp_path: Path) -> None:
    # Two apps on one SQLite store stand for two worker processes.
    root = tmp_path / "share"
    store = f"sqlite:///{tmp_path / 'locks.db'}"
    first = Dav(root, lock_store=store)
    second = Dav(root, lock_store=store)
    second.clock.now = first.clock.now
    (root / "f.txt").write_bytes(b"hello")
    first.locked("/f.txt", timeout="Second-60")
    assert_423_submitted(second.put("/f.txt"), "/f.txt")
    assert len(second.lockdiscovery("/f.txt")) == 1
    first.clock.advance(61)
    second.clock.advance(61)
    assert second.lockdiscovery("/f.txt") == []
    assert second.put("/f.txt", b"free").status == 204
    assert first.lockdiscovery("/f.txt") == []
