"""The lock store fails safe, with real server processes.

* kill -9 during a storm of LOCKs on unmapped URLs (Timeout: Infinite allowed):
  after a restart no lock is left without its file — such a lock would answer
  423 to every PUT there, for ever;
* the database files made immutable under a running server: 503, and the
  process lives (without the guard it dies of SIGBUS, without a log line);
* the database deleted under a running server: 503, the admin listing says so,
  and a restart is refused until ``davserver locks confirm-store``;
* Redis without persistence: refused at start; restarted empty: 503 until
  ``davserver locks confirm-store``.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.backends.faults import immutable, immutable_capable
from tests.support.redis import RedisServer
from tests.support.server import ServerProcess, run_davserver
from tests.support.serveruser import give_to_server

pytestmark = pytest.mark.e2e

LOCKINFO = (
    b'<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
    b"</D:lockscope><D:locktype><D:write/></D:locktype><D:owner>storm</D:owner></D:lockinfo>"
)
TRIALS = 24
STORM_THREADS = 8


def lock(url: str, timeout: str = "Infinite") -> requests.Response:
    headers = {"Timeout": timeout, "Depth": "0"}
    return requests.request("LOCK", url, data=LOCKINFO, headers=headers, timeout=30)


def storm(base: str, trial: int, stop: threading.Event, tried: list[str]) -> None:
    """LOCK fresh unmapped URLs as fast as possible until the server dies."""

    def client(index: int) -> None:
        with requests.Session() as session:
            for n in range(10_000):
                if stop.is_set():
                    return
                name = f"storm-{trial}-{index}-{n}.txt"
                tried.append(name)
                try:
                    session.request(
                        "LOCK",
                        base + name,
                        data=LOCKINFO,
                        timeout=5,
                        headers={"Timeout": "Infinite", "Depth": "0"},
                    )
                except requests.RequestException:
                    return  # the server was killed

    threads = [threading.Thread(target=client, args=(i,)) for i in range(STORM_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def lock_roots(database: Path) -> set[str]:
    with sqlite3.connect(database) as conn:
        return {root for (root,) in conn.execute("SELECT root FROM locks")}


def test_kill_during_a_lock_storm_leaves_no_lock_without_its_file(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    config = tmp_path / "davserver.yaml"
    config.write_text("lock_allow_infinite: true\n")
    args = ["--config", str(config), "--workers", "1", "--log-level", "error"]
    database = root / ".davserver" / "locks.sqlite"
    rng = random.Random(4918)
    tried: list[str] = []
    killed_with_locks = 0
    for trial in range(TRIALS):
        server = ServerProcess(root, args).start()
        stop = threading.Event()
        runner = threading.Thread(target=storm, args=(server.url, trial, stop, tried))
        runner.start()
        time.sleep(rng.uniform(0.05, 0.6))
        server.kill()  # SIGKILL, in the middle of LOCKs
        stop.set()
        runner.join()
        roots = lock_roots(database)
        missing = sorted(r for r in roots if not (root / r.lstrip("/")).exists())
        assert missing == [], f"trial {trial}: locks without their file: {missing[:5]}"
        killed_with_locks += bool(roots)
    assert killed_with_locks >= TRIALS // 2  # the storms really took locks
    with ServerProcess(root, args) as server:
        listed = run_davserver("locks", "list", "--json", "--state-dir", str(database.parent))
        assert listed.returncode == 0, listed.stderr
        for line in listed.stdout.splitlines():
            assert (root / json.loads(line)["root"].lstrip("/")).is_file()
        for name in rng.sample(tried, min(200, len(tried))):
            if not (root / name).exists():  # never created: nothing may block it
                answer = requests.put(server.url + name, data=b"x", timeout=10)
                assert answer.status_code == 201, (name, answer.status_code)


def test_immutable_database_files_do_not_kill_the_server(tmp_path: Path) -> None:
    with immutable_capable(tmp_path / "db") as folder:
        give_to_server(folder)  # the server's user makes its database there
        root = tmp_path / "share"
        root.mkdir()
        (root / "doc.txt").write_bytes(b"v1")
        database = folder / "locks.sqlite"
        args = ["--lock-store", f"sqlite://{database}", "--workers", "1"]
        with ServerProcess(root, args) as server:
            url = server.url + "doc.txt"
            token = lock(url, "Second-600").headers["Lock-Token"].strip("<>")
            files = (database, Path(f"{database}-wal"), Path(f"{database}-shm"))
            with immutable(*files):
                time.sleep(0.1)
                for attempt in range(3):
                    for answer in (
                        requests.put(url, data=b"bob", timeout=10),
                        requests.delete(url, headers={"If": f"(<{token}>)"}, timeout=10),
                        lock(server.url + f"new-{attempt}.txt"),
                    ):
                        assert answer.status_code == 503, answer.text
                        assert int(answer.headers["Retry-After"]) > 0
                assert server.proc is not None and server.proc.poll() is None  # alive
                assert (root / "doc.txt").read_bytes() == b"v1"
                assert not (root / "new-0.txt").exists()
            time.sleep(1.2)  # the next re-check finds the files writable again
            answer = requests.put(url, data=b"alice", headers={"If": f"(<{token}>)"}, timeout=10)
            assert answer.status_code == 204
            log = server.stderr()
        assert log.count("WARNING davserver.lockstore") == 1, log
        assert "immutable" in log


def test_deleted_database_then_restart_is_refused_until_confirmed(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    (root / "doc.txt").write_bytes(b"v1")
    state = root / ".davserver"
    with ServerProcess(root, ["--workers", "1"]) as server:
        url = server.url + "doc.txt"
        assert lock(url, "Second-600").status_code == 200
        for suffix in ("", "-wal", "-shm"):
            Path(f"{state / 'locks.sqlite'}{suffix}").unlink()
        time.sleep(0.1)
        answer = requests.put(url, data=b"bob", timeout=10)
        assert answer.status_code == 503 and "confirm-store" in answer.text
        listed = run_davserver("locks", "list", "--state-dir", str(state))
        assert listed.returncode != 0 and "no active locks" not in listed.stdout
    assert (root / "doc.txt").read_bytes() == b"v1"
    refused = run_davserver("serve", str(root), "--port", "0", timeout=30)
    assert refused.returncode == 1 and "confirm-store" in refused.stderr
    assert not (state / "locks.sqlite").exists()
    confirmed = run_davserver("locks", "confirm-store", "--state-dir", str(state))
    assert confirmed.returncode == 0, confirmed.stderr
    with ServerProcess(root, ["--workers", "1"]) as server:
        assert requests.put(server.url + "doc.txt", data=b"v2", timeout=10).status_code == 204


def test_redis_without_persistence_and_restarted_empty(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    (root / "doc.txt").write_bytes(b"v1")
    with RedisServer(tmp_path / "redis", persistence="none") as redis:
        refused = run_davserver(
            "serve", str(root), "--port", "0", "--lock-store", redis.url, timeout=30
        )
        assert refused.returncode == 1 and "store.volatile_ok" in refused.stderr
        config = tmp_path / "davserver.yaml"
        config.write_text(f"lock_store: {redis.url}\nlock_store_volatile_ok: true\n")
        with ServerProcess(root, ["--config", str(config), "--workers", "1"]) as server:
            url = server.url + "doc.txt"
            assert lock(url, "Second-600").status_code == 200
            redis.stop()
            redis.start()  # every lock is gone
            answer = requests.put(url, data=b"bob", timeout=10)
            assert answer.status_code == 503, answer.text
            assert "confirm-store" in answer.text
            assert (root / "doc.txt").read_bytes() == b"v1"
            confirmed = run_davserver("locks", "confirm-store", "--lock-store", redis.url)
            assert confirmed.returncode == 0, confirmed.stderr
            time.sleep(1.2)
            assert requests.put(url, data=b"bob", timeout=10).status_code == 204
            log = server.stderr()
        assert "confirm-store" in log and "WARNING davserver.lockstore" in log
