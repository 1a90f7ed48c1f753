"""open_stores: URL schemes, defaults, masking and clear startup errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from davserver.errors import ConfigError, StartupError
from davserver.lockstore import open_stores
from davserver.lockstore.memory import MemoryLockStore
from davserver.lockstore.sqlite import SqliteLockStore, SqlitePropertyStore


def test_memory(tmp_path: Path) -> None:
    stores = open_stores("memory://", state_dir=tmp_path)
    assert isinstance(stores.locks, MemoryLockStore)
    assert not stores.multiprocess_safe
    assert stores.url == "memory://"
    stores.close()


@pytest.mark.parametrize("url", [None, "", "sqlite://", "sqlite:///"])
def test_sqlite_defaults_to_the_state_dir(tmp_path: Path, url: str | None) -> None:
    state = tmp_path / "state"
    stores = open_stores(url, state_dir=state)
    assert isinstance(stores.locks, SqliteLockStore)
    assert isinstance(stores.props, SqlitePropertyStore)
    assert stores.multiprocess_safe
    assert (state / "locks.sqlite").exists()
    assert stores.url == f"sqlite://{state / 'locks.sqlite'}"
    stores.close()


def test_sqlite_absolute_path(tmp_path: Path) -> None:
    stores = open_stores(f"sqlite://{tmp_path}/x.db", state_dir=tmp_path / "unused")
    assert (tmp_path / "x.db").exists()
    stores.close()


def test_sqlite_with_a_host_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ABSOLUTE"):
        open_stores("sqlite://relative/x.db", state_dir=tmp_path)


def test_sqlite_in_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="does not exist"):
        open_stores(f"sqlite://{tmp_path}/missing/x.db", state_dir=tmp_path)


def test_sqlite_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "new.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StartupError, match="schema version 99"):
        open_stores(f"sqlite://{path}", state_dir=tmp_path)


def test_unknown_scheme(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        open_stores("postgres://u:secret@db/x", state_dir=tmp_path)
    message = str(info.value)
    assert "'postgres'" in message
    assert all(s in message for s in ("memory://", "sqlite://", "redis://", "rediss://"))
    assert "secret" not in message


def test_unreachable_redis_fails_at_startup_with_masked_url(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(StartupError) as info:
        open_stores(f"redis://:hunter2@127.0.0.1:{port}/0", state_dir=tmp_path)
    assert f"redis://:***@127.0.0.1:{port}/0" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_redis_url_prefix_and_mask(redis_url: str, tmp_path: Path) -> None:
    stores = open_stores(redis_url + "?prefix=app1:", state_dir=tmp_path)
    assert stores.multiprocess_safe
    assert stores.url == redis_url + "?prefix=app1:"
    stores.props.set("/a", "{x}y", "<y xmlns='x'/>")
    other = open_stores(redis_url + "?prefix=app2:", state_dir=tmp_path)
    assert other.props.get_all("/a") == {}
    stores.props.remove_tree("/")
    stores.close()
    other.close()
