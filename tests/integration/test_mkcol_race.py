"""A lock granted between MKCOL's lock check and its ``mkdir`` wins (RFC 4918 §7):
the check is held atomically with the ``mkdir``, so the
MKCOL answers 423 naming the new lock and no collection appears.

The other client acts at a fixed point (when MKCOL opens the place of the new
collection, after its first lock check), never by timing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from davserver.fs.share import Share
from tests.integration.lock_helpers import Dav, assert_423_submitted


@pytest.fixture
def dav(tmp_path: Path) -> Dav:
    dav = Dav(tmp_path / "share")
    (dav.root / "dir").mkdir()
    return dav


def before_the_mkdir(
    monkeypatch: pytest.MonkeyPatch, path: str, act: Callable[[], object]
) -> list[object]:
    """Run ``act`` once, when the MKCOL of ``path`` reaches the place it writes."""
    done: list[object] = []
    real = Share.place

    def place(share: Share, where: str) -> Any:
        if where == path and not done:
            done.append(None)  # first: ``act`` may reach this place itself
            done[0] = act()
        return real(share, where)

    monkeypatch.setattr(Share, "place", place)
    return done


def test_depth_infinity_lock_on_the_parent_taken_meanwhile_wins(
    dav: Dav, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = before_the_mkdir(monkeypatch, "/dir/new", lambda: dav.locked("/dir/", depth="infinity"))
    answer = dav.request("MKCOL", "/dir/new")
    assert done, "the hook never ran"
    assert_423_submitted(answer, "/dir/")
    assert list((dav.root / "dir").iterdir()) == []


def test_lock_on_the_unmapped_name_taken_meanwhile_wins(
    dav: Dav, monkeypatch: pytest.MonkeyPatch
) -> None:
    token: list[str] = []

    def lock_the_name() -> None:
        token.append(dav.locked("/dir/new", depth="0"))

    before_the_mkdir(monkeypatch, "/dir/new", lock_the_name)
    answer = dav.request("MKCOL", "/dir/new")
    assert token, "the hook never ran"
    assert_423_submitted(answer, "/dir/new")
    assert not (dav.root / "dir" / "new").is_dir()
    # The lock holder keeps its lock, and may create the collection after all.
    assert [lock.token for lock in dav.manager.discover("/dir/new")] == token


def test_mkcol_with_the_lock_token_creates_the_collection(dav: Dav) -> None:
    token = dav.locked("/dir/", depth="infinity")
    answer = dav.request("MKCOL", "/dir/new", headers={"If": f"(<{token}>)"})
    assert answer.status == 201, answer.text
    assert (dav.root / "dir" / "new").is_dir()
