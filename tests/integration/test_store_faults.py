"""The lock store fails safe: every fault is 503 + Retry-After, files stay as they
were, one log line says what is wrong and what to do (the real application
in-process, on real SQLite files and a real redis-server).

What a user relies on: while the store is faulty nobody overwrites a locked
file, a DELETE does not remove a file whose locks cannot be forgotten, a LOCK
leaves no file behind, reads of files go on, and after a restart no lock has
silently vanished.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from davserver import cli
from davserver import config as davconfig
from davserver.errors import StartupError
from davserver.lockstore import health, sqlite_db, sqlite_files
from davserver.lockstore import redis as redis_store
from davserver.runtime.application import build_app
from tests.backends.faults import immutable, immutable_capable, loop_ext4, trigger_fs_error
from tests.integration.lock_helpers import Dav
from tests.integration.wsgi_client import Response
from tests.support.redis import RedisServer

CHECK_PAUSE = sqlite_files.CHECK_INTERVAL + 0.01
RECHECK_PAUSE = 0.06


@pytest.fixture(autouse=True)
def quick_recheck(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "RECHECK_INTERVAL", 0.05)


def start(root: Path, **options: object) -> Dav:
    dav = Dav(root, **{"store.url": "sqlite://", **options})
    dav.app.manager.clock = time.time  # the admin commands read real time
    (root / "doc.txt").write_bytes(b"v1")
    return dav


def db_files(dav: Dav) -> list[Path]:
    base = dav.root / ".davserver" / "locks.sqlite"
    return [base, Path(f"{base}-wal"), Path(f"{base}-shm")]


def store_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "davserver.lockstore" and r.levelno == logging.WARNING
    ]


def assert_503(response: Response) -> None:
    assert response.status == 503, (response.status, response.text)
    assert int(response.header("Retry-After") or 0) > 0


def assert_refused_and_unchanged(dav: Dav, token: str) -> None:
    """Everything that needs lock state is refused; no file changes."""
    assert_503(dav.put("/doc.txt", b"bob"))  # not 204: the lock cannot be checked
    assert_503(dav.put("/doc.txt", b"alice", token=token))
    assert_503(dav.request("DELETE", "/doc.txt", headers={"If": f"(<{token}>)"}))
    assert_503(dav.lock("/new.txt"))
    assert (dav.root / "doc.txt").read_bytes() == b"v1"
    assert not (dav.root / "new.txt").exists()
    assert dav.request("GET", "/doc.txt").body == b"v1"  # reading a file needs no lock


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    try:
        code = cli.main(list(args))
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_database_deleted_under_the_running_server(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    dav = start(tmp_path / "share")
    token = dav.locked("/doc.txt")
    for path in db_files(dav):
        path.unlink()
    time.sleep(CHECK_PAUSE)
    assert_refused_and_unchanged(dav, token)
    assert "confirm-store" in dav.put("/doc.txt", b"bob").text  # the fix, named
    warnings = store_warnings(caplog)
    assert len(warnings) == 1 and "deleted" in warnings[0] and "confirm-store" in warnings[0]
    assert not db_files(dav)[0].exists()  # no fresh empty database appeared
    state = str(dav.root / ".davserver")
    code, out = run_cli(capsys, "locks", "list", "--state-dir", state)
    assert code != 0 and "no active locks" not in out
    options = {"root": str(dav.root), "store.url": "sqlite://"}
    with pytest.raises(StartupError, match="confirm-store"):
        build_app(davconfig.load(None, options))  # a restart would lose every lock
    code, out = run_cli(capsys, "locks", "confirm-store", "--state-dir", state)
    assert code == 0, out
    time.sleep(RECHECK_PAUSE)
    assert dav.put("/doc.txt", b"bob").status == 204  # the admin accepted an empty store


def test_database_replaced_under_the_running_server(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dav = start(tmp_path / "share")
    token = dav.locked("/doc.txt")
    fresh = tmp_path / "fresh.sqlite"
    sqlite3.connect(fresh).close()
    os.replace(fresh, db_files(dav)[0])
    assert_503(dav.lock("/other.txt"))  # a write: refused at once
    time.sleep(CHECK_PAUSE)
    assert_refused_and_unchanged(dav, token)
    assert any("replaced" in message for message in store_warnings(caplog))


@pytest.fixture
def capable(tmp_path: Path) -> Iterator[Path]:
    with immutable_capable(tmp_path / "state") as folder:
        yield folder


@pytest.mark.e2e
def test_immutable_database_files(capable: Path, caplog: pytest.LogCaptureFixture) -> None:
    dav = start(capable.parent / "share", state_dir=str(capable))
    token = dav.locked("/doc.txt")
    base = capable / "locks.sqlite"
    with immutable(base, Path(f"{base}-wal"), Path(f"{base}-shm")):
        time.sleep(CHECK_PAUSE)
        assert_refused_and_unchanged(dav, token)  # and no SIGBUS: pytest is still here
        warnings = store_warnings(caplog)
        assert len(warnings) == 1 and "immutable" in warnings[0]
    time.sleep(RECHECK_PAUSE)
    assert dav.put("/doc.txt", b"bob").status == 423  # the lock survived
    assert dav.put("/doc.txt", b"alice", token=token).status == 204


@pytest.mark.e2e
def test_failing_disk_under_the_database(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with loop_ext4(tmp_path / "state") as state:
        dav = start(tmp_path / "share", state_dir=str(state))
        token = dav.locked("/doc.txt")
        trigger_fs_error(state)  # ext4 refuses writes from now on (errors=remount-ro)
        response = dav.request("DELETE", "/doc.txt", headers={"If": f"(<{token}>)"})
        assert_503(response)
        assert (dav.root / "doc.txt").read_bytes() == b"v1"  # not deleted, lock not orphaned
        assert_refused_and_unchanged(dav, token)
        assert len(store_warnings(caplog)) == 1
        dav.app.close()


def test_busy_database_refuses_a_lock_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sqlite_db, "BUSY_TIMEOUT_MS", 100)
    dav = start(tmp_path / "share")
    other = sqlite3.connect(db_files(dav)[0], isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # e.g. a long admin command in another process
    try:
        assert_503(dav.lock("/new.txt"))
        assert not (dav.root / "new.txt").exists()  # the file made first is gone again
        before = (dav.root / "doc.txt").read_bytes()
        # A write's lock check is held with its commit, in a write transaction (RFC 4918
        # §7: a LOCK granted meanwhile must win), so a PUT waits too: 503, unchanged.
        assert_503(dav.put("/doc.txt", b"v2"))
        assert (dav.root / "doc.txt").read_bytes() == before
        assert dav.request("GET", "/doc.txt").status == 200  # reads are not blocked
        assert any("busy" in message for message in store_warnings(caplog))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert dav.lock("/new.txt").status == 201  # transient: no re-check to wait for


def test_corrupt_lock_record(tmp_path: Path) -> None:
    dav = start(tmp_path / "share")
    token = dav.locked("/doc.txt")
    with sqlite3.connect(db_files(dav)[0]) as conn:
        conn.execute("UPDATE locks SET data = '{broken' WHERE token = ?", (token,))
    assert_503(dav.put("/doc.txt", b"bob"))
    assert (dav.root / "doc.txt").read_bytes() == b"v1"


@pytest.fixture
def volatile_redis(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis", persistence="none") as server:
        yield server


def test_redis_restarted_empty(
    tmp_path: Path,
    volatile_redis: RedisServer,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = volatile_redis.url
    dav = start(tmp_path / "share", lock_store=url, lock_store_volatile_ok=True)
    token = dav.locked("/doc.txt")
    volatile_redis.stop()
    volatile_redis.start()  # without persistence: every lock is gone
    assert_refused_and_unchanged(dav, token)  # bob does not overwrite alice's file
    assert "confirm-store" in dav.put("/doc.txt", b"bob").text
    lost = [message for message in store_warnings(caplog) if "lost" in message]
    assert len(lost) == 1 and "confirm-store" in lost[0]
    code, out = run_cli(capsys, "locks", "confirm-store", "--lock-store", url)
    assert code == 0, out
    time.sleep(RECHECK_PAUSE)
    assert dav.put("/doc.txt", b"bob").status == 204


def test_redis_refusing_writes_changes_no_file(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis") as server:
        dav = start(tmp_path / "share", lock_store=server.url)
        token = dav.locked("/doc.txt")
        admin, _ = redis_store.connect(server.url)
        admin.config_set("min-replicas-to-write", 1)  # every write: NOREPLICAS
        submitted = {"If": f"(<{token}>)"}
        assert_503(dav.request("DELETE", "/doc.txt", headers=submitted))
        for method, name in (("MOVE", "moved.txt"), ("COPY", "copy.txt")):
            headers = {**submitted, "Destination": f"http://localhost/{name}"}
            assert_503(dav.request(method, "/doc.txt", headers=headers))
            assert not (dav.root / name).exists()
        assert (dav.root / "doc.txt").read_bytes() == b"v1"
        admin.config_set("min-replicas-to-write", 0)
        time.sleep(RECHECK_PAUSE)
        assert dav.put("/doc.txt", b"bob").status == 423  # the lock is still there
        admin.close()
        dav.app.close()
