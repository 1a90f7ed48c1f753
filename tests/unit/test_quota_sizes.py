"""Quota sizes as operators write them, and the pure usage plan (who is charged,
when a write is refused)."""

from __future__ import annotations

import pytest

from davserver.common.sizes import parse_size
from davserver.errors import QuotaExceeded
from davserver.lockstore.usage import Install, MemoryUsageStore, Row


@pytest.mark.parametrize(
    ("text", "size"),
    [
        (0, 0),
        (1234, 1234),
        ("1234", 1234),
        ("10GiB", 10 * 1024**3),
        ("500MB", 500_000_000),
        ("1.5 KiB", 1536),
        ("2t", 2 * 1024**4),
        ("7 b", 7),
    ],
)
def test_sizes(text: object, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "ten", "10 GiBs", "-5", -5, True, 1.5, "1e9", "5 XB"])
def test_bad_sizes_say_how_to_write_one(text: object) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def put(store: MemoryUsageStore, owner: str, path: str, size: int, limit: int | None) -> str:
    install = Install(owner, limit, (path, None), drop=(path,), add=((path, size),))
    return store.apply(install, "here")


def test_overwrite_by_another_user_moves_the_bytes() -> None:
    store = MemoryUsageStore()
    store.settle(put(store, "alice", "/f", 60, 100))
    store.settle(put(store, "bob", "/f", 10, 100))
    assert (store.used("alice"), store.used("bob")) == (0, 10)
    assert store.row("/f") == Row("bob", 10)


def test_refused_write_changes_nothing() -> None:
    store = MemoryUsageStore()
    store.settle(put(store, "alice", "/a", 60, 100))
    with pytest.raises(QuotaExceeded) as refused:
        put(store, "alice", "/b", 41, 100)
    assert (refused.value.quota, refused.value.used, refused.value.needed) == (100, 60, 41)
    assert store.used("alice") == 60 and store.row("/b") is None and store.pending() == []


def test_a_write_that_frees_bytes_passes_over_the_quota() -> None:
    store = MemoryUsageStore()
    store.settle(put(store, "alice", "/a", 90, None))
    store.settle(put(store, "alice", "/a", 80, 50))  # quota lowered below the usage
    assert store.used("alice") == 80


def test_revert_puts_back_the_previous_owner() -> None:
    store = MemoryUsageStore()
    store.settle(put(store, "alice", "/f", 60, None))
    store.revert(put(store, "bob", "/f", 70, None))
    assert (store.used("alice"), store.used("bob")) == (60, 0)
    assert store.row("/f") == Row("alice", 60) and store.pending() == []


def test_move_keeps_owners_and_frees_what_it_overwrote() -> None:
    store = MemoryUsageStore()
    store.settle(put(store, "alice", "/d/x", 5, None))
    store.settle(put(store, "bob", "/d/y", 7, None))
    store.settle(put(store, "carol", "/e", 3, None))
    move = Install("dave", 0, ("/e", 1), drop=("/e",), move=("/d", "/e"), what="move")
    store.settle(store.apply(move, "here"))
    assert store.all_rows() == {"/e/x": Row("alice", 5), "/e/y": Row("bob", 7)}
    assert [store.used(u) for u in ("alice", "bob", "carol", "dave")] == [5, 7, 0, 0]
