"""Group commit of folder fsyncs (FolderSync): concurrent writers share an fsync,
and none returns before an fsync that started after its rename has finished."""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable

import pytest

from davserver.fs.containment import FolderSync, _Folder

KEY = (1, 2)
FD = 7


def wait_for(condition: Callable[[], bool]) -> None:
    """Until ``condition`` holds (a hang is caught by the deadline, not a timing check)."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.001)


class GatedFsync:
    """An fsync that records its calls and, when gated, waits to be let through."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.finished = 0
        self.gates: list[threading.Event] = []
        self._lock = threading.Lock()

    def gate(self) -> threading.Event:
        event = threading.Event()
        self.gates.append(event)
        return event

    def __call__(self, fd: int) -> None:
        with self._lock:
            index = len(self.calls)
            self.calls.append(fd)
        if index < len(self.gates):
            assert self.gates[index].wait(30)
        with self._lock:
            self.finished += 1


def start(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_a_lone_writer_makes_one_fsync_of_its_folder() -> None:
    fsync = GatedFsync()
    syncs = FolderSync(fsync)
    syncs.sync(FD, KEY)
    syncs.sync(FD, KEY)
    assert fsync.calls == [FD, FD]  # a later rename needs a later fsync
    assert syncs.waiting(KEY) == 0
    assert not syncs._folders  # nothing kept per folder once nobody waits


def test_writers_that_come_during_an_fsync_share_the_next_one() -> None:
    fsync = GatedFsync()
    first, second = fsync.gate(), fsync.gate()
    syncs = FolderSync(fsync)
    returned: list[str] = []

    def writer(fd: int, name: str) -> Callable[[], None]:
        def run() -> None:
            syncs.sync(fd, KEY)
            returned.append(name)

        return run

    leader = start(writer(FD, "a"))
    wait_for(lambda: len(fsync.calls) == 1)  # a's fsync runs (and waits at its gate)
    followers = [start(writer(FD + 1, name)) for name in ("b", "c", "d")]
    wait_for(lambda: syncs.waiting(KEY) == 4)
    # b, c, d renamed after a's fsync started: it does not cover them.
    first.set()
    leader.join(30)
    assert returned == ["a"]
    wait_for(lambda: len(fsync.calls) == 2)  # one of them runs the next fsync for all
    assert returned == ["a"] and fsync.finished == 1
    second.set()
    for thread in followers:
        thread.join(30)
    assert sorted(returned) == ["a", "b", "c", "d"]
    assert fsync.calls == [FD, FD + 1]  # two fsyncs for four writers
    assert not syncs._folders


def test_folders_do_not_share_fsyncs() -> None:
    fsync = GatedFsync()
    gate = fsync.gate()
    syncs = FolderSync(fsync)
    one = start(lambda: syncs.sync(FD, KEY))
    wait_for(lambda: len(fsync.calls) == 1)
    syncs.sync(FD + 1, (1, 3))  # another folder: its own fsync, not held up by KEY's
    assert fsync.calls == [FD, FD + 1]
    gate.set()
    one.join(30)


def test_an_fsync_error_is_ignored_like_fsync_dir() -> None:
    def failing(fd: int) -> None:
        raise OSError(22, "not supported here")

    FolderSync(failing).sync(FD, KEY)  # the same as fsync_dir: ignored


def test_a_leader_that_fails_leaves_the_fsync_to_a_waiter() -> None:
    fsync = GatedFsync()
    gate = fsync.gate()
    calls: list[int] = []

    def broken_once(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 1:
            gate.wait(30)
            raise RuntimeError("the leader's thread is torn down")
        fsync(fd)

    syncs = FolderSync(broken_once)
    errors: list[BaseException] = []

    def leader() -> None:
        try:
            syncs.sync(FD, KEY)
        except RuntimeError as exc:
            errors.append(exc)

    first = start(leader)
    wait_for(lambda: len(calls) == 1)
    follower = start(lambda: syncs.sync(FD + 1, KEY))
    wait_for(lambda: syncs.waiting(KEY) == 2)
    gate.set()
    first.join(30)
    follower.join(30)
    assert len(errors) == 1
    assert calls == [FD, FD + 1]  # the waiter was not answered by the failed fsync
    assert not syncs._folders


@pytest.mark.parametrize("seed", range(3))
def test_no_writer_returns_before_an_fsync_that_started_after_its_rename(seed: int) -> None:
    """Many writers, random pauses: for each, some fsync started after its rename
    and finished before it returned (one event counter orders everything)."""
    rng = random.Random(seed)
    clock = itertools.count()
    lock = threading.Lock()
    fsyncs: list[tuple[int, int]] = []  # (start, end)

    def tick() -> int:
        with lock:
            return next(clock)

    def fsync(fd: int) -> None:
        begun = tick()
        time.sleep(rng.random() / 2000)
        fsyncs.append((begun, tick()))

    syncs = FolderSync(fsync)
    writes: list[tuple[int, int]] = []  # (renamed, returned)

    def writer(pauses: list[float]) -> None:
        for pause in pauses:
            time.sleep(pause)
            renamed = tick()  # the rename has returned
            syncs.sync(FD, KEY)
            writes.append((renamed, tick()))

    plans = [[rng.random() / 1000 for _ in range(40)] for _ in range(8)]
    threads = [threading.Thread(target=writer, args=(plan,), daemon=True) for plan in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(writes) == 8 * 40
    for renamed, returned in writes:
        assert any(renamed < begun and end < returned for begun, end in fsyncs), (renamed, returned)
    assert len(fsyncs) < len(writes)  # shared: 8 writers on one folder
    assert not syncs._folders


def test_a_forked_child_starts_afresh() -> None:
    """A lock held and an fsync running in a parent's thread at the fork are not
    waited for in the child (the thread does not exist there)."""
    fsync = GatedFsync()
    syncs = FolderSync(fsync)
    syncs._lock.acquire()  # as if a thread held it when the process forked ...
    running = syncs._folders[KEY] = _Folder()
    running.running, running.users, running.renamed = True, 1, 1  # ... in an fsync
    syncs.reset()  # what os.register_at_fork runs in the child
    syncs.sync(FD, KEY)
    assert fsync.calls == [FD]
    assert not syncs._folders
