"""Open the lock and property stores named by a URL (a registry keyed by scheme).

Schemes::

    memory://                          one process only (locks die with it)
    sqlite:///ABS/PATH                 one file shared by worker processes
    sqlite://  (or no URL at all)      STATE_DIR/locks.sqlite
    redis://[:password@]host:port/db   shared by processes and servers
    rediss://…                         the same over TLS; ?prefix=… sets the key prefix

Backends are imported only when their scheme is used, so ``redis`` stays an
optional dependency.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from davserver.errors import ConfigError, StartupError, StoreError
from davserver.lockstore.base import LockStore, PropertyStore

__all__ = ["LockStore", "PropertyStore", "Stores", "open_stores"]

DEFAULT_SQLITE_NAME = "locks.sqlite"


@dataclass(frozen=True)
class Stores:
    """The stores a server runs on; ``url`` is safe to log (password masked)."""

    locks: LockStore
    props: PropertyStore
    url: str
    multiprocess_safe: bool

    def close(self) -> None:
        self.locks.close()
        self.props.close()


def _open_memory(url: str, state_dir: Path) -> Stores:
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


def _open_sqlite(url: str, state_dir: Path) -> Stores:
    from davserver.lockstore.sqlite import SqliteLockStore, SqlitePropertyStore

    path = _sqlite_path(url, state_dir)
    if not path.parent.is_dir():
        raise StartupError(f"lock database directory {path.parent} does not exist")
    locks = SqliteLockStore(path)
    try:
        props = SqlitePropertyStore(path)
    except BaseException:
        locks.close()
        raise
    return Stores(locks, props, f"sqlite://{path}", multiprocess_safe=True)


def _mask(url: str) -> str:
    """The URL with any password replaced by ``***`` (for logs and banners)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _open_redis(url: str, state_dir: Path) -> Stores:
    try:
        from davserver.lockstore.redis import RedisLockStore, RedisPropertyStore, connect, ping
    except ImportError as exc:
        raise StartupError(
            f"lock store {_mask(url)} needs the redis package: pip install 'davserver[redis]'"
        ) from exc
    try:
        client, prefix = connect(url)
        ping(client)
    except (StoreError, ValueError) as exc:
        raise StartupError(f"cannot reach lock store {_mask(url)}: {exc}") from exc
    return Stores(
        RedisLockStore(client, prefix),
        RedisPropertyStore(client, prefix),
        _mask(url),
        multiprocess_safe=True,
    )


_OPENERS: dict[str, Callable[[str, Path], Stores]] = {
    "memory": _open_memory,
    "sqlite": _open_sqlite,
    "redis": _open_redis,
    "rediss": _open_redis,
}


def open_stores(url: str | None, *, state_dir: Path) -> Stores:
    """Open the stores ``url`` names (``None``: SQLite in ``state_dir``).

    Raises :class:`ConfigError` for a URL we cannot interpret and
    :class:`StartupError` when the named store cannot be opened or reached.
    """
    url = url or "sqlite://"
    scheme = urlsplit(url).scheme.lower()
    opener = _OPENERS.get(scheme)
    if opener is None:
        valid = ", ".join(f"{s}://" for s in _OPENERS)
        raise ConfigError(f"unknown lock store scheme {scheme!r} in {_mask(url)!r}; use {valid}")
    return opener(url, state_dir)
