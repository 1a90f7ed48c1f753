"""A folder swapped for a symbolic link and back, as fast as possible, for 20 seconds,
while clients GET, PUT, PROPFIND, COPY and DELETE through it: nothing outside the
root is ever read or written, and no temporary file is left outside."""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from davserver.fs.containment import exchange
from davserver.fs.uploads import is_temp_name
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

SECONDS = 20.0
SECRET = b"SECRET-OUTSIDE-THE-ROOT"
INSIDE = b"inside the root"
PROPFIND = b'<D:propfind xmlns:D="DAV:"><D:prop><D:getcontentlength/></D:prop></D:propfind>'


def contents(top: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(top)): None if p.is_dir() else p.read_bytes()
        for p in sorted(top.rglob("*"))
    }


class Race:
    """``root/swap`` is a folder, or (exchanged with ``holder``) a link to ``outside``."""

    def __init__(self, tmp_path: Path):
        self.root = tmp_path / "share"
        self.outside = tmp_path / "outside"
        self.holder_dir = tmp_path / "holder"
        for folder in (self.root / "swap" / "sub", self.outside / "sub", self.holder_dir):
            folder.mkdir(parents=True)
        for top, content in ((self.root / "swap", INSIDE), (self.outside, SECRET)):
            (top / "inside.txt").write_bytes(content)
            (top / "victim.txt").write_bytes(content)
            (top / "sub" / "deep.txt").write_bytes(content)
        (self.outside / "secret-only.txt").write_bytes(SECRET)
        (self.root / "local.txt").write_bytes(INSIDE)
        (self.root / "copies").mkdir()
        (self.holder_dir / "swap").symlink_to(self.outside)
        self.before = contents(self.outside)
        self.stop = threading.Event()
        self.swaps = 0
        self.leaks: list[str] = []
        self.statuses: dict[str, collections.Counter[int]] = collections.defaultdict(
            collections.Counter
        )

    def swapper(self) -> None:
        """Exchange the folder and the link in one step, over and over; ends as a folder."""
        root_fd = os.open(self.root, os.O_PATH | os.O_DIRECTORY)
        holder_fd = os.open(self.holder_dir, os.O_PATH | os.O_DIRECTORY)
        try:
            while not self.stop.is_set():
                assert exchange(root_fd, "swap", holder_fd, "swap")
                self.swaps += 1
                time.sleep(0.0005)
            if (self.root / "swap").is_symlink():
                assert exchange(root_fd, "swap", holder_fd, "swap")
        finally:
            os.close(root_fd)
            os.close(holder_fd)

    def client(self, url: str, name: str, work: Callable[[requests.Session, str, int], None]):
        def loop() -> None:
            with requests.Session() as session:
                n = 0
                while not self.stop.is_set():
                    n += 1
                    try:
                        work(session, url, n)
                    except requests.RequestException as exc:
                        self.leaks.append(f"{name}: {exc}")

        return threading.Thread(target=loop, name=name)

    def record(self, what: str, answer: requests.Response) -> None:
        self.statuses[what][answer.status_code] += 1
        if SECRET in answer.content or b"secret-only" in answer.content:
            self.leaks.append(f"{what} {answer.status_code} answered outside content")


def get(race: Race) -> Callable[[requests.Session, str, int], None]:
    def work(session: requests.Session, url: str, n: int) -> None:
        path = ("swap/inside.txt", "swap/sub/deep.txt")[n % 2]
        race.record("GET", session.get(url + path, timeout=30))

    return work


def put(race: Race) -> Callable[[requests.Session, str, int], None]:
    def work(session: requests.Session, url: str, n: int) -> None:
        path = ("swap/up-%d.txt", "swap/sub/up-%d.txt", "swap/inside.txt")[n % 3]
        path = path % n if "%" in path else path
        race.record("PUT", session.put(url + path, data=INSIDE * 1000, timeout=30))

    return work


def propfind(race: Race) -> Callable[[requests.Session, str, int], None]:
    def work(session: requests.Session, url: str, n: int) -> None:
        depth = ("1", "infinity")[n % 2]
        answer = session.request(
            "PROPFIND", url + "swap/", data=PROPFIND, headers={"Depth": depth}, timeout=30
        )
        race.record("PROPFIND", answer)

    return work


def copy(race: Race) -> Callable[[requests.Session, str, int], None]:
    def work(session: requests.Session, url: str, n: int) -> None:
        moves = (
            ("swap/inside.txt", f"/copies/c-{n}.txt"),  # reads through it
            ("swap/sub", f"/copies/tree-{n}"),
            ("local.txt", f"/swap/c-{n}.txt"),  # writes through it
            ("copies", f"/swap/sub/tree-{n}"),
        )
        source, dest = moves[n % len(moves)]
        answer = session.request(
            "COPY", url + source, headers={"Destination": dest, "Overwrite": "T"}, timeout=30
        )
        race.record("COPY", answer)

    return work


def delete(race: Race) -> Callable[[requests.Session, str, int], None]:
    def work(session: requests.Session, url: str, n: int) -> None:
        race.record("DELETE", session.delete(url + "swap/victim.txt", timeout=30))
        race.record("PUT", session.put(url + "swap/victim.txt", data=INSIDE, timeout=30))

    return work


@pytest.fixture
def race(tmp_path: Path) -> Iterator[tuple[Race, ServerProcess]]:
    race = Race(tmp_path)
    with ServerProcess(race.root) as server:
        yield race, server


def test_nothing_outside_the_root_is_read_or_written(race) -> None:
    race, server = race
    threads = [threading.Thread(target=race.swapper, name="swapper")]
    for name, work in (
        ("get", get),
        ("get2", get),
        ("put", put),
        ("propfind", propfind),
        ("copy", copy),
        ("delete", delete),
    ):
        threads.append(race.client(server.url, name, work(race)))
    for thread in threads:
        thread.start()
    time.sleep(SECONDS)
    race.stop.set()
    for thread in threads:
        thread.join(60)
    assert not race.leaks, race.leaks[:10]
    assert contents(race.outside) == race.before, "something outside the root changed"
    assert not [p for p in race.outside.rglob("*") if is_temp_name(p.name)]
    inside = contents(race.root)
    assert not [name for name, data in inside.items() if data and SECRET in data]
    assert not [name for name in inside if is_temp_name(name.rsplit("/", 1)[-1])]
    # The race really ran: the folder was seen as a folder and as a link.
    assert race.swaps > 1000, race.swaps
    gets = race.statuses["GET"]
    assert gets[200] > 50 and gets[403] > 50, dict(gets)
    assert race.statuses["PUT"][201] > 10 and race.statuses["COPY"][201] > 10
    for what, counts in race.statuses.items():
        assert not [code for code in counts if code >= 500], (what, dict(counts))
