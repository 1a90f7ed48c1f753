"""Per-user byte quotas (config ``quota_bytes`` and ``quotas``).

A user's usage is the bytes of the files they own — the files they last wrote
(PUT, or the copies of a COPY); a MOVE keeps the owners, a DELETE frees the
owner's bytes.  Usage is kept incrementally in the usage store beside the locks
(:mod:`davserver.lockstore.usage`), never by walking the share per request.

Anonymous writers (no ``htpasswd``) all count as the one user ``anonymous``:
``quota_bytes`` applies to them together, ``quotas: {anonymous: …}`` overrides it.

Checks, cheapest first:

* PUT with a ``Content-Length``: refused with 507 before the body is read.
* PUT without one (chunked): counted while the body streams; past the quota the
  upload is abandoned (507, nothing installed).
* Every write, at its install (the step that makes it visible): the quota is
  checked again and the usage changed in one store transaction — two concurrent
  writes of one user, on any worker or server, cannot both pass it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from davserver.errors import QuotaExceeded, StoreError
from davserver.lockstore.paths import rebase
from davserver.lockstore.usage import Install, UsageStore
from davserver.lockstore.usage_open import open_usage

log = logging.getLogger(__name__)
ANONYMOUS = "anonymous"


def owner_of(principal: str | None) -> str:
    """Whose usage a write counts against."""
    return ANONYMOUS if principal is None else principal


@dataclasses.dataclass(frozen=True)
class QuotaPolicy:
    """``default``: bytes per user (None: no limit); ``users``: per-user values."""

    default: int | None = None
    users: Mapping[str, int | None] = dataclasses.field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.default is not None or any(v is not None for v in self.users.values())

    def limit(self, owner: str) -> int | None:
        return self.users.get(owner, self.default)


def inode_at(root: Path, path: str) -> int | None:
    """The inode at share path ``path`` (None: nothing there); recovery compares it."""
    try:
        return os.lstat(os.path.join(root, path.lstrip("/"))).st_ino
    except OSError:
        return None


class Quotas:
    """The quota service a handler uses: budgets before a body, charges at installs."""

    def __init__(self, policy: QuotaPolicy, store: UsageStore, tag: str) -> None:
        self.policy = policy
        self.store = store
        self.tag = tag  # journal entries of this server (recovery settles its own)

    def used(self, owner: str) -> int:
        return self.store.used(owner)

    def budget(
        self, principal: str | None, path: str, length: int | None, what: str = "upload"
    ) -> Budget | None:
        """None when no quota applies; else how many bytes an upload to ``path``
        may bring.  507 now when ``length`` (Content-Length) is already too much."""
        owner = owner_of(principal)
        limit = self.policy.limit(owner)
        if limit is None:
            return None
        used = self.store.used(owner)
        mine = self.store.row(path)
        freed = mine.size if mine is not None and mine.owner == owner else 0
        budget = Budget(owner, limit, used, freed, what)
        if length is not None:
            budget.check(length)
        return budget

    @contextlib.contextmanager
    def charged(self, install: Install) -> Iterator[None]:
        """Apply ``install`` (checked, journalled) around the block that makes the
        write visible; revert it if the block fails, settle it afterwards."""
        ticket = self.store.apply(install, self.tag)
        try:
            yield
        except BaseException:
            with _logged("revert"):
                self.store.revert(ticket)  # if this fails too: recovery at the next start
            raise
        with _logged("settle"):
            self.store.settle(ticket)  # if this fails: the journal entry stays, recovery settles

    def install(
        self,
        principal: str | None,
        check: tuple[str, int | None],
        *,
        drop: tuple[str, ...] = (),
        add: tuple[tuple[str, int], ...] = (),
        move: tuple[str, str] | None = None,
        what: str = "upload",
    ) -> Install:
        owner = owner_of(principal)
        return Install(owner, self.policy.limit(owner), check, drop, add, move, what)


@contextlib.contextmanager
def _logged(step: str) -> Iterator[None]:
    try:
        yield
    except StoreError as exc:
        log.warning("quota usage: could not %s a write (fixed at the next start): %s", step, exc)


@dataclasses.dataclass
class Budget:
    """What one upload may bring: ``freed`` is the user's own file it replaces."""

    owner: str
    limit: int
    used: int
    freed: int
    what: str = "upload"

    def check(self, size: int) -> None:
        needed = size - self.freed
        if needed > 0 and self.used + needed > self.limit:
            raise QuotaExceeded(self.owner, self.limit, self.used, needed, self.what)


def copied_rows(
    files: Iterator[tuple[str, int]], src: str, dest: str
) -> tuple[tuple[str, int], ...]:
    """(path, size) of the files a COPY of ``src`` puts below ``dest``."""
    return tuple((rebase(path, src, dest), size) for path, size in files)


def reporters(
    quotas: Quotas | None,
    principal: str | None,
    fs_used: Callable[..., int],
    fs_available: Callable[..., int],
) -> tuple[Callable[..., int], Callable[..., int]]:
    """RFC 4331 ``quota-used-bytes`` and ``quota-available-bytes``: the user's own
    usage and what their quota leaves (at most what the disk has), when a quota
    applies to them; else the file system's numbers."""
    if quotas is None:
        return fs_used, fs_available
    owner = owner_of(principal)
    limit = quotas.policy.limit(owner)
    if limit is None:
        return fs_used, fs_available
    known: dict[str, int] = {}

    def used(entry: object) -> int:
        if "used" not in known:
            known["used"] = quotas.used(owner)
        return known["used"]

    def available(entry: object) -> int:
        return max(0, min(limit - used(entry), fs_available(entry)))

    return used, available


def quota_service(
    default: int | None, users: Mapping[str, int | None], locks: object
) -> Quotas | None:
    """The quota service for the config (None when no quota is configured: then
    nothing is recorded), its usage beside the lock store ``locks``."""
    policy = QuotaPolicy(default, dict(users))
    if not policy.enabled:
        return None
    # Journal entries carry the host: at its start a server settles its own only.
    return Quotas(policy, open_usage(locks), socket.gethostname())
