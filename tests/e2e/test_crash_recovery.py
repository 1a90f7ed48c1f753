"""kill -9 at random moments of a COPY, a MOVE over a tree, a DELETE and a PUT; restart.

After every restart each tree is entirely old or entirely new, nothing half
copied is visible, no hidden name is left, and the log of the restarted server
says what it finished or rolled back — one line per leftover the crash made.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from davserver.fs.trees import remove_tree
from davserver.fs.uploads import is_temp_name
from tests.support.server import ServerProcess
from tests.support.serveruser import give_to_server

pytestmark = pytest.mark.e2e

TRIALS = 20
MAX_TRIALS = 80  # trials at most, while fewer than LANDED kills landed inside the request
LANDED = 4
FILES = 2000  # the COPY measured before the rewrite
SMALLER = 1000  # MOVE and DELETE: every trial builds its trees afresh
ARGS = ["--workers", "1"]
Snapshot = dict[str, bytes | None] | None


def snapshot(top: Path) -> Snapshot:
    """Every name below ``top`` with its content's digest (None for folders)."""
    if not top.exists():
        return None
    found: dict[str, bytes | None] = {}
    for path in top.rglob("*"):
        digest = None if path.is_dir() else hashlib.sha1(path.read_bytes()).digest()
        found[str(path.relative_to(top))] = digest
    return found


def make_tree(top: Path, tag: str, files: int) -> None:
    """``files`` files in folders of 100, each with its own content."""
    for i in range(files):
        folder = top / f"part{i // 100:02d}"
        if i % 100 == 0:
            folder.mkdir(parents=True)
        (folder / f"file{i:04d}.txt").write_text(f"{tag} {i} " * 20)
    give_to_server(top)  # as if the server's user had made it (tests run as root)


def leftovers(root: Path) -> list[Path]:
    """Hidden names outside the state directory (not below other hidden names)."""
    found = []
    pending = [root]
    while pending:
        for path in pending.pop().iterdir():
            if is_temp_name(path.name):
                found.append(path)
            elif path.is_dir() and not path.is_symlink() and path.name != ".davserver":
                pending.append(path)
    return found


def recovery_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if "recovery: finished" in line] + [
        line for line in log.splitlines() if "recovery: rolled back" in line
    ]


@dataclass
class Crashes:
    """One server on one root, killed and restarted over and over."""

    root: Path
    server: ServerProcess = field(init=False)
    interrupted: int = 0  # trials that left something to recover

    def __post_init__(self) -> None:
        self.server = ServerProcess(self.root, ARGS).start()

    def timed(self, send: Callable[[str], int]) -> float:
        """One uninterrupted run: how long the request takes."""
        started = time.monotonic()
        assert send(self.server.url) < 300
        return time.monotonic() - started

    def trial(self, send: Callable[[str], int], delay: float) -> tuple[list[Path], list[str]]:
        """Send, kill -9 after ``delay`` seconds, restart; the leftovers the crash made
        and the recovery lines of the restarted server."""
        url = self.server.url
        thread = threading.Thread(target=_quietly, args=(send, url))
        thread.start()
        time.sleep(delay)
        self.server.kill()
        thread.join(30)
        found = leftovers(self.root)
        self.interrupted += bool(found)
        self.server = ServerProcess(self.root, ARGS).start()
        log = self.server.stderr()
        assert leftovers(self.root) == [], "recovery must leave no hidden name"
        lines = recovery_lines(log)
        assert len(lines) == len(found), (found, log)
        return found, lines

    def close(self) -> None:
        self.server.stop()


def _quietly(send: Callable[[str], int], url: str) -> None:
    with contextlib.suppress(requests.RequestException):  # the server was killed under it
        send(url)


@pytest.fixture
def crashes(tmp_path: Path) -> Iterator[Crashes]:
    root = tmp_path / "share"
    root.mkdir()
    running = Crashes(root)
    yield running
    running.close()


def reset(root: Path, *names: str) -> None:
    for name in names:
        if (root / name).exists():
            remove_tree(str(root / name))


def delays(crashes: Crashes, duration: float) -> Iterator[float]:
    """Random moments from just after the request starts to a bit after it ends:
    ``TRIALS`` of them, and more (up to ``MAX_TRIALS``) until ``LANDED`` kills have
    landed inside the request.  How long a request takes varies with the machine's
    load, so a fixed number of random kills could all miss it now and then."""
    rng = random.Random()
    tried = 0
    while tried < TRIALS or (crashes.interrupted < LANDED and tried < MAX_TRIALS):
        first = tried < TRIALS  # past them, aim inside the request only
        yield rng.uniform(0.0, duration * (1.3 if first else 1.0))
        tried += 1


def request(method: str, path: str, **headers: str) -> Callable[[str], int]:
    def send(url: str) -> int:
        answer = requests.request(method, url + path.lstrip("/"), headers=headers, timeout=120)
        return answer.status_code

    return send


def test_copy_of_a_tree_over_a_tree(crashes: Crashes) -> None:
    root = crashes.root
    make_tree(root / "src", "new", FILES)
    new = snapshot(root / "src")

    def setup() -> None:
        reset(root, "dst")
        make_tree(root / "dst", "old", FILES // 2)

    setup()
    old = snapshot(root / "dst")
    duration = crashes.timed(request("COPY", "/src", Destination="/dst"))
    for delay in delays(crashes, duration):
        setup()
        _found, lines = crashes.trial(request("COPY", "/src", Destination="/dst"), delay)
        state = snapshot(root / "dst")
        assert state in (old, new), "half a copy is visible"
        assert snapshot(root / "src") == new
        for line in lines:  # what it says agrees with what there is
            assert ("finished a COPY" in line) == (state == new), line
    assert crashes.interrupted >= LANDED, "too few kills landed inside the COPY"


def test_move_of_a_tree_over_a_tree(crashes: Crashes) -> None:
    root = crashes.root

    def setup() -> None:
        reset(root, "src", "dst")
        make_tree(root / "src", "new", SMALLER)
        make_tree(root / "dst", "old", SMALLER)

    setup()
    new, old = snapshot(root / "src"), snapshot(root / "dst")
    duration = crashes.timed(request("MOVE", "/src", Destination="/dst"))
    for delay in delays(crashes, duration):
        setup()
        _found, lines = crashes.trial(request("MOVE", "/src", Destination="/dst"), delay)
        source, dest = snapshot(root / "src"), snapshot(root / "dst")
        assert (source, dest) in ((new, old), (None, new)), "the MOVE is half done"
        for line in lines:
            assert ("finished a MOVE" in line) == (dest == new), line
    assert crashes.interrupted >= LANDED, "too few kills landed inside the MOVE"


def test_delete_of_a_tree(crashes: Crashes) -> None:
    root = crashes.root

    def setup() -> None:
        reset(root, "tree")
        make_tree(root / "tree", "t", SMALLER)

    setup()
    whole = snapshot(root / "tree")
    duration = crashes.timed(request("DELETE", "/tree"))
    for delay in delays(crashes, duration):
        setup()
        _found, lines = crashes.trial(request("DELETE", "/tree"), delay)
        state = snapshot(root / "tree")
        assert state in (whole, None), "the tree is half deleted"
        for line in lines:  # cut short before the tree moved out of view: rolled back
            assert "a DELETE in the root" in line, line
            assert ("finished a DELETE" in line) == (state is None), line
    assert crashes.interrupted >= LANDED, "too few kills landed inside the DELETE"


def test_put(crashes: Crashes) -> None:
    root = crashes.root
    old, new = os.urandom(1 << 20), os.urandom(48 << 20)

    def setup() -> None:
        (root / "doc.bin").write_bytes(old)

    def put(url: str) -> int:
        return requests.put(url + "doc.bin", data=new, timeout=120).status_code

    setup()
    duration = crashes.timed(put)
    for delay in delays(crashes, duration):
        setup()
        _found, lines = crashes.trial(put, delay)
        assert (root / "doc.bin").read_bytes() in (old, new)
        assert all("rolled back an unfinished upload in the root" in line for line in lines)
    assert crashes.interrupted >= LANDED, "too few kills landed inside the PUT"
