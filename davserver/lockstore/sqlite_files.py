"""The files under a SQLite store, and what can happen to them under a running server.

Each guard answers a fault seen on a real server:

* **Deleted or replaced.**  The device and inode of the database are recorded
  when it is opened and compared on every write (under the write lock, so no
  write lands in a file that is no longer at the path) and on reads at least
  every :data:`CHECK_INTERVAL` (reads go to the file that was opened, whose
  locks are the true ones until then).  Connections opened later never create
  the file (``mode=rw``), so no fresh empty database appears under a running
  server.  A replaced file is used only once an administrator confirms it
  (``davserver locks confirm-store``, see :mod:`davserver.lockstore.generation`).
* **Read-only or immutable.**  SQLite silently falls back to a read-only
  connection, and WAL's shared-memory index (the ``-shm`` file) is memory-mapped:
  a store into the mapping of a file made immutable (``chattr +i``) kills the
  process with SIGBUS.  So the three files are checked writable when opened
  and before operations at least every :data:`CHECK_INTERVAL` — ``access(2)``
  reports EPERM for an immutable file and EROFS for a read-only file system —
  and the ``-shm`` file, the only one mapped, before *every* operation (one
  ``stat`` and one ``access``: a request within the interval after a
  ``chattr +i`` died of SIGBUS); SQLite's own memory-mapped reads are off
  (``mmap_size = 0``).  A rollback journal would need no mapping, but costs an
  ``fsync`` per lock (5x slower LOCKs, measured), so WAL stays and the check
  runs.  What remains is a ``chattr +i`` or a cut landing between an
  operation's check and its transaction (no check closes that; under load some
  call is always in between); ``faulthandler`` then at least logs the signal.
* **The -shm file cut short.**  Truncating the mapped ``-shm`` (``truncate``,
  ``: > locks.sqlite-shm``, a backup tool restoring it) makes the next access to
  the mapping past its new end a SIGBUS in every process that uses it.  SQLite
  never shrinks it while a connection is open, and this process keeps its
  connections open, so a size below the largest seen is such a cut: a fault.
  The re-check repairs it: the file is extended again (``posix_fallocate`` only
  ever grows a file, so processes repairing at once cannot cut it again) and
  SQLite, finding a zeroed index header, rebuilds the index from the ``-wal``
  file under its own locks.
* **Disk errors, corruption, busy.**  Every SQLite error becomes a
  :class:`~davserver.lockstore.health.Fault` (busy is transient; the rest keep
  the store refused until a re-check with a real write passes).
"""

from __future__ import annotations

import errno
import os
import sqlite3
import time
from pathlib import Path

from davserver.lockstore.health import Fault, FaultKind, StoreHealth

CHECK_INTERVAL = 0.02  # seconds between checks of the files (writes: identity always)

RESTORE = (
    "Restore it (move the same file back), or run `davserver locks confirm-store` to "
    "go on with the database now at that path (the locks in the old file are then gone; "
    "a -wal or -shm file left beside it from the old one must go first, servers stopped)"
)

WRITABLE_AGAIN = (
    "Make it writable again (`chattr -i`, a read-write mount, permissions); "
    "lock operations resume by themselves within seconds"
)


def classify(exc: sqlite3.Error, path: Path, busy_ms: int) -> Fault:
    """The fault an SQLite error stands for (names as in SQLite's result codes)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = f"{exc} ({name or type(exc).__name__})"
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in str(exc):
        return Fault(
            FaultKind.BUSY,
            f"{path} stayed busy for {busy_ms / 1000:g} s: {text}",
            "Another process holds its write lock (a long `davserver locks` command?)",
        )
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return Fault(
            FaultKind.CORRUPT,
            f"{path} is damaged: {text}",
            "Stop the server, restore the file from a backup (or move it away and run "
            "`davserver locks confirm-store`)",
        )
    if name.startswith(("SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_PERM")):
        return Fault(
            FaultKind.NOT_WRITABLE,
            f"{path} cannot be written: {text}",
            "Check the disk and the file system it is on (read-only after an error? "
            "`dmesg`), the file's flags (`lsattr`) and permissions",
        )
    return Fault(FaultKind.FAILED, f"{path}: {text}", "See the error; check the file and disk")


def unwritable(path: str) -> str | None:
    """Why ``path`` cannot be written, or None (``access(2)`` first: it is cheap)."""
    if os.access(path, os.W_OK):
        return None
    if os.path.isdir(path):
        read_only = os.statvfs(path).f_flag & os.ST_RDONLY
        return "is on a read-only file system" if read_only else "is not writable"
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CLOEXEC))
    except OSError as exc:
        reasons = {
            errno.ENOENT: "does not exist",
            errno.EPERM: "is immutable or append-only (`lsattr`; `chattr -i` clears it)",
            errno.EROFS: "is on a read-only file system",
            errno.EACCES: "is not writable by this user",
        }
        return reasons.get(exc.errno or 0, exc.strerror or str(exc))
    return "is not writable"


def identity(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


class FileGuard:
    """Identity and writability of a database and its -wal and -shm files."""

    def __init__(self, path: Path, health: StoreHealth):
        self.path = path
        self.health = health
        self._wal, self._shm = f"{path}-wal", f"{path}-shm"
        self.identity = identity(path)
        self._checked_at = 0.0
        self.shm_size = 0  # the largest size of the -shm seen while in use

    def startup_problem(self) -> str | None:
        """Before opening: why an existing file of the database cannot be written."""
        for name in (str(self.path), self._wal, self._shm):
            reason = unwritable(name) if os.path.exists(name) else None
            if reason:
                return f"{name} {reason}"
        return None

    def fault(self) -> Fault | None:
        """Identity and writability of the files; None when all is well."""
        try:
            current = identity(self.path)
        except FileNotFoundError:
            return Fault(
                FaultKind.MISSING,
                f"{self.path} was deleted while the server was using it",
                RESTORE,
            )
        except OSError as exc:
            return Fault(FaultKind.FAILED, f"cannot stat {self.path}: {exc.strerror}", RESTORE)
        if current != self.identity:
            return Fault(
                FaultKind.REPLACED,
                f"{self.path} was replaced by another file while the server was using it",
                RESTORE,
            )
        shm = self._shm_fault()
        if shm is not None:
            return shm
        for name in (str(self.path), self._wal):
            reason = unwritable(name)
            # SQLite makes a missing -wal or -shm file (a fresh file has neither).
            if reason and not (name != str(self.path) and reason == "does not exist"):
                return Fault(FaultKind.NOT_WRITABLE, f"{name} {reason}", WRITABLE_AGAIN)
        return None

    def _shm_fault(self) -> Fault | None:
        """The mapped -shm is cut short or cannot be written (see the module
        docstring), or None; a missing one is fine (SQLite makes it)."""
        try:
            size = os.stat(self._shm).st_size
        except OSError:
            return None  # missing: SQLite makes it; a mapping of a deleted one stays valid
        if size < self.shm_size:
            return self._cut(size)
        self.shm_size = size
        reason = unwritable(self._shm)
        if reason and reason != "does not exist":
            return Fault(FaultKind.NOT_WRITABLE, f"{self._shm} {reason}", WRITABLE_AGAIN)
        return None

    def _cut(self, size: int) -> Fault:
        return Fault(
            FaultKind.FAILED,
            f"{self._shm} was cut to {size} bytes (from {self.shm_size}) while in use: "
            "it is SQLite's memory-mapped WAL index, and reading past its end kills "
            "the process (SIGBUS)",
            "Never truncate, delete or restore the -wal and -shm files under a running "
            "server; the server extends it again and SQLite rebuilds the index: lock "
            "operations resume by themselves within seconds",
        )

    def restore_shm(self) -> None:
        """Extend a cut -shm back to the largest size seen (with zeros: SQLite then
        rebuilds the index); never creates it and never shrinks it."""
        if not self.shm_size:
            return
        try:
            fd = os.open(self._shm, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            return  # missing or not writable: the check says so
        try:
            os.posix_fallocate(fd, 0, self.shm_size)
        except OSError:
            pass  # the check that follows reports what is wrong
        finally:
            os.close(fd)

    def check(self) -> None:
        """Before an operation: the files' identity and writability, at most every
        CHECK_INTERVAL (a request's store calls come within a few milliseconds, so
        its first call checks; see the module docstring).  The -shm before every
        operation: a cut or immutable one is a SIGBUS at the very next access."""
        shm = self._shm_fault()
        if shm is not None:
            raise self.health.fail(shm)
        now = time.monotonic()
        if now - self._checked_at < CHECK_INTERVAL:
            return
        fault = self.fault()
        if fault is not None:
            raise self.health.fail(fault)
        self._checked_at = now

    def check_identity(self) -> None:
        """In a write transaction (the write lock held): the file is still ours."""
        try:
            same = identity(self.path) == self.identity
        except OSError:
            same = False
        if not same:
            self._checked_at = 0.0
            self.check()
