"""The SQLite file under the lock and property stores: connections, schema,
generation, and transactions that go through the file guard
(:mod:`davserver.lockstore.sqlite_files`, which says why each check exists).

A connection per thread (cheroot serves requests on a thread pool and a
sqlite3 connection must not be shared between threads), WAL mode, and
``BEGIN IMMEDIATE`` write transactions.  Every operation first passes the
store's health gate (:mod:`davserver.lockstore.health`): refused at once while
the store is broken, otherwise the files are checked and SQLite's errors become
faults.
"""

from __future__ import annotations

import contextlib
import faulthandler
import sqlite3
import threading
import time
from pathlib import Path
from urllib.parse import quote

from davserver.common import pids, turns
from davserver.errors import InsufficientStorage, StartupError, StoreError, StoreUnavailable
from davserver.lockstore.base import LEGACY_ANONYMOUS_HOLDER, Role, quota_holder
from davserver.lockstore.codec import lock_from_json
from davserver.lockstore.generation import Generation, Seen, SeenFile, Verdict, describe, judge
from davserver.lockstore.health import Fault, FaultKind, StoreHealth
from davserver.lockstore.sqlite_checkpoints import BACKSTOP_PAGES, Checkpointer
from davserver.lockstore.sqlite_files import RESTORE, FileGuard, classify, identity, unwritable
from davserver.lockstore.sqlite_props_schema import PROPS_TABLES, upgrade_props
from davserver.lockstore.sqlite_queue import DEFAULT_WAIT, WriterQueue
from davserver.lockstore.sqlite_threads import ThreadConnections

# 2: the meta table (generation record); 3: locks.holder (lock quotas);
# 4: locks WITHOUT ROWID (one b-tree fewer to write per LOCK and UNLOCK);
# 5: property values by id, and the journal of subtree jobs (sqlite_props_schema).
SCHEMA_VERSION = 5
BUSY_TIMEOUT_MS = 10_000

# Keyed by the token alone (schema 4): a rowid table with a TEXT primary key is
# two b-trees (rows by rowid, and the key's index), so each LOCK or UNLOCK
# committed a page more (a grant and a release: 407 µs in SQLite, 232 µs now).
LOCKS_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
    token TEXT PRIMARY KEY,
    root TEXT NOT NULL,
    expires_at REAL,
    data TEXT NOT NULL,
    holder TEXT
) WITHOUT ROWID"""
# Made after the table, so that a table rebuilt by an upgrade gets them too.
LOCKS_INDEXES = (
    "CREATE INDEX IF NOT EXISTS locks_by_root ON locks (root)",
    "CREATE INDEX IF NOT EXISTS locks_by_expiry ON locks (expires_at)",
    "CREATE INDEX IF NOT EXISTS locks_by_holder ON locks (holder)",
)
SCHEMA = (
    LOCKS_TABLE.format(name="locks")
    + ";"
    + PROPS_TABLES
    + """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
"""
)

# Schema 3 -> 4: the rowid table rebuilt as LOCKS_TABLE, every lock kept.
_LOCKS_WITHOUT_ROWID = (
    LOCKS_TABLE.format(name="locks_v4"),
    "INSERT INTO locks_v4 (token, root, expires_at, data, holder)"
    " SELECT token, root, expires_at, data, holder FROM locks",
    "DROP TABLE locks",
    "ALTER TABLE locks_v4 RENAME TO locks",
)

_GET_GENERATION = "SELECT value FROM meta WHERE key = 'generation'"
_SET_GENERATION = "INSERT OR REPLACE INTO meta (key, value) VALUES ('generation', ?)"
_PROBE = "INSERT OR REPLACE INTO meta (key, value) VALUES ('probe', ?)"


class Database:
    """One database file: a connection per thread, its file guard, its generation."""

    def __init__(
        self,
        path: Path,
        *,
        role: Role = Role.SERVER,
        state_dir: Path | None = None,
        health: StoreHealth | None = None,
        write_wait: float = DEFAULT_WAIT,
    ) -> None:
        self.path = path
        self.key = f"sqlite://{path}"
        self.health = health or StoreHealth(self.key)
        self._local = threading.local()
        self._all = ThreadConnections()
        self._mutex = threading.Lock()
        self._closed = False
        self._pid = pids.current()
        self._epoch = 0
        self._memory = SeenFile(state_dir) if state_dir is not None else None
        self._remember = role is Role.SERVER  # only a server writes into its state dir
        self.seen: Seen | None = None
        # Write transactions of this process on the file, counted when each ends: a
        # connection's own commits do not change its ``PRAGMA data_version``, so
        # the lock store's read cache (SqliteLockStore.find) also compares this.
        self.writes = 0
        self.writers = WriterQueue(str(path), wait=write_wait, health=self.health)
        # A server checkpoints in the background; other roles (the CLI) as SQLite does.
        self.checkpoints = Checkpointer(self.checkpoint) if role is Role.SERVER else None
        self.files = self._open(role)

    # -- opening ----------------------------------------------------------------

    def _open(self, role: Role) -> FileGuard:
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
        folder = unwritable(str(self.path.parent))
        if folder:
            raise StartupError(f"lock database: {self.path.parent} {folder}")
        if self.path.exists():
            problem = FileGuard(self.path, self.health).startup_problem()
            if problem:
                raise StartupError(f"lock database: {problem}")
        if not faulthandler.is_enabled():  # a SIGBUS (see sqlite_files) leaves a log line
            faulthandler.enable()
        try:
            conn = self._connect(create=create)
            with self._mutex:
                self._all.add(conn)
            self._local.conn, self._local.epoch = conn, self._epoch
            files = FileGuard(self.path, self.health)
            self._migrate(conn, role, remembered)
        except sqlite3.Error as exc:
            raise StartupError(f"cannot open lock database {self.path}: {exc}") from exc
        return files

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
            if self.checkpoints is not None:
                conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")
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
            _add_holder_column(conn)  # schema 2 -> 3
            _rebuild_without_rowid(conn)  # schema 3 -> 4
            _rehome_anonymous(conn)  # per-address anonymous quotas (same schema)
            upgrade_props(conn)  # schema 4 -> 5
            for statement in LOCKS_INDEXES:
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
                    f"{describe(remembered, stored)}. {RESTORE}"
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
        if self._pid != pids.current():
            # A forked worker must not use connections opened before the fork
            # (SQLite forbids it); abandon them, never close them from here.
            self._local, self._pid = threading.local(), pids.current()
            self._all = ThreadConnections()
        local = self._local
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is not None and local.epoch == self._epoch:
            return conn
        if self._closed:
            raise StoreError(f"lock database {self.path} is closed")
        if conn is not None:  # opened on a file the store no longer uses
            self._discard(conn)
        conn = self._connect(create=False)
        fault = self.files.fault()  # the file opened must be the file recorded
        if fault is not None:
            conn.close()
            raise self.health.fail(fault)
        local.conn, local.epoch = conn, self._epoch
        with self._mutex:
            self._all.add(conn)
        return conn

    def _discard(self, conn: sqlite3.Connection) -> None:
        self._all.remove(conn)
        self._local.conn = None
        with contextlib.suppress(sqlite3.Error):
            conn.close()

    def checkpoint(self) -> None:
        """Copy committed pages from the WAL into the database file, waiting for
        nobody (``PASSIVE``); skipped while the file is not the one in use."""
        if self._closed or self.files.fault() is not None:
            return
        self.connection().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def close(self) -> None:
        if self.checkpoints is not None:
            self.checkpoints.stop()
        with self._mutex:
            self._closed = True
            conns = self._all.take_all()
        for conn in conns:
            conn.close()
        self.writers.close()

    # -- the guards -------------------------------------------------------------

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
            return self.health.fail(classify(exc, self.path, BUSY_TIMEOUT_MS))
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
        self.files.restore_shm()
        fault = self.files.fault()
        if fault is not None and fault.kind in (FaultKind.MISSING, FaultKind.REPLACED):
            return None if self._adopt_confirmed() else fault
        if fault is not None:
            return fault
        try:
            self._write_probe()
        except sqlite3.Error as exc:
            self._drop_thread_connection()
            return classify(exc, self.path, BUSY_TIMEOUT_MS)
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
            now_there = identity(self.path)
        except (sqlite3.Error, OSError):
            return False
        finally:
            probe.close()
        stored = Generation.from_json(row[0] if row else None)
        if stored is None or self.seen is None or judge(stored, self.seen) is not Verdict.ADOPT:
            return False
        with self._mutex:
            self._epoch += 1  # every thread reconnects, to the confirmed file
            self.files.identity = now_there
            self.files.shm_size = 0  # the confirmed file's -shm is another one
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


def _add_holder_column(conn: sqlite3.Connection) -> None:
    """Schema 2 -> 3: the quota holder of every stored lock, in a column of its own
    so that counting a user's locks is an index lookup (NULL: counts for nobody)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(locks)")}
    if "holder" in columns:
        return
    conn.execute("ALTER TABLE locks ADD COLUMN holder TEXT")
    rows = conn.execute("SELECT token, data FROM locks").fetchall()
    conn.executemany(
        "UPDATE locks SET holder = ? WHERE token = ?",
        [(_holder_of_record(data), token) for token, data in rows],
    )


def _rebuild_without_rowid(conn: sqlite3.Connection) -> None:
    """Schema 3 -> 4, keeping every lock (inside the migration's transaction)."""
    (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'locks'").fetchone()
    if "WITHOUT ROWID" in sql.upper():
        return
    for statement in _LOCKS_WITHOUT_ROWID:
        conn.execute(statement)


def _rehome_anonymous(conn: sqlite3.Connection) -> None:
    """Locks stored when all anonymous clients shared one quota holder count, from
    now on, for the address that took them (their record says it).  The column is
    derived data, so the schema version stays: an older davserver still reads it."""
    rows = conn.execute(
        "SELECT token, data FROM locks WHERE holder = ?", (LEGACY_ANONYMOUS_HOLDER,)
    ).fetchall()
    conn.executemany(
        "UPDATE locks SET holder = ? WHERE token = ?",
        [(_holder_of_record(data), token) for token, data in rows],
    )


def _holder_of_record(data: str) -> str | None:
    # An unreadable record must not stop the upgrade: reading it fails later anyway,
    # with the store's own fault (corrupt), and until then it counts for nobody.
    try:
        return quota_holder(lock_from_json(data))
    except StoreError:
        return None


class _Read:
    """The context of one read (a class: cheaper than a generator per call)."""

    __slots__ = ("conn", "db")

    def __init__(self, db: Database):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        db = self.db
        db.health.gate(db._recheck)
        try:
            db.files.check()
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
        if conn.in_transaction:
            # This thread's connection is inside a held write (SqliteLockStore.hold_if):
            # a nested write would wait for the writers' queue this thread holds.
            raise RuntimeError("a store write inside a held write of the same thread")
        # Waiting for the writers' queue (another thread or process is writing)
        # and SQLite's busy wait step aside: the turn is the process's, not the file's.
        turns.blocking(self.db.writers.__enter__)
        try:
            turns.blocking(conn.execute, "BEGIN IMMEDIATE")
            self.db.files.check_identity()
        except BaseException as exc:
            self._rollback()
            self.db.writers.__exit__()
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
        try:
            if exc is None:
                try:
                    self.conn.execute("COMMIT")
                except sqlite3.Error as failed:
                    self._rollback()
                    raise (self.db.translated(failed) or StoreError(str(failed))) from failed
                if self.db.checkpoints is not None:
                    self.db.checkpoints.written()
            else:
                self._rollback()
        finally:
            with self.db._mutex:  # never lost to a race: it only grows
                self.db.writes += 1
            self.db.writers.__exit__()
        super().__exit__(kind, exc, tb)
