"""A write stuck in the SQLite lock store (a hung process inside its transaction)
does not hold every other write for ever: after ``lock_store_write_wait`` the
request answers 503 with Retry-After and a message, nothing changed on disk, and
one WARNING names the wait."""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from davserver import config as davconfig
from davserver.errors import ConfigError
from tests.integration.lock_helpers import Dav
from tests.integration.wsgi_client import Response


@pytest.fixture
def dav(tmp_path: Path) -> Dav:
    dav = Dav(tmp_path / "share", lock_store="sqlite://", lock_store_write_wait=0.3)
    (dav.root / "doc.txt").write_bytes(b"v1")
    return dav


@pytest.fixture
def stuck_writer(dav: Dav) -> Iterator[None]:
    """The writers' queue of the store held by another open file, as by a stuck process."""
    path = dav.root / ".davserver" / "locks.sqlite-writers"
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        os.close(fd)


def on_disk(dav: Dav) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in dav.root.iterdir() if p.is_file()}


def assert_busy(answer: Response) -> None:
    assert answer.status == 503, (answer.status, answer.text)
    assert int(answer.header("Retry-After") or 0) > 0
    assert "busy" in answer.text


@pytest.mark.usefixtures("stuck_writer")
def test_writes_give_up_with_503_and_change_nothing(
    dav: Dav, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="davserver.lockstore"):
        assert_busy(dav.put("/doc.txt", b"v2"))
        assert_busy(dav.put("/new.txt", b"new"))
        assert_busy(dav.lock("/other.txt"))
        assert_busy(dav.request("DELETE", "/doc.txt"))
        assert_busy(dav.request("MKCOL", "/folder"))
    assert on_disk(dav) == {"doc.txt": b"v1"}
    assert sorted(p.name for p in dav.root.iterdir()) == [".davserver", "doc.txt"]
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "davserver.lockstore" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 1, warnings
    assert "0.3 s" in warnings[0] and "store.write_wait" in warnings[0]
    # Reads go on.
    assert dav.request("GET", "/doc.txt").body == b"v1"


def test_after_the_stuck_writer_went_writes_work_again(dav: Dav) -> None:
    path = dav.root / ".davserver" / "locks.sqlite-writers"
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert_busy(dav.put("/doc.txt", b"v2"))
    finally:
        os.close(fd)
    assert dav.put("/doc.txt", b"v2").status == 204
    assert on_disk(dav) == {"doc.txt": b"v2"}


@pytest.mark.parametrize("value", [0, -1, "soon", True, 7200])
def test_the_config_key_refuses_what_is_no_wait(value: object) -> None:
    with pytest.raises(ConfigError, match=r"store\.write_wait"):
        davconfig.load(None, {"store.write_wait": value})


def test_the_config_key_takes_fractions_and_whole_seconds() -> None:
    assert davconfig.load(None, {"store.write_wait": 0.5}).store.write_wait == 0.5
    assert davconfig.load(None, {"store.write_wait": 3}).store.write_wait == 3.0
