"""Generations: how a server tells its lock store from an empty or older one.

A persistent store (SQLite, Redis) holds one *generation* record, written when
the first server opens it: a random id and when it was made.  Each server keeps
what it adopted (:class:`Seen`: the id and when) in memory and in a small file
in its state directory, so that a store which lost its data — a Redis restarted
without persistence, a deleted database file recreated empty — is recognised
instead of silently serving an empty lock table: the record is missing, or is
not the one this server adopted.

Such a store is trusted again only when an administrator says so
(``davserver locks confirm-store``), which writes a new generation marked
*confirmed*.  A server adopts a different generation only if it was confirmed
after the server adopted its own, so an old snapshot restored with an old
confirmed record is still refused.  Clocks of servers and the admin host must
agree (they must anyway: lock expiry is wall-clock time).
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MEMORY_FILE = "lock-store-generation.json"


@dataclass(frozen=True)
class Generation:
    """The record in the store; ``confirmed_at`` is set by confirm-store."""

    id: str
    created_at: float
    confirmed_at: float | None = None

    @classmethod
    def new(cls, now: float, *, confirmed: bool = False) -> Generation:
        return cls(secrets.token_hex(8), now, now if confirmed else None)

    def to_json(self) -> str:
        data = {"id": self.id, "created_at": self.created_at, "confirmed_at": self.confirmed_at}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> Generation | None:
        """The record, or None when there is none or it cannot be read (both mean:
        this is not the store a server adopted)."""
        if not text:
            return None
        try:
            data = json.loads(text)
            confirmed = data.get("confirmed_at")
            return cls(
                str(data["id"]),
                float(data["created_at"]),
                None if confirmed is None else float(confirmed),
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


@dataclass(frozen=True)
class Seen:
    """What a server adopted: the generation id and when."""

    id: str
    adopted_at: float


class Verdict(enum.Enum):
    FRESH = "fresh"  # no record and none remembered: a new store, write one
    KEEP = "keep"  # the record this server adopted
    ADOPT = "adopt"  # a record to adopt: none remembered, or confirmed since
    LOST = "lost"  # missing or foreign: refuse until confirmed


def judge(stored: Generation | None, seen: Seen | None) -> Verdict:
    """What a server that adopted ``seen`` makes of the record ``stored``."""
    if stored is None:
        return Verdict.FRESH if seen is None else Verdict.LOST
    if seen is None:
        return Verdict.ADOPT
    if stored.id == seen.id:
        return Verdict.KEEP
    if stored.confirmed_at is not None and stored.confirmed_at > seen.adopted_at:
        return Verdict.ADOPT
    return Verdict.LOST


def describe(seen: Seen, stored: Generation | None) -> str:
    """Why a store is refused, for the log."""
    if stored is None:
        return (
            f"it has no generation record, but this server used generation {seen.id} "
            "(the data was lost: a restart without persistence, a flush, a new empty file)"
        )
    return (
        f"it holds generation {stored.id}, not {seen.id} which this server used "
        "(replaced by another store, or recreated after losing its data)"
    )


class SeenFile:
    """The generation each store was adopted at, in ``STATE_DIR/lock-store-generation.json``
    keyed by the store's description (URL without password).

    Written atomically (temporary file + rename); several workers writing the
    same value at once is harmless.
    """

    def __init__(self, state_dir: Path):
        self.path = state_dir / MEMORY_FILE

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}  # unreadable: as if nothing was remembered (the store decides)
        return data if isinstance(data, dict) else {}

    def load(self, key: str) -> Seen | None:
        entry = self._read().get(key)
        try:
            return Seen(str(entry["id"]), float(entry["adopted_at"]))  # type: ignore[index]
        except (TypeError, KeyError, ValueError):
            return None

    def save(self, key: str, seen: Seen) -> None:
        """Remember ``seen``; a state directory that cannot be written is not an
        error here (the store's own record still protects the running server)."""
        data = self._read()
        data[key] = {"id": seen.id, "adopted_at": seen.adopted_at}
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".generation-", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(data, out, indent=1, sort_keys=True)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
