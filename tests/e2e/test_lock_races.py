"""A lock taken while a long COPY or MOVE runs wins, against a real server with two
workers, on SQLite and on Redis (RFC 4918 §7).

Each race is made deterministic by waiting for the operation's own hidden names on
disk: bob's COPY is *staging* while ``.davserver-copy-*`` exists beside the
destination, so alice acts then (LOCK + PUT, or a DELETE of the source) and the
trial counts only if the staging name is still there once she is done — her
change certainly came before bob's install.  Nothing sleeps to synchronise; every
wait polls against a deadline.  A trial that bob won anyway (he was faster than
the poll) is repeated with a bigger tree, so a slow or fast machine changes the
sizes, never the verdict.

After the races each server is stopped and started again on the same root and
store: it must start and serve, with no hidden names left behind.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from lxml import etree

from tests.support.redis import RedisServer
from tests.support.server import ServerProcess
from tests.support.serveruser import give_to_server

pytestmark = pytest.mark.e2e

TRIALS = 3  # valid trials per scenario and store
ATTEMPTS = 6  # trials bob may win before the test gives up (each doubles the tree)
FILES = 2000  # files of the first tree; doubled after a trial bob won
ALICE = b"alice's bytes, which must survive"
LOCKINFO = (
    b'<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
    b"</D:lockscope><D:locktype><D:write/></D:locktype><D:owner>alice</D:owner></D:lockinfo>"
)
DISCOVERY = b'<D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>'
_names = itertools.count()


@dataclass
class Served:
    root: Path
    args: list[str]
    server: ServerProcess

    def url(self, path: str) -> str:
        return self.server.url + path.lstrip("/")


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    root = tmp_path_factory.mktemp(f"races-{request.param}") / "share"
    root.mkdir()
    give_to_server(root)
    args = ["--workers", "2"]
    with private_redis(request.param, tmp_path_factory) as url:
        if url:
            args += ["--lock-store", url]
        served = Served(root, args, ServerProcess(root, args).start())
        try:
            yield served
        finally:
            served.server.stop(timeout=5)  # the one running now (the last test restarts it)


@contextlib.contextmanager
def private_redis(store: str, factory: pytest.TempPathFactory) -> Iterator[str | None]:
    """A private redis-server for the Redis store, nothing for SQLite."""
    if store != "redis":
        yield None
        return
    with RedisServer(factory.mktemp("redis")) as redis:
        yield redis.url


def make_tree(top: Path, files: int, special: str = "sub/x.txt") -> Path:
    """``files`` small files in folders of 100, plus ``special``; the server's own."""
    for n in range(files):
        folder = top / f"d{n // 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{n:05d}.txt").write_bytes(b"bob %d" % n)
    (top / special).parent.mkdir(parents=True, exist_ok=True)
    (top / special).write_bytes(b"bob's version")
    return give_to_server(top)


def make_links(top: Path, links: int) -> Path:
    """A tree of ``links`` hard links to one file (quick to make, as slow to remove as
    as many files), plus ``sub/x.txt``; the server's own."""
    make_tree(top, 1)
    for n in range(links):
        folder = top / f"l{n // 500:03d}"
        if n % 500 == 0:
            folder.mkdir()
            first = folder / "first"
            first.write_bytes(b"linked")
        os.link(first, folder / f"{n:06d}")
    return give_to_server(top)


def hidden(parent: Path, prefix: str) -> bool:
    try:
        return any(p.name.startswith(prefix) for p in parent.iterdir())
    except FileNotFoundError:
        return False


def leftovers(root: Path, *trees: Path) -> list[str]:
    """Hidden names beside the trials' trees (where the server makes them) and in
    ``trees``; not a walk of the whole share, which holds every trial's trees."""
    found = [p for p in root.iterdir() if p.name.startswith(".davserver-")]
    for tree in trees:
        found += tree.rglob(".davserver-*") if tree.is_dir() else []
    return [str(p) for p in found]


class Background(threading.Thread):
    """Bob's request, answered in another thread."""

    def __init__(self, send: Callable[[], requests.Response]) -> None:
        super().__init__(daemon=True)
        self.send = send
        self.answer: requests.Response | None = None
        self.start()

    def run(self) -> None:
        self.answer = self.send()

    def result(self) -> requests.Response:
        self.join(120)
        assert self.answer is not None, "bob's request never finished"
        return self.answer


def race(
    bob: Callable[[], requests.Response],
    watch: Path,
    prefix: str,
    alice: Callable[[], tuple[Any, bool]],
) -> tuple[requests.Response, Any] | None:
    """Start ``bob``; once ``prefix`` exists in ``watch`` run ``alice``, which says
    whether her change certainly came first.  None when it did not (the trial does not
    count)."""
    running = Background(bob)
    deadline = time.monotonic() + 60
    while not hidden(watch, prefix):
        if not running.is_alive() or time.monotonic() > deadline:
            running.result()
            return None
        time.sleep(0.002)
    done, first = alice()
    answer = running.result()
    return (answer, done) if first else None


def before(watch: Path, prefix: str, act: Callable[[], Any]) -> Callable[[], tuple[Any, bool]]:
    """``act``, which came first if ``prefix`` is still in ``watch`` once it is done."""
    return lambda: (act(), hidden(watch, prefix))


def lock_and_write(served: Served, path: str) -> str:
    answer = requests.request(
        "LOCK", served.url(path), data=LOCKINFO, headers={"Depth": "0"}, timeout=30
    )
    assert answer.status_code in (200, 201), answer.text
    token = answer.headers["Lock-Token"].strip("<>")
    put = requests.put(served.url(path), data=ALICE, headers={"If": f"(<{token}>)"}, timeout=30)
    assert put.status_code in (201, 204), put.text
    return token


def discovered(served: Served, path: str) -> list[str]:
    answer = requests.request(
        "PROPFIND", served.url(path), data=DISCOVERY, headers={"Depth": "0"}, timeout=30
    )
    assert answer.status_code == 207, answer.text
    tree = etree.fromstring(answer.content)
    return [h.text or "" for e in tree.iter("{DAV:}locktoken") for h in e.iter("{DAV:}href")]


def assert_alice_kept_everything(served: Served, path: str, token: str) -> None:
    top = served.root / path.lstrip("/").split("/")[0]
    assert (served.root / path.lstrip("/")).read_bytes() == ALICE
    assert token in discovered(served, path)
    again = requests.put(served.url(path), data=b"more", headers={"If": f"(<{token}>)"}, timeout=30)
    assert again.status_code == 204, again.text
    assert leftovers(served.root, top) == []


def trials(run: Callable[[int], bool]) -> None:
    """``TRIALS`` valid trials of ``run(files)``, doubling the tree after one bob won."""
    valid, files = 0, FILES
    for _ in range(TRIALS + ATTEMPTS):
        if run(files):
            valid += 1
            if valid == TRIALS:
                return
        else:
            print(f"bob won a trial with {files} files; doubling the tree")
            files *= 2
    pytest.fail(f"only {valid} of {TRIALS} trials had alice act during the operation")


def copy_race(served: Served, *, existing: bool, files: int) -> bool:
    n = next(_names)
    make_tree(served.root / f"src{n}", files)
    dest = f"/dest{n}"
    if existing:
        make_tree(served.root / dest.lstrip("/"), 10)
    path = f"{dest}/sub/x.txt" if existing else dest

    def bob() -> requests.Response:
        headers = {"Destination": served.url(dest), "Overwrite": "T"}
        return requests.request("COPY", served.url(f"/src{n}"), headers=headers, timeout=120)

    alice = before(served.root, ".davserver-copy-", lambda: lock_and_write(served, path))
    outcome = race(bob, served.root, ".davserver-copy-", alice)
    shutil.rmtree(served.root / f"src{n}")  # keeps the share small for the next trials
    if outcome is None:
        shutil.rmtree(served.root / dest.lstrip("/"), ignore_errors=True)
        return False
    answer, token = outcome
    assert answer.status_code == 423, (answer.status_code, answer.text)
    assert path in answer.text  # DAV:lock-token-submitted names alice's lock
    assert_alice_kept_everything(served, path, token)
    return True


def test_copy_over_a_tree_loses_to_a_lock_taken_meanwhile(served: Served) -> None:
    trials(lambda files: copy_race(served, existing=True, files=files))


def test_copy_to_a_new_destination_loses_to_a_lock_taken_meanwhile(served: Served) -> None:
    trials(lambda files: copy_race(served, existing=False, files=files))


def test_copy_of_one_big_file_loses_to_a_lock_taken_meanwhile(served: Served) -> None:
    def run(files: int) -> bool:
        n = next(_names)
        big = served.root / f"big{n}.bin"
        with big.open("wb") as out:
            out.truncate(files * 50_000)  # 100 MB at first: sparse, copied in full
        give_to_server(big)
        target = served.root / f"target{n}.bin"
        target.write_bytes(b"old")
        give_to_server(target)

        def bob() -> requests.Response:
            headers = {"Destination": served.url(target.name)}
            return requests.request("COPY", served.url(big.name), headers=headers, timeout=120)

        alice = before(
            served.root, ".davserver-copy-", lambda: lock_and_write(served, f"/{target.name}")
        )
        outcome = race(bob, served.root, ".davserver-copy-", alice)
        big.unlink()
        if outcome is None:
            return False
        answer, token = outcome
        assert answer.status_code == 423, (answer.status_code, answer.text)
        assert_alice_kept_everything(served, f"/{target.name}", token)
        return True

    trials(run)


def test_move_keeps_a_lock_taken_on_the_moved_tree_while_the_old_one_is_removed(
    served: Served,
) -> None:
    """MOVE over a big tree: the old tree is removed after the rename; a LOCK on the
    moved tree then must not be forgotten with the old tree's locks."""

    def run(files: int) -> bool:
        n = next(_names)
        make_tree(served.root / f"msrc{n}", 10)
        make_links(served.root / f"mdest{n}", files * 80)  # removed faster than copied
        path = f"/mdest{n}/sub/x.txt"

        def bob() -> requests.Response:
            headers = {"Destination": served.url(f"/mdest{n}"), "Overwrite": "T"}
            return requests.request("MOVE", served.url(f"/msrc{n}"), headers=headers, timeout=120)

        def alice() -> tuple[str, bool]:
            """Her LOCK came before bob forgot the old tree's locks if the old tree was
            still being removed once she had it (her PUT may follow later)."""
            answer = requests.request(
                "LOCK", served.url(path), data=LOCKINFO, headers={"Depth": "0"}, timeout=30
            )
            first = hidden(served.root, ".davserver-trash-")
            assert answer.status_code == 200, answer.text
            token = answer.headers["Lock-Token"].strip("<>")
            headers = {"If": f"(<{token}>)"}
            put = requests.put(served.url(path), data=ALICE, headers=headers, timeout=30)
            assert put.status_code == 204, put.text
            return token, first

        outcome = race(bob, served.root, ".davserver-trash-", alice)
        if outcome is None:
            return False
        answer, token = outcome
        assert answer.status_code == 204, (answer.status_code, answer.text)
        assert_alice_kept_everything(served, path, token)
        return True

    trials(run)


def test_copy_whose_source_is_deleted_meanwhile_is_409_never_a_partial_201(
    served: Served,
) -> None:
    def run(files: int) -> bool:
        n = next(_names)
        make_tree(served.root / f"gone{n}", files)
        dest = f"/copied{n}"

        def bob() -> requests.Response:
            headers = {"Destination": served.url(dest)}
            return requests.request("COPY", served.url(f"/gone{n}"), headers=headers, timeout=120)

        def alice() -> tuple[int, bool]:
            """The DELETE; it came first if the source left the view while bob's copy
            was still staged (the DELETE goes on removing the tree after that)."""
            deleting = Background(lambda: requests.delete(served.url(f"/gone{n}"), timeout=120))
            while (served.root / f"gone{n}").exists() and deleting.is_alive():
                time.sleep(0.002)
            first = hidden(served.root, ".davserver-copy-")
            return deleting.result().status_code, first

        outcome = race(bob, served.root, ".davserver-copy-", alice)
        if outcome is None:
            return False
        answer, deleted = outcome
        assert deleted == 204
        assert answer.status_code == 409, (answer.status_code, answer.text)
        assert not (served.root / dest.lstrip("/")).exists()
        assert leftovers(served.root) == []
        return True

    trials(run)


def test_zz_the_server_starts_again_and_serves(served: Served) -> None:
    served.server.stop(timeout=10)
    with ServerProcess(served.root, served.args) as again:
        assert requests.options(again.url, timeout=10).status_code == 200
        listing = requests.request("PROPFIND", again.url, headers={"Depth": "1"}, timeout=30)
        assert listing.status_code == 207
        assert b".davserver-" not in listing.content
        assert leftovers(served.root) == []
        for path in served.root.glob("dest*/sub/x.txt"):
            answer = requests.get(again.url + str(path.relative_to(served.root)), timeout=10)
            assert answer.content == b"more"  # alice's last write, with her token
    served.server = ServerProcess(served.root, served.args).start()  # for the fixture to stop
