"""The one serialised form of a :class:`~davserver.locking.model.Lock`.

SQLite and Redis both store locks as JSON text produced here, so a lock written
by one worker (or one backend during a migration) reads back identically in
every other.  JSON, never pickle: a store shared between processes or servers
must not be able to execute code when read.
"""

from __future__ import annotations

import contextlib
import functools
import json
from typing import Any

from davserver.errors import StoreError
from davserver.locking.model import Depth, Lock, LockKind, Scope

FORMAT_VERSION = 1
"""Bumped when the dict layout changes incompatibly; readers refuse newer data."""

DECODED_CACHE_SIZE = 256  # decoded records kept: a listing with 256 locks, well under 1 MiB

# Fields added after format 1 was first written: stored only when they differ from
# the default, so older records (and plain locks) read back unchanged.
OPTIONAL_DEFAULTS: dict[str, Any] = {
    "client": "",
    "address": "",
    "refreshed_at": None,
    "kind": LockKind.WRITE.value,
    "reason": "",
    "drain": False,
    "broken_by": None,
    "broken_at": None,
}


def lock_to_dict(lock: Lock) -> dict[str, Any]:
    """A JSON-ready dict of every field of ``lock`` (enums by value)."""
    return {
        "v": FORMAT_VERSION,
        "token": lock.token,
        "root": lock.root,
        "scope": lock.scope.value,
        "depth": lock.depth.value,
        "owner": lock.owner,
        "principal": lock.principal,
        "timeout": lock.timeout,
        "expires_at": lock.expires_at,
        "created_at": lock.created_at,
        "collection": lock.collection,
        **_optional(lock),
    }


def _optional(lock: Lock) -> dict[str, Any]:
    values = {
        "client": lock.client,
        "address": lock.address,
        "refreshed_at": lock.refreshed_at,
        "kind": lock.kind.value,
        "reason": lock.reason,
        "drain": lock.drain,
        "broken_by": lock.broken_by,
        "broken_at": lock.broken_at,
    }
    return {key: value for key, value in values.items() if value != OPTIONAL_DEFAULTS[key]}


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def lock_from_dict(data: dict[str, Any]) -> Lock:
    """Rebuild a lock from :func:`lock_to_dict` output.

    Raises :class:`StoreError` on data this version cannot read, so a corrupt or
    future-format record surfaces as a store failure rather than a TypeError.
    """
    version = data.get("v", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise StoreError(f"lock record format {version!r} is not supported")
    try:
        expires_at = data["expires_at"]
        return Lock(
            token=data["token"],
            root=data["root"],
            scope=Scope(data["scope"]),
            depth=Depth(data["depth"]),
            owner=data["owner"],
            principal=data["principal"],
            timeout=data["timeout"],
            expires_at=None if expires_at is None else float(expires_at),
            created_at=float(data["created_at"]),
            collection=bool(data.get("collection", False)),
            client=str(data.get("client", "")),
            address=str(data.get("address", "")),
            refreshed_at=_float_or_none(data.get("refreshed_at")),
            kind=LockKind(data.get("kind", LockKind.WRITE.value)),
            reason=str(data.get("reason", "")),
            drain=bool(data.get("drain", False)),
            broken_by=data.get("broken_by"),
            broken_at=_float_or_none(data.get("broken_at")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"unreadable lock record: {exc}") from exc


def lock_to_json(lock: Lock) -> str:
    """Compact JSON text of ``lock``.  Remembered as the decoding of that text: the
    next read of a lock this process stored (the If check of the PUT after a
    LOCK, the UNLOCK) finds it decoded already."""
    text = json.dumps(lock_to_dict(lock), separators=(",", ":"), ensure_ascii=False)
    _written[text] = lock
    if len(_written) > DECODED_CACHE_SIZE:
        # Oldest first; another thread may have evicted it meanwhile: nothing lost.
        with contextlib.suppress(KeyError, RuntimeError, StopIteration):
            del _written[next(iter(_written))]
    return text


# Locks this process encoded, by their text (insertion order: oldest first).  A
# lock's text decodes to an equal lock (tests/unit/test_lock_codec.py), so the
# text read back from the store can be answered with the lock that was written.
_written: dict[str | bytes, Lock] = {}


def lock_from_json(text: str | bytes) -> Lock:
    """Parse :func:`lock_to_json` output (cached, see :func:`_decode`)."""
    lock = _written.get(text)
    return _decode(text) if lock is None else lock


@functools.lru_cache(maxsize=DECODED_CACHE_SIZE)
def _decode(text: str | bytes) -> Lock:
    """Cached: locks are immutable values and a record's text names everything in
    it, so the same text always decodes to an equal lock.  A PROPFIND of a folder
    with 50 locked files decodes the same 50 records on every listing (a fifth
    of its time before the cache); a refreshed lock has new text and a new entry.
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise StoreError(f"unreadable lock record: {exc}") from exc
    if not isinstance(data, dict):
        raise StoreError("unreadable lock record: not a JSON object")
    return lock_from_dict(data)
