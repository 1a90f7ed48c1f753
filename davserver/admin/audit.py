"""The audit trail: every broken lock and every freeze made or lifted, as JSON lines.

One line per action, appended with a single ``write`` on an ``O_APPEND``
descriptor, so the worker processes of one server (and the command line) can
share the file without interleaving lines.  It is fsynced: an audit trail that
loses its last entries in a crash would not be one.  Reading takes the tail of
the file only, so a long history costs the console nothing.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from davserver.common.dates import rfc3339

log = logging.getLogger(__name__)

TAIL_BYTES = 512 * 1024  # what the console reads back: thousands of entries


@dataclass(frozen=True)
class AuditEntry:
    """One administrative action.

    ``action``: ``break`` (a lock, remembered for its holder), ``discard`` (an
    expired lock the purge had not removed yet), ``freeze`` or ``unfreeze``.
    ``by`` is who did it, ``via`` where (``api``, ``console`` or ``cli``),
    ``lock`` the lock or freeze as the admin API shows it.
    """

    at: float
    action: str
    by: str | None
    via: str
    path: str
    reason: str = ""
    lock: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["time"] = rfc3339(self.at)
        data["lock"] = dict(self.lock)
        return data


class AuditLog:
    """Appends to and reads back the JSON-lines file at ``path``."""

    def __init__(self, path: Path):
        self.path = path

    def record(self, entry: AuditEntry) -> bool:
        """Append one line; False (and an error in the log) when it cannot be written:
        the action has happened by then and is not undone."""
        line = json.dumps(entry.as_json(), ensure_ascii=False, sort_keys=True) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            log.error("cannot write the audit log %s: %s (entry: %s)", self.path, exc, line.strip())
            return False
        return True

    def tail(self, limit: int = 200) -> list[dict[str, Any]]:
        """The newest ``limit`` entries, newest first; unreadable lines are skipped."""
        try:
            with open(self.path, "rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(0, size - TAIL_BYTES))
                chunk = handle.read()
        except FileNotFoundError:
            return []
        except OSError as exc:
            log.error("cannot read the audit log %s: %s", self.path, exc)
            return []
        lines = chunk.splitlines()
        if len(chunk) >= TAIL_BYTES:
            lines = lines[1:]  # the first one is probably cut
        entries = []
        for raw in reversed(lines):
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if isinstance(entry, dict):
                entries.append(entry)
            if len(entries) >= limit:
                break
        return entries
