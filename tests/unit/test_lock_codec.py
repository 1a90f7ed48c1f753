"""The lock codec: every lock's JSON text decodes to an equal lock, and the text of a
lock this process wrote is answered with that lock (no second decoding)."""

from __future__ import annotations

import pytest

from davserver.locking.maintenance import FreezeRequest, make_freeze, tombstone
from davserver.locking.model import Depth, Lock, Scope
from davserver.lockstore import codec
from davserver.lockstore.codec import lock_from_json, lock_to_json

NOW = 1_796_698_209.955656


def write_lock(**changes: object) -> Lock:
    fields: dict[str, object] = {
        "token": "opaquelocktoken:7b1c7a4e-0d8f-4b6e-9c1a-3e5f2a6b8c9d",
        "root": "/docs/report é.odt",
        "scope": Scope.EXCLUSIVE,
        "depth": Depth.ZERO,
        "owner": '<D:owner xmlns:D="DAV:"><D:href>mailto:a@example.org</D:href></D:owner>',
        "principal": "alice",
        "timeout": 600,
        "expires_at": NOW + 600,
        "created_at": NOW,
        "client": "Microsoft-WebDAV-MiniRedir/10.0",
        "address": "192.0.2.7",
    }
    fields.update(changes)
    return Lock(**fields)  # type: ignore[arg-type]


def examples() -> list[Lock]:
    plain = write_lock()
    freeze = make_freeze("opaquelocktoken:f", FreezeRequest("/a", "move", "root", None, True), NOW)
    return [
        plain,
        write_lock(scope=Scope.SHARED, depth=Depth.INFINITY, timeout=None, expires_at=None),
        write_lock(principal=None, owner="", collection=True, refreshed_at=NOW + 0.1),
        freeze,
        tombstone(plain, "root", "left the company", NOW + 5, 3600),
    ]


@pytest.mark.parametrize("lock", examples(), ids=lambda lock: lock.kind.value)
def test_the_text_of_a_lock_decodes_to_an_equal_lock(lock: Lock) -> None:
    text = lock_to_json(lock)
    codec._written.clear()  # decoded from the text alone, as another process would
    assert lock_from_json(text) == lock
    assert lock_from_json(text.encode("utf-8")) == lock
    assert lock_to_json(lock_from_json(text)) == text


def test_a_lock_written_here_is_read_back_without_decoding() -> None:
    lock = write_lock(token="opaquelocktoken:written-here")
    text = lock_to_json(lock)
    assert lock_from_json(text) is lock


def test_the_written_locks_kept_are_bounded() -> None:
    for n in range(codec.DECODED_CACHE_SIZE + 50):
        lock_to_json(write_lock(token=f"opaquelocktoken:{n}"))
    assert len(codec._written) <= codec.DECODED_CACHE_SIZE
