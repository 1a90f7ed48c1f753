"""Per-user byte usage for quotas: who owns which file, and how many bytes each
user owns — kept incrementally beside the locks (memory, SQLite, Redis).

A file is owned by the principal that last wrote it (PUT, the copier of a COPY;
a MOVE keeps the owners).  The store holds one row per owned file (path → owner,
size) and one total per owner; both change together in one store transaction
(:meth:`UsageStore.apply`), which also checks the writer's quota, so two
concurrent writes of one user (any worker, any server) cannot both pass it.

Crash story.  A write is applied to the store *before* the step that makes it
visible on disk (a rename), and recorded in a journal entry naming that step's
path and the inode that was there before.  After the rename the entry is settled
(deleted); if the rename fails the write is reverted at once.  A crash in between
leaves the entry: at the next start :mod:`davserver.dav.usage_recovery` looks at
the path — another inode than before means the rename happened (settle), the same
one means it did not (revert) — and then compares every row with the file on
disk (gone: row dropped; another size: size taken).  Usage is therefore the sum
of the recorded files as they are on disk, whenever the server starts.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol, TypeVar

from davserver.errors import QuotaExceeded
from davserver.lockstore.paths import is_strictly_below, rebase

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Row:
    """One owned file."""

    owner: str
    size: int


@dataclasses.dataclass(frozen=True)
class Install:
    """What one write does to usage, applied atomically with the quota check.

    ``drop``: subtrees whose rows go (deleted, or overwritten by the write);
    ``add``: (path, size) rows the writer owns afterwards; ``move``: rows below
    ``src`` rebased to ``dest`` with their owners.  ``check``: the path whose
    rename makes the write visible and the inode there before it (None: nothing),
    so that recovery can tell whether it happened.  ``limit``: the writer's quota
    (None: never refused); ``what`` names the write in the 507 message."""

    owner: str
    limit: int | None
    check: tuple[str, int | None]
    drop: tuple[str, ...] = ()
    add: tuple[tuple[str, int], ...] = ()
    move: tuple[str, str] | None = None
    what: str = "upload"


@dataclasses.dataclass(frozen=True)
class Pending:
    """A journal entry: a write applied to the store whose rename was not yet seen."""

    ticket: str
    tag: str
    at: float
    check: tuple[str, int | None]


class Reader(Protocol):
    """Reads inside a backend's transaction."""

    def tree(self, path: str) -> dict[str, Row]:
        """Rows at ``path`` and strictly below it."""
        ...

    def rows(self, paths: Iterable[str]) -> dict[str, Row]: ...

    def used(self, owner: str) -> int: ...

    def journal(self, ticket: str) -> str | None: ...


@dataclasses.dataclass
class Writes:
    """What a transaction writes: rows out, rows in, totals, journal entries."""

    delete: set[str] = dataclasses.field(default_factory=set)
    put: dict[str, Row] = dataclasses.field(default_factory=dict)
    deltas: Counter[str] = dataclasses.field(default_factory=Counter)
    journal_set: dict[str, str] = dataclasses.field(default_factory=dict)
    journal_del: set[str] = dataclasses.field(default_factory=set)

    def replace(self, old: Mapping[str, Row], new: Mapping[str, Row]) -> None:
        """Rows ``old`` (as read) go, rows ``new`` come; totals follow."""
        for path, row in old.items():
            self.delete.add(path)
            self.deltas[row.owner] -= row.size
        for path, row in new.items():
            self.delete.discard(path)
            self.put[path] = row
            self.deltas[row.owner] += row.size


def plan(install: Install, read: Reader, ticket: str, tag: str, now: float) -> Writes:
    """The writes of ``install``; raises :class:`QuotaExceeded` when the writer's
    usage would grow past their limit (a write that frees bytes always passes)."""
    old: dict[str, Row] = {}
    for top in install.drop:
        old.update(read.tree(top))
    new = {path: Row(install.owner, size) for path, size in install.add}
    if install.move is not None:
        src, dest = install.move
        moved = read.tree(src)
        old.update(moved)
        new.update({rebase(path, src, dest): row for path, row in moved.items()})
    writes = Writes()
    writes.replace(old, new)
    needed = writes.deltas[install.owner]
    if install.limit is not None and needed > 0:
        used = read.used(install.owner)
        if used + needed > install.limit:
            raise QuotaExceeded(install.owner, install.limit, used, needed, install.what)
    entry = {
        "tag": tag,
        "at": now,
        "check": list(install.check),
        "old": {path: [row.owner, row.size] for path, row in old.items()},
        "new": sorted(new),
    }
    writes.journal_set[ticket] = json.dumps(entry)
    return writes


def undo(ticket: str, read: Reader) -> Writes:
    """Writes that put back what the journal entry ``ticket`` replaced."""
    writes = Writes()
    raw = read.journal(ticket)
    if raw is None:
        return writes
    entry = json.loads(raw)
    old = {path: Row(owner, size) for path, (owner, size) in entry["old"].items()}
    writes.replace(read.rows(entry["new"]), old)
    writes.journal_del.add(ticket)
    return writes


def pending_of(ticket: str, raw: str) -> Pending:
    entry = json.loads(raw)
    path, inode = entry["check"]
    return Pending(ticket, entry["tag"], float(entry["at"]), (path, inode))


class UsageStore(Protocol):
    """Where usage lives; every method is one atomic step of the backend."""

    def used(self, owner: str) -> int: ...

    def row(self, path: str) -> Row | None: ...

    def apply(self, install: Install, tag: str) -> str:
        """Check and apply ``install``, journalled; returns its ticket."""
        ...

    def settle(self, ticket: str) -> None:
        """The write is visible: forget its journal entry."""
        ...

    def revert(self, ticket: str) -> None:
        """The write did not happen: put back what it replaced."""
        ...

    def pending(self) -> list[Pending]: ...

    def all_rows(self) -> dict[str, Row]: ...

    def correct(self, path: str, seen: Row, size: int | None) -> None:
        """Recovery: the file at ``path`` has ``size`` bytes (None: it is gone),
        unless its row changed from ``seen`` meanwhile (then nothing)."""
        ...

    def close(self) -> None: ...


class Backend(Protocol):
    """A transaction of a concrete store: ``body`` reads, returns the writes."""

    def transact(self, body: Callable[[Reader], tuple[Writes, T]]) -> T: ...

    def read(self, body: Callable[[Reader], T]) -> T:
        """Reads only (no write transaction: a PROPFIND or an upload's budget)."""
        ...


class TransactionalUsage:
    """:class:`UsageStore` over a backend's transactions (the logic is shared)."""

    def __init__(self, backend: Backend) -> None:
        self._b = backend

    def used(self, owner: str) -> int:
        return self._b.read(lambda read: read.used(owner))

    def row(self, path: str) -> Row | None:
        return self._b.read(lambda read: read.rows([path]).get(path))

    def apply(self, install: Install, tag: str) -> str:
        ticket = secrets.token_hex(8)
        now = time.time()
        return self._b.transact(lambda read: (plan(install, read, ticket, tag, now), ticket))

    def settle(self, ticket: str) -> None:
        writes = Writes(journal_del={ticket})
        self._b.transact(lambda read: (writes, None))

    def revert(self, ticket: str) -> None:
        self._b.transact(lambda read: (undo(ticket, read), None))

    def correct(self, path: str, seen: Row, size: int | None) -> None:
        def body(read: Reader) -> tuple[Writes, None]:
            writes = Writes()
            now = read.rows([path]).get(path)
            if now == seen:
                writes.replace({path: seen}, {} if size is None else {path: Row(seen.owner, size)})
            return writes, None

        self._b.transact(body)


class _MemoryReader:
    def __init__(self, store: MemoryBackend) -> None:
        self._s = store

    def tree(self, path: str) -> dict[str, Row]:
        rows = self._s.rows
        return {p: r for p, r in rows.items() if p == path or is_strictly_below(p, path)}

    def rows(self, paths: Iterable[str]) -> dict[str, Row]:
        return {p: self._s.rows[p] for p in paths if p in self._s.rows}

    def used(self, owner: str) -> int:
        return self._s.totals.get(owner, 0)

    def journal(self, ticket: str) -> str | None:
        return self._s.journal.get(ticket)


class MemoryBackend:
    """One process (memory://): a mutex makes each transaction atomic."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.totals: Counter[str] = Counter()
        self.journal: dict[str, str] = {}
        self._mutex = threading.Lock()

    def transact(self, body: Callable[[Reader], tuple[Writes, T]]) -> T:
        with self._mutex:
            writes, result = body(_MemoryReader(self))
            for path in writes.delete:
                self.rows.pop(path, None)
            self.rows.update(writes.put)
            self.totals.update(writes.deltas)
            self.journal.update(writes.journal_set)
            for ticket in writes.journal_del:
                self.journal.pop(ticket, None)
            return result

    def read(self, body: Callable[[Reader], T]) -> T:
        with self._mutex:
            return body(_MemoryReader(self))


class MemoryUsageStore(TransactionalUsage):
    def __init__(self) -> None:
        self._mem = MemoryBackend()
        super().__init__(self._mem)

    def pending(self) -> list[Pending]:
        return [pending_of(t, raw) for t, raw in dict(self._mem.journal).items()]

    def all_rows(self) -> dict[str, Row]:
        return dict(self._mem.rows)

    def close(self) -> None:
        pass
