"""One root, one lock store: which store governs a served directory.

Servers serving one directory must share one lock store, or each ignores the
other's locks: a LOCK through one server, then a PUT over the locked file
through another (one node started without ``--lock-store redis://``, or with
another ``--state-dir``).  So each server records the store it uses on the
root itself, as an extended attribute of the root directory
(``user.davserver.lock-store``): tied to the directory whatever each server's
state directory is, and invisible over WebDAV.

A store is named by its generation id (:mod:`davserver.lockstore.generation`):
every server using one store reads the same id however it spells the URL
(``localhost`` or the host's name), and a store that is not theirs has another
one.  ``memory://`` is one process's own store: it never matches another.

A server starting while others serve the root — they hold recovery's shared
``flock`` on it — must use the recorded store, or it refuses to start and says
which store the running servers use.  A server starting alone records its own
store: switching stores on purpose is stopping every server of the root and
starting them with the new store.  Read-only servers take no locks: they
neither check nor record.  On a file system without user extended attributes
(some NFS and FUSE mounts) nothing can be recorded: one WARNING, no check.
Servers started at the very same moment are not checked against each other.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from davserver.errors import DavServerError, StartupError
from davserver.lockstore import Role, Stores, open_stores

log = logging.getLogger("davserver.lockstore")

XATTR = "user.davserver.lock-store"
UNSUPPORTED = (errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS)


@dataclass(frozen=True)
class StoreMark:
    """The store recorded on a root: its ``id`` (generation), and for people,
    the URL as logged (password masked) and the host that recorded it."""

    id: str
    store: str
    host: str

    def to_bytes(self) -> bytes:
        data = {"id": self.id, "store": self.store, "host": self.host}
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> StoreMark | None:
        try:
            data = json.loads(raw)
            return cls(str(data["id"]), str(data["store"]), str(data["host"]))
        except (ValueError, TypeError, KeyError):
            return None  # unreadable: as if none was recorded


def mark_of(stores: Stores) -> StoreMark:
    """The mark of the stores this process opened."""
    host = socket.gethostname()
    if stores.control is None:  # memory://: this process's own
        return StoreMark(f"{stores.url}{host}:{os.getpid()}", stores.url, host)
    try:
        generation = stores.control.generation()
    except DavServerError:
        generation = None
    return StoreMark(generation.id if generation else stores.url, stores.url, host)


def others_serve(root: Path) -> bool:
    """Another davserver serves ``root`` now (it holds recovery's shared flock).
    Ask before this process takes its own."""
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False  # no directory there: nobody serves it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the probe's lock
    return False


def read_mark(root: Path) -> StoreMark | None:
    """The mark on ``root``; OSError (ENOTSUP) where the file system keeps none."""
    try:
        return StoreMark.from_bytes(os.getxattr(root, XATTR))
    except OSError as exc:
        if exc.errno == errno.ENODATA:
            return None
        raise


def refusal(root: Path, recorded: StoreMark, ours: str) -> str:
    return (
        f"{root} is served by running davservers whose lock store is {recorded.store} "
        f"(recorded by {recorded.host}); this server would use {ours}, and each would "
        "ignore the other's locks. Serve it with that lock store (--lock-store, or the "
        "same --state-dir), or stop every server of this root, then start them with "
        "the new store"
    )


def claim(root: Path, stores: Stores, *, others: bool, readonly: bool) -> None:
    """Check the root's store against ours (when ``others`` serve it) and record
    ours; :class:`StartupError` when another store governs it."""
    if readonly:
        return
    ours = mark_of(stores)
    try:
        recorded = read_mark(root)
    except OSError as exc:
        _cannot_record(root, exc)
        return
    if recorded is not None and recorded.id != ours.id:
        if others:
            raise StartupError(refusal(root, recorded, ours.store))
        log.info(
            "%s: lock store %s replaces %s (recorded by %s; no other server runs)",
            root,
            ours.store,
            recorded.store,
            recorded.host,
        )
    if recorded is None or recorded.id != ours.id:
        try:
            os.setxattr(root, XATTR, ours.to_bytes())
        except OSError as exc:
            _cannot_record(root, exc)


def _cannot_record(root: Path, exc: OSError) -> None:
    why = "keeps no extended attributes" if exc.errno in UNSUPPORTED else exc.strerror
    log.warning(
        "%s: cannot record its lock store (the file system %s): servers of this root "
        "are not checked for using one lock store",
        root,
        why,
    )


def check(root: Path, url: str | None, state_dir: Path, *, readonly: bool) -> str | None:
    """For ``check-config`` and before serving: why a server with this store
    would be refused on ``root`` now (None: it would not)."""
    if readonly or not others_serve(root):
        return None
    try:
        recorded = read_mark(root)
    except OSError:
        return None
    if recorded is None:
        return None
    try:
        stores = open_stores(url, state_dir=state_dir, role=Role.ADMIN)
    except (StartupError, DavServerError):
        # Not there yet (a new SQLite file) or unreachable: not the running servers' store.
        return refusal(root, recorded, url or "sqlite:// in the state directory")
    try:
        ours = mark_of(stores)
    finally:
        stores.close()
    return None if ours.id == recorded.id else refusal(root, recorded, ours.store)
