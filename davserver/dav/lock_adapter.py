"""WsgiDAV's lock-manager interface on top of our :class:`LockManager`.

WsgiDAV still calls a lock manager for lock discovery (the
``DAV:lockdiscovery`` property), for ``DAV:supportedlock``, and when its
filesystem provider deletes or moves resources.  Every write check and every
LOCK/UNLOCK goes through :mod:`davserver.dav.request_server` instead; the
write-check methods below exist so that no WsgiDAV code path can write past a
lock, and they enforce the same rules.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote

from wsgidav.dav_error import HTTP_LOCKED, DAVError, DAVErrorCondition

from davserver.errors import LockTokenMissing
from davserver.locking.manager import LockManager
from davserver.locking.model import (
    Change,
    Depth,
    Lock,
    ancestors,
    canonical_path,
    is_ancestor_or_self,
)


def path_of(ref_url: str) -> str:
    return canonical_path(unquote(ref_url))


def ref_url_of(path: str) -> str:
    return quote(path)


def wsgidav_expire(lock: Lock, now: float) -> float:
    """``expire`` for WsgiDAV, which renders ``DAV:timeout`` as ``int(expire - time.time())``.

    Our manager's clock is the authority (it may be another process's wall clock or a
    test's fake one), so translate the seconds left on *that* clock onto ``time.time()``;
    the half second keeps the truncation from showing one second less than LOCK said.
    """
    left = lock.seconds_left(now)
    return -1 if left is None else time.time() + left + 0.5


def lock_dict(lock: Lock, now: float) -> dict[str, Any]:
    """A lock in the dict shape WsgiDAV's property code renders (DESIGN.md, "Seams")."""
    return {
        "root": ref_url_of(lock.root),
        "type": "write",
        "scope": lock.scope.value,
        "depth": "infinity" if lock.depth is Depth.INFINITY else "0",
        "owner": lock.owner.encode("utf-8"),
        "timeout": -1 if lock.timeout is None else lock.timeout,
        "expire": wsgidav_expire(lock, now),
        "token": lock.token,
        "principal": lock.principal or "",
    }


class WsgiDavLockAdapter:
    """Duck-types ``wsgidav.lock_man.lock_manager.LockManager``."""

    def __init__(self, manager: LockManager):
        self.manager = manager
        self._provider: Any = None
        # Per-thread snapshot of the locks of one PROPFIND's subtree (cheroot runs
        # one request per thread at a time): one store query instead of one per entry.
        self._snapshot = threading.local()

    @property
    def provider(self) -> Any:
        """The share's filesystem provider; used to skip roots deleted outside WebDAV."""
        return self._provider

    @provider.setter
    def provider(self, provider: Any) -> None:
        # app.py assigns every provider in WsgiDAV's map; only the share at "/" holds
        # our files (the directory browser's assets are mapped at "/:dir_browser",
        # and checking lock roots against them would hide every lock).
        if getattr(provider, "share_path", "/") in ("", "/"):
            self._provider = provider

    def __repr__(self) -> str:
        return f"WsgiDavLockAdapter({type(self.manager.store).__name__})"

    def _root_exists(self, lock: Lock) -> bool:
        if self.provider is None:
            return True
        try:
            return os.path.lexists(self.provider._loc_to_file_path(lock.root))
        except DAVError:
            return False

    @contextlib.contextmanager
    def snapshot(self, path: str) -> Iterator[None]:
        """Answer lock discovery for ``path`` and below from one read of the store."""
        locks = {lock.token: lock for lock in self.manager.discover(path)}
        locks.update((lock.token, lock) for lock in self.manager.locks_below(path))
        by_root: dict[str, list[Lock]] = {}
        for lock in locks.values():
            by_root.setdefault(lock.root, []).append(lock)
        self._snapshot.value = (path, by_root)
        try:
            yield
        finally:
            self._snapshot.value = None

    def _from_snapshot(self, path: str) -> list[Lock] | None:
        snapshot = getattr(self._snapshot, "value", None)
        if snapshot is None or not is_ancestor_or_self(snapshot[0], path):
            return None
        by_root: dict[str, list[Lock]] = snapshot[1]
        found = list(by_root.get(path, ()))
        for ancestor in ancestors(path):
            found += [lock for lock in by_root.get(ancestor, ()) if lock.covers(path)]
        return sorted(found, key=lambda lock: (lock.root, lock.token))

    def get_url_lock_list(self, url: str, *, recursive: bool = False) -> list[dict[str, Any]]:
        path = path_of(url)
        now = self.manager.clock()
        cached = None if recursive else self._from_snapshot(path)
        if cached is not None:
            # The entry being listed exists, and so do its ancestors: no stat needed.
            return [lock_dict(lock, now) for lock in cached]
        locks = self.manager.locks_below(path) if recursive else self.manager.discover(path)
        return [lock_dict(lock, now) for lock in locks if self._root_exists(lock)]

    def get_indirect_url_lock_list(
        self, url: str, *, principal: str | None = None
    ) -> list[dict[str, Any]]:
        now = self.manager.clock()
        return [
            lock_dict(lock, now)
            for lock in self.manager.discover(path_of(url))
            if principal is None or lock.principal in (None, principal)
        ]

    def get_lock(self, token: str, *, key: str | None = None) -> Any:
        lock = self.manager.get(token)
        if lock is None:
            return None
        data = lock_dict(lock, self.manager.clock())
        return data if key is None else data.get(key)

    def is_url_locked(self, url: str) -> bool:
        return bool(self.manager.discover(path_of(url)))

    def is_url_locked_by_token(self, url: str, lock_token: str) -> bool:
        lock = self.manager.get(lock_token)
        return lock is not None and lock.covers(path_of(url))

    def is_token_locked_by_user(self, token: str, principal: str) -> bool:
        lock = self.manager.get(token)
        return lock is not None and lock.principal in (None, principal or None)

    def remove_all_locks_from_url(self, url: str, *, recursive: bool = False) -> None:
        path = path_of(url)
        if recursive:
            self.manager.forget(path)
            return
        for lock in self.manager.discover(path):
            if lock.root == path:
                self.manager.store.remove(lock.token)

    def check_write_permission(
        self, *, url: str, depth: str, token_list: list[str], principal: str
    ) -> None:
        change = Change(path_of(url), Depth.INFINITY if depth == "infinity" else Depth.ZERO)
        try:
            self.manager.check_write([change], frozenset(token_list), principal or None)
        except LockTokenMissing as exc:
            condition = DAVErrorCondition("{DAV:}lock-token-submitted")
            for lock in exc.locks:
                condition.add_href(ref_url_of(lock.root))
            raise DAVError(HTTP_LOCKED, err_condition=condition) from exc

    @contextlib.contextmanager
    def write_transaction(
        self, *, url: str, token_list: list[str], principal: str, depth: str = "0"
    ) -> Iterator[None]:
        self.check_write_permission(
            url=url, depth=depth, token_list=token_list, principal=principal
        )
        yield

    # LOCK, refresh and UNLOCK are handled by DavRequestServer; WsgiDAV only calls
    # these from its own do_LOCK/do_UNLOCK, which we replace.
    def acquire(self, **kwargs: Any) -> dict[str, Any]:
        raise NotImplementedError("LOCK is handled by DavRequestServer")

    def refresh(self, token: str, *, timeout: int | None = None) -> dict[str, Any]:
        raise NotImplementedError("LOCK refresh is handled by DavRequestServer")

    def release(self, token: str) -> None:
        raise NotImplementedError("UNLOCK is handled by DavRequestServer")
