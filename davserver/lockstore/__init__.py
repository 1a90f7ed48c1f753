"""Open the lock and property stores named by a URL (a registry keyed by scheme).

Schemes::

    memory://                          one process only (locks die with it)
    sqlite:///ABS/PATH                 one file shared by worker processes
    sqlite://  (or no URL at all)      STATE_DIR/locks.sqlite
    redis://[:password@]host:port/db   shared by processes and servers
    rediss://…                         the same over TLS; ?prefix=… sets the key prefix
    redis+sentinel://[:pw@]H:P,H:P/SERVICE/DB   the primary Redis Sentinel names
    rediss+sentinel://…                the same over TLS (davserver.lockstore.redis_url)

Backends are imported only when their scheme is used, so ``redis`` stays an
optional dependency.  A persistent store fails safe: whatever goes wrong with
it (see :mod:`davserver.lockstore.health`) answers 503, and a store that lost
its data is refused until ``davserver locks confirm-store``
(:mod:`davserver.lockstore.generation`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit, urlunsplit

from davserver.errors import ConfigError, StartupError, StoreError
from davserver.lockstore.base import LockStore, PropertyStore, Role
from davserver.lockstore.failures import FailureCounter, MemoryFailureCounter
from davserver.lockstore.generation import Generation, SeenFile
from davserver.lockstore.outbox import AdminOutbox

if TYPE_CHECKING:
    from davserver.lockstore.redis_replication import Replication

__all__ = [
    "FailureCounter",
    "LockStore",
    "OpenOptions",
    "PropertyStore",
    "Role",
    "Stores",
    "open_stores",
]

DEFAULT_SQLITE_NAME = "locks.sqlite"


class StoreControl(Protocol):
    """The generation of a persistent store (for ``davserver locks``)."""

    def generation(self) -> Generation | None:
        """The record now in the store (None: it has none — it lost its data, or no
        server has used it yet)."""
        ...

    def confirm(self, now: float) -> Generation:
        """Accept the store as it is now: write a new confirmed generation."""
        ...


@dataclass(frozen=True)
class OpenOptions:
    """How to open: who opens (:class:`Role`), where the server keeps its state,
    whether a Redis that persists nothing is accepted, and how many Redis replicas
    must confirm each write within how long (None: 1 for a sentinel URL, else 0)."""

    state_dir: Path
    role: Role = Role.SERVER
    volatile_ok: bool = False
    min_replicas: int | None = None
    replica_timeout_ms: int = 1000


@dataclass(frozen=True)
class Stores:
    """The stores a server runs on; ``url`` is safe to log (password masked)."""

    locks: LockStore
    props: PropertyStore
    url: str
    multiprocess_safe: bool
    control: StoreControl | None = None  # None: memory://, nothing to confirm
    # Failed-login counters (davserver.dav.logins.throttle), shared as widely as the locks;
    # only a server opens the shared ones, other roles get per-process counters.
    failures: FailureCounter = field(default_factory=MemoryFailureCounter)
    # Lock events of `davserver locks` commands for the servers to report
    # (davserver.lockstore.outbox); None: memory://, no command line reaches it.
    outbox: AdminOutbox | None = None

    def close(self) -> None:
        self.locks.close()
        self.props.close()


def _open_memory(url: str, options: OpenOptions) -> Stores:
    from davserver.lockstore.memory import MemoryLockStore, MemoryPropertyStore

    return Stores(MemoryLockStore(), MemoryPropertyStore(), "memory://", multiprocess_safe=False)


def _sqlite_path(url: str, state_dir: Path) -> Path:
    parts = urlsplit(url)
    if parts.netloc:
        raise ConfigError(
            f"sqlite URL must be sqlite:///ABSOLUTE/PATH, got {url!r} "
            f"(host part {parts.netloc!r} is not allowed)"
        )
    if not parts.path or parts.path == "/":
        state_dir.mkdir(parents=True, exist_ok=True)
        return state_dir / DEFAULT_SQLITE_NAME
    return Path("/" + parts.path.lstrip("/"))


@dataclass(frozen=True)
class _Control:
    """StoreControl over a backend's generation record.  Confirming writes nothing
    into a state directory: servers adopt a record confirmed after their own."""

    read: Callable[[], Generation | None]
    write: Callable[[float], Generation]

    def generation(self) -> Generation | None:
        return self.read()

    def confirm(self, now: float) -> Generation:
        return self.write(now)


def _open_sqlite(url: str, options: OpenOptions) -> Stores:
    from davserver.lockstore.sqlite import SqliteLockStore, SqlitePropertyStore
    from davserver.lockstore.sqlite_db import Database

    path = _sqlite_path(url, options.state_dir)
    if not path.parent.is_dir():
        raise StartupError(f"lock database directory {path.parent} does not exist")
    db = Database(path, role=options.role, state_dir=options.state_dir)
    control = _Control(db.generation, db.confirm)
    url = f"sqlite://{path}"
    failures: FailureCounter = MemoryFailureCounter()
    from davserver.lockstore.sqlite_outbox import SqliteOutbox

    if options.role is Role.SERVER:
        from davserver.lockstore.sqlite_failures import SqliteFailureCounter

        try:
            failures = SqliteFailureCounter(db)
            outbox = SqliteOutbox(db, create=True)
        except StoreError as exc:
            db.close()
            raise StartupError(f"cannot open lock database {path}: {exc}") from exc
    else:
        outbox = SqliteOutbox(db, create=False)
    locks, props = SqliteLockStore(db), SqlitePropertyStore(db)
    return Stores(locks, props, url, True, control, failures, outbox)


def _mask(url: str) -> str:
    """The URL with any password replaced by ``***`` (for logs and banners)."""
    from davserver.lockstore.redis_url import mask_options

    try:
        parts = urlsplit(url)._replace(query=mask_options(urlsplit(url).query))
    except ValueError:  # unsplittable (an unbalanced "["): hide all credentials
        scheme, _, rest = url.partition("://")
        base, sep, query = rest.rpartition("@")[2].partition("?")
        return f"{scheme}://{'***@' if '@' in rest else ''}{base}{sep}{mask_options(query)}"
    if parts.password is None:
        return urlunsplit(parts)
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _replication(url: str, options: OpenOptions) -> Replication:
    """The WAIT each write makes (ConfigError for a malformed sentinel URL)."""
    from davserver.lockstore.redis_replication import Replication
    from davserver.lockstore.redis_url import is_sentinel, parse_sentinel_url

    sentinel = is_sentinel(url)
    if sentinel:
        try:
            parse_sentinel_url(url)
        except ValueError as exc:
            raise ConfigError(f"lock store {_mask(url)!r}: {exc}") from None
    wanted = options.min_replicas
    wanted = (1 if sentinel else 0) if wanted is None else wanted
    return Replication(wanted, options.replica_timeout_ms)


def _open_redis(url: str, options: OpenOptions) -> Stores:
    try:
        from davserver.lockstore.redis import RedisLockStore, RedisPropertyStore, connect, ping
        from davserver.lockstore.redis_connect import check_persistence
        from davserver.lockstore.redis_guard import Guard
    except ImportError as exc:
        raise StartupError(
            f"lock store {_mask(url)} needs the redis package: pip install 'davserver[redis]'"
        ) from exc
    name = _mask(url)
    memory = SeenFile(options.state_dir)
    replication = _replication(url, options)
    try:
        client, prefix = connect(url)
        ping(client)
        if options.role in (Role.SERVER, Role.CHECK):
            check_persistence(client, name, options.volatile_ok)
        guard = Guard(client, prefix, name, replication=replication)
        guard.start(options.role, memory)
    except (StoreError, ValueError) as exc:
        raise StartupError(f"cannot reach lock store {name}: {exc}") from exc
    control = _Control(guard.current, guard.confirm)
    from davserver.lockstore.redis_failures import RedisFailureCounter

    locks = RedisLockStore(client, prefix, guard)
    props = RedisPropertyStore(client, prefix, guard)
    failures = RedisFailureCounter(client, prefix, guard)
    from davserver.lockstore.redis_outbox import RedisOutbox

    outbox = RedisOutbox(client, prefix, guard)
    return Stores(locks, props, name, True, control, failures, outbox)


_OPENERS: dict[str, Callable[[str, OpenOptions], Stores]] = {
    "memory": _open_memory,
    "sqlite": _open_sqlite,
    "redis": _open_redis,
    "rediss": _open_redis,
    "redis+sentinel": _open_redis,
    "rediss+sentinel": _open_redis,
}


def open_stores(
    url: str | None,
    *,
    state_dir: Path,
    role: Role = Role.SERVER,
    volatile_ok: bool = False,
    min_replicas: int | None = None,
    replica_timeout_ms: int = 1000,
) -> Stores:
    """Open the stores ``url`` names (``None``: SQLite in ``state_dir``) as ``role``
    (see :class:`Role`); ``volatile_ok`` accepts a Redis without persistence;
    ``min_replicas`` and ``replica_timeout_ms``: see :class:`OpenOptions`.

    Raises :class:`ConfigError` for a URL we cannot interpret and
    :class:`StartupError` when the named store cannot be opened or reached, or
    is not the store this server used (it lost its data).
    """
    url = url or "sqlite://"
    # Split by hand: urlsplit refuses some malformed hosts, which the opener reports.
    scheme = url.partition("://")[0].lower() if "://" in url else urlsplit(url).scheme.lower()
    opener = _OPENERS.get(scheme)
    if opener is None:
        valid = ", ".join(f"{s}://" for s in _OPENERS)
        raise ConfigError(f"unknown lock store scheme {scheme!r} in {_mask(url)!r}; use {valid}")
    options = OpenOptions(state_dir, role, volatile_ok, min_replicas, replica_timeout_ms)
    return opener(url, options)
