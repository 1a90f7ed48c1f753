"""The SQLite file under the lock and property stores, guarded against what can
happen to a file under a running server.

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
  which is before the first store call of every request that follows a quiet
  moment; SQLite's own memory-mapped reads are off (``mmap_size = 0``).  A
  rollback journal would need no mapping, but costs an ``fsync`` per lock (5x
  slower LOCKs, measured), so WAL stays and the check runs.  What remains is a
  ``chattr +i`` landing while requests are in flight (checking before every
  call would not close that either: under load some call is always between
  its check and its transaction); ``faulthandler`` then at least logs the signal.
* **Disk errors, corruption, busy.**  Every SQLite error becomes a
  :class:`~davserver.lockstore.health.Fault` (busy is transient; the rest keep
  the store refused until a re-check with a real write passes).
"""

from __future__ import annotations

import contextlib
import errno
import faulthandler
import os
import sqlite3
import threading
import time
from pathlib import Path
from urllib.parse import quote

from davserver.errors import InsufficientStorage, StartupError, StoreError, StoreUnavailable
from davserver.lockstore.base import Role
from davserver.lockstore.generation import Generation, Seen, SeenFile, Verdict, describe, judge
from davserver.lockstore.health import Fault, FaultKind, StoreHealth

SCHEMA_VERSION = 2  # 2: the meta table (generation record)
BUSY_TIMEOUT_MS = 10_000
CHECK_INTERVAL = 0.02  # seconds between checks of the files (writes: identity always)

SCHEMA = """
CREATE TABLE IF NOT EXISTS locks (
    token TEXT PRIMARY KEY,
    root TEXT NOT NULL,
    expires_at REAL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS locks_by_root ON locks (root);
CREATE INDEX IF NOT EXISTS locks_by_expiry ON locks (expires_at);
CREATE TABLE IF NOT EXISTS props (
    path TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (path, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
"""

_GET_GENERATION = "SELECT value FROM meta WHERE key = 'generation'"
_SET_GENERATION = "INSERT OR REPLACE INTO meta (key, value) VALUES ('generation', ?)"
_PROBE = "INSERT OR REPLACE INTO meta (key, value) VALUES ('probe', ?)"

_RESTORE = (
    "Restore it (move the same file back), or run `davserver locks confirm-store` to "
    "go on with the database now at that path (the locks in the old file are then gone; "
    "a -wal or -shm file left beside it from the old one must go first, servers stopped)"
)


def classify(exc: sqlite3.Error, path: Path) -> Fault:
    """The fault an SQLite error stands for (names as in SQLite's result codes)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = f"{exc} ({name or type(exc).__name__})"
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in str(exc):
        return Fault(
            FaultKind.BUSY,
            f"{path} stayed busy for {BUSY_TIMEOUT_MS // 1000} s: {text}",
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


def _identity(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


class Database:
    """One database file: a connection per thread, the guards above, the generation."""

    def __init__(
        self,
        path: Path,
        *,
        role: Role = Role.SERVER,
        state_dir: Path | None = None,
        health: StoreHealth | None = None,
    ) -> None:
        self.path = path
        self.key = f"sqlite://{path}"
        self.health = health or StoreHealth(self.key)
        self._wal, self._shm = f"{path}-wal", f"{path}-shm"
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._mutex = threading.Lock()
        self._closed = False
        self._pid = os.getpid()
        self._epoch = 0
        self._checked_at = 0.0
        self._memory = SeenFile(state_dir) if state_dir is not None else None
        self._remember = role is Role.SERVER  # only a server writes into its state dir
        self.seen: Seen | None = None
        self._identity = self._open(role)

    # -- opening ----------------------------------------------------------------

    def _open(self, role: Role) -> tuple[int, int]:
        remembered = self._memory.load(self.key) if self._memory else None
        create = role in (Role.SERVER, Role.CONFIRM)
        if not self.path.exists():
            if not create:
                raise StartupError(f"lock database {self.path} does not exist")
            if remembered is not None and role is Role.SERVER:
                raise StartupError(
                    f"lock database {self.path} is missing, but this server used it "
                    f"(generation {remembered.id}): restore it from a backup, or run "
                    "`davserver locks confirm-store` to start with an empty one"
                )
        for name in (str(self.path.parent), str(self.path), self._wal, self._shm):
            reason = unwritable(name) if os.path.exists(name) else None
            if reason:
                raise StartupError(f"lock database: {name} {reason}")
        if not faulthandler.is_enabled():  # a SIGBUS (see above) leaves a log line
            faulthandler.enable()
        try:
            conn = self._connect(create=create)
            with self._mutex:
                self._all.append(conn)
            self._local.conn, self._local.epoch = conn, self._epoch
            identity = _identity(self.path)
            self._migrate(conn, role, remembered)
        except sqlite3.Error as exc:
            raise StartupError(f"cannot open lock database {self.path}: {exc}") from exc
        return identity

    def _connect(self, *, create: bool) -> sqlite3.Connection:
        uri = f"file:{quote(str(self.path))}?mode={'rwc' if create else 'rw'}"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if str(mode).lower() != "wal":
                raise StartupError(
                    f"lock database {self.path} cannot use WAL mode here (journal_mode "
                    f"{mode}): put it on a local file system"
                )
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA mmap_size = 0")
        except BaseException:
            conn.close()
            raise
        return conn

    def _migrate(self, conn: sqlite3.Connection, role: Role, remembered: Seen | None) -> None:
        """Create the schema; settle the generation (see the generation module)."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                raise StartupError(
                    f"{self.path} has schema version {version}; this davserver knows "
                    f"up to {SCHEMA_VERSION} — upgrade davserver or use another file"
                )
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._settle_generation(conn, role, remembered)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _settle_generation(
        self, conn: sqlite3.Connection, role: Role, remembered: Seen | None
    ) -> None:
        row = conn.execute(_GET_GENERATION).fetchone()
        stored = Generation.from_json(row[0] if row else None)
        now = time.time()
        if role is Role.SERVER:
            verdict = judge(stored, remembered)
            if verdict is Verdict.LOST:
                assert remembered is not None
                raise StartupError(
                    f"lock database {self.path} is not the one this server used: "
                    f"{describe(remembered, stored)}. {_RESTORE}"
                )
            if verdict is Verdict.FRESH:
                stored = Generation.new(now)
                conn.execute(_SET_GENERATION, (stored.to_json(),))
        if stored is None:
            return
        keep = remembered is not None and remembered.id == stored.id and role is Role.SERVER
        seen = remembered if keep and remembered is not None else Seen(stored.id, now)
        self.seen = seen
        if self._memory is not None and self._remember:
            self._memory.save(self.key, seen)

    # -- connections ------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        if self._pid != os.getpid():
            # A forked worker must not use connections opened before the fork
            # (SQLite forbids it); abandon them, never close them from here.
            self._local, self._all, self._pid = threading.local(), [], os.getpid()
        local = self._local
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is not None and local.epoch == self._epoch:
            return conn
        if self._closed:
            raise StoreError(f"lock database {self.path} is closed")
        if conn is not None:  # opened on a file the store no longer uses
            self._discard(conn)
        conn = self._connect(create=False)
        fault = self._file_fault()  # the file opened must be the file recorded
        if fault is not None:
            conn.close()
            raise self.health.fail(fault)
        local.conn, local.epoch = conn, self._epoch
        with self._mutex:
            self._all.append(conn)
        return conn

    def _discard(self, conn: sqlite3.Connection) -> None:
        with self._mutex:
            if conn in self._all:
                self._all.remove(conn)
        self._local.conn = None
        with contextlib.suppress(sqlite3.Error):
            conn.close()

    def close(self) -> None:
        with self._mutex:
            self._closed = True
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()

    # -- the guards -------------------------------------------------------------

    def _file_fault(self) -> Fault | None:
        """Identity and writability of the files; None when all is well."""
        try:
            identity = _identity(self.path)
        except FileNotFoundError:
            return Fault(
                FaultKind.MISSING,
                f"{self.path} was deleted while the server was using it",
                _RESTORE,
            )
        except OSError as exc:
            return Fault(FaultKind.FAILED, f"cannot stat {self.path}: {exc.strerror}", _RESTORE)
        if identity != self._identity:
            return Fault(
                FaultKind.REPLACED,
                f"{self.path} was replaced by another file while the server was using it",
                _RESTORE,
            )
        for name in (str(self.path), self._wal, self._shm):
            reason = unwritable(name)
            # SQLite makes a missing -wal or -shm file (a fresh file has neither).
            if reason and not (name != str(self.path) and reason == "does not exist"):
                return Fault(
                    FaultKind.NOT_WRITABLE,
                    f"{name} {reason}",
                    "Make it writable again (for the -shm file: restart the server after "
                    "that); until then lock operations are refused",
                )
        return None

    def _check(self) -> None:
        """Before an operation: the files' identity and writability, at most every
        CHECK_INTERVAL (a request's store calls come within a few milliseconds, so
        its first call checks; see the module docstring)."""
        now = time.monotonic()
        if now - self._checked_at < CHECK_INTERVAL:
            return
        fault = self._file_fault()
        if fault is not None:
            raise self.health.fail(fault)
        self._checked_at = now

    def _check_identity(self) -> None:
        """In a write transaction (the write lock held): the file is still ours."""
        try:
            same = _identity(self.path) == self._identity
        except OSError:
            same = False
        if not same:
            self._checked_at = 0.0
            self._check()

    def translated(self, exc: BaseException) -> BaseException | None:
        """What to raise instead of ``exc`` (None: raise it as it is)."""
        if isinstance(exc, StoreUnavailable):
            return None
        if isinstance(exc, sqlite3.Error):
            name = getattr(exc, "sqlite_errorname", "") or ""
            if name == "SQLITE_FULL":
                return InsufficientStorage(f"no space left for the lock database: {exc}")
            if name.startswith("SQLITE_READONLY"):
                self._drop_thread_connection()  # it may have been opened read-only
            return self.health.fail(classify(exc, self.path))
        if isinstance(exc, StoreError):  # an unreadable record (the codec)
            fault = Fault(FaultKind.CORRUPT, f"{self.path}: {exc}", "Restore it from a backup")
            return self.health.fail(fault)
        return None

    def _drop_thread_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._discard(conn)

    def _recheck(self) -> Fault | None:
        """Is a broken store sound again?  A confirmed replacement is adopted; else
        the files must pass their checks and a real write must succeed."""
        fault = self._file_fault()
        if fault is not None and fault.kind in (FaultKind.MISSING, FaultKind.REPLACED):
            return None if self._adopt_confirmed() else fault
        if fault is not None:
            return fault
        try:
            self._write_probe()
        except sqlite3.Error as exc:
            self._drop_thread_connection()
            return classify(exc, self.path)
        return None

    def _write_probe(self) -> None:
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(_PROBE, (str(time.time()),))
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _adopt_confirmed(self) -> bool:
        """Switch to the file now at the path if an administrator confirmed it."""
        try:
            probe = self._connect(create=False)
        except (sqlite3.Error, StartupError):
            return False
        try:
            row = probe.execute(_GET_GENERATION).fetchone()
            identity = _identity(self.path)
        except (sqlite3.Error, OSError):
            return False
        finally:
            probe.close()
        stored = Generation.from_json(row[0] if row else None)
        if stored is None or self.seen is None or judge(stored, self.seen) is not Verdict.ADOPT:
            return False
        with self._mutex:
            self._epoch += 1  # every thread reconnects, to the confirmed file
            self._identity = identity
            self.seen = seen = Seen(stored.id, time.time())
        if self._memory is not None and self._remember:
            self._memory.save(self.key, seen)
        return True

    # -- transactions -----------------------------------------------------------

    def read(self) -> _Read:
        """``with db.read() as conn``: a connection for reading, after the guards."""
        return _Read(self)

    def write(self) -> _Write:
        """``with db.write() as conn``: a ``BEGIN IMMEDIATE`` transaction, the file's
        identity checked once the write lock is held; committed on success."""
        return _Write(self)

    def ensure_writable(self) -> None:
        """A real (tiny) write: raises StoreUnavailable unless the store takes writes now."""
        with self.write() as conn:
            conn.execute(_PROBE, (str(time.time()),))

    def generation(self) -> Generation | None:
        with self.read() as conn:
            row = conn.execute(_GET_GENERATION).fetchone()
        return Generation.from_json(row[0] if row else None)

    def confirm(self, now: float) -> Generation:
        """Write a new, confirmed record (``davserver locks confirm-store``)."""
        record = Generation.new(now, confirmed=True)
        with self.write() as conn:
            conn.execute(_SET_GENERATION, (record.to_json(),))
        self.seen = Seen(record.id, now)
        return record


class _Read:
    """The context of one read (a class: cheaper than a generator per call)."""

    __slots__ = ("conn", "db")

    def __init__(self, db: Database):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        db = self.db
        db.health.gate(db._recheck)
        try:
            db._check()
            self.conn = db.connection()
        except (sqlite3.Error, StoreError) as exc:
            instead = db.translated(exc)
            if instead is None:
                raise
            raise instead from exc
        return self.conn

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            self.db.health.succeeded()
            return
        instead = self.db.translated(exc)
        if instead is not None:
            raise instead from exc


class _Write(_Read):
    __slots__ = ()

    def __enter__(self) -> sqlite3.Connection:
        conn = super().__enter__()
        try:
            conn.execute("BEGIN IMMEDIATE")
            self.db._check_identity()
        except BaseException as exc:
            self._rollback()
            instead = self.db.translated(exc)
            if instead is None:
                raise
            raise instead from exc
        return conn

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as failed:
                self._rollback()
                raise (self.db.translated(failed) or StoreError(str(failed))) from failed
        else:
            self._rollback()
        super().__exit__(kind, exc, tb)
