"""Home folders (``user_root``): each user's ``/`` is a folder of their own.

With ``user_root: users/{user}`` alice's ``/a.txt`` is the share's
``/users/alice/a.txt``.  The translation happens at the boundary, in both
directions, through one :class:`UserView` carried on the request:

* the HTTP adapter maps the request path to the real path once
  (:meth:`UserView.to_real`); the Destination of a COPY or MOVE and the
  resources an If header names are in the user's view too and mapped the same
  way.  ``..`` is resolved inside the view before mapping, so no spelling
  reaches past the user's root;
* everything shown to the user — hrefs, Location, lock roots, the listing, the
  messages of refusals — is mapped back (:meth:`UserView.to_view`,
  :meth:`UserView.error`).

The lock store, the permission rules and the file system keep real paths, so
administrators, the admin console, its API and the CLI see real paths, and a
freeze on ``/users`` covers every home folder (shown to alice as ``/``).
Administrators (``admins``) are not confined: their ``/`` is the share's.

A folder is created on the user's first request, as the server's user, mode
0700, under a temporary name and renamed into place, so it appears complete
or not at all, and two first requests at once make one folder.  Only a name
that is one safe path segment gets a folder: principals come from htpasswd,
LDAP or a proxy's header, and a name such as ``..`` or ``a/b`` is refused (403).
Anonymous requests are refused (401): there is no one to give a folder to.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import os
import re
import secrets
import weakref
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from davserver.config.checks import PLACEHOLDER, overlap, shared_problem, template_problem
from davserver.dav.logins.basic import REALM
from davserver.errors import (
    DavServerError,
    Forbidden,
    FreezeNotReleasable,
    Frozen,
    LockBroken,
    LockConflict,
    LockNotFound,
    LockTokenMissing,
    Unauthenticated,
)
from davserver.fs.containment import rename_noreplace
from davserver.locking.model import Lock

if TYPE_CHECKING:
    from davserver.dav.destination import Destination

log = logging.getLogger(__name__)

NAME_MAX_BYTES = 255
DIR_OPEN = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
ANONYMOUS = "log in: every user of this server has a home folder of their own (user_root)"


def name_problem(name: str) -> str | None:
    """Why a principal cannot name a folder (None: it can): one path segment,
    not hidden, no control characters, at most 255 bytes."""
    if not name or name.startswith(".") or "/" in name or "\\" in name:
        return "it is empty, starts with '.' or contains a slash"
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        return "it contains control characters"
    if len(name.encode("utf-8", "surrogatepass")) > NAME_MAX_BYTES:
        return f"it is longer than {NAME_MAX_BYTES} bytes"
    return None


@dataclass(frozen=True)
class UserView:
    """The share as one user sees it: ``root`` (a canonical real path) is their ``/``.

    The identity view (``root == "/"``) is what everyone gets without
    ``user_root``, and administrators with it.
    """

    root: str = "/"
    # Folders every user sees at the same path inside their root (shared_folders).
    shared: tuple[str, ...] = ()
    # Read for every href of a listing: a field, not a property.
    confined: bool = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "confined", self.root != "/")

    def to_real(self, path: str) -> str:
        """A canonical path of the user's view as a path of the share."""
        if not self.confined:
            return path
        if self.shared and self.shared_folder(path) is not None:
            return path
        return self.root if path == "/" else self.root + path

    def shared_folder(self, path: str) -> str | None:
        """The shared folder ``path`` is in (or is), None when it is in none."""
        for folder in self.shared:
            if path == folder or path.startswith(folder + "/"):
                return folder
        return None

    def is_mount(self, path: str) -> bool:
        """A real path the user sees as their ``/`` or a shared folder: it cannot
        be deleted, moved or replaced through this view."""
        return path == self.root or path in self.shared

    def shadowed(self) -> frozenset[str]:
        """Real paths in the user's root that a shared folder's name hides."""
        return frozenset(self.root + folder for folder in self.shared)

    def mount_name(self, path: str) -> str:
        return "the root collection" if path == self.root else f"the shared folder {path}"

    def to_view(self, path: str) -> str:
        """A real path as the user names it; the folders above their root (a
        freeze on ``/users``) are their ``/``, and so is anything outside it,
        which never names a resource they can reach."""
        if not self.confined:
            return path
        if path.startswith(self.root) and path[len(self.root) : len(self.root) + 1] in ("", "/"):
            return path[len(self.root) :] or "/"
        if self.shared and self.shared_folder(path) is not None:
            return path
        return "/"

    def destination(self, destination: Destination) -> Destination:
        return dataclasses.replace(destination, path=self.to_real(destination.path))

    def lock(self, lock: Lock) -> Lock:
        """The lock with its root in the view (for rendering; never stored)."""
        if not self.confined:
            return lock
        root = self.to_view(lock.root)
        collection = lock.collection or (root == "/" and lock.root != "/")
        return dataclasses.replace(lock, root=root, collection=collection)

    def locks(self, locks: Iterable[Lock]) -> tuple[Lock, ...]:
        return tuple(self.lock(lock) for lock in locks)

    def error(self, exc: DavServerError) -> DavServerError:
        """The refusal as the user reads it: lock roots and paths in the view."""
        if not self.confined:
            return exc
        # The lock errors are rebuilt from their data, so message and data agree.
        if isinstance(exc, Frozen):
            return type(exc)(self.locks(exc.locks), self.to_view(exc.path))
        if isinstance(exc, LockConflict):
            return type(exc)(self.locks(exc.locks), self.to_view(exc.path), below=exc.below)
        if isinstance(exc, LockTokenMissing):
            return type(exc)(self.locks(exc.locks))
        if isinstance(exc, LockNotFound):
            return type(exc)(exc.token, self.to_view(exc.path))
        if isinstance(exc, FreezeNotReleasable):
            return type(exc)(self.lock(exc.lock))
        if isinstance(exc, LockBroken):
            return type(exc)(self.lock(exc.tombstone))
        return self._reworded(exc)

    def _reworded(self, exc: DavServerError) -> DavServerError:
        """Any other refusal names at most the request's own paths, all inside
        the root: its message gets them in the view, its data stays."""
        text = str(exc)
        shown = self._pattern().sub(lambda m: "" if m.group(1) else "/", text)
        if shown == text:
            return exc
        copy = type(exc).__new__(type(exc), shown)
        copy.__dict__.update(exc.__dict__)
        return copy

    def _pattern(self) -> re.Pattern[str]:
        # The root as a whole path: not /users/alicex, not part of a longer path.
        return re.compile(r"(?<![\w/.])" + re.escape(self.root) + r"(?=(/)|[^\w.-]|$)")


IDENTITY = UserView()


class UserRoots:
    """``user_root``: the view of each principal, their folder made on first use."""

    def __init__(
        self,
        template: str,
        root: str,
        *,
        admins: Container[str] = frozenset(),
        create: bool = True,
        shared: Iterable[str] = (),
    ):
        problem = template_problem(template)
        if problem is not None:
            raise ValueError(f"user_root {problem}")
        self.shared = tuple(shared)
        for folder in self.shared:
            if (why := shared_problem(folder, template)) is not None:
                raise ValueError(f"shared_folders: {folder}: {why}")
        self.template = template
        self.root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        weakref.finalize(self, os.close, self.root_fd)
        self.admins = admins  # names, or the server's Admins (ldap.admin_group too)
        self.create = create

    def view(self, principal: str | None) -> UserView:
        """The principal's view, their folder made if it is missing; 401 for
        anonymous requests, 403 for a name that cannot be a folder."""
        if principal is None:
            raise Unauthenticated(ANONYMOUS, REALM)
        if principal in self.admins:
            return IDENTITY
        problem = name_problem(principal)
        if problem is not None:
            raise Forbidden(f"the user name {principal!r} cannot name a home folder: {problem}")
        relative = self.template.replace(PLACEHOLDER, principal)
        home = "/" + relative
        if any(overlap(home, folder) for folder in self.shared):
            raise Forbidden(f"the home folder of {principal!r} would be a shared folder")
        if self.create:
            self.ensure(relative)
        return UserView(home, self.shared)

    def ensure(self, relative: str) -> None:
        """The folder exists (one lstat when it does), else is made."""
        try:
            st = os.stat(relative, dir_fd=self.root_fd, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            raise self._unusable(relative, exc) from exc
        if st is not None and st.st_mode & 0o170000 == 0o040000:
            return
        fd = os.dup(self.root_fd)
        try:
            for name in relative.split("/"):
                child = self._enter(fd, name, relative)
                os.close(fd)
                fd = child
        finally:
            os.close(fd)

    def _enter(self, parent: int, name: str, relative: str) -> int:
        """The folder ``name`` of ``parent`` opened (made when missing, never
        through a link)."""
        try:
            try:
                return os.open(name, DIR_OPEN, dir_fd=parent)
            except FileNotFoundError:
                made(parent, name)
                log.info("made the home folder %s (user_root)", relative)
                return os.open(name, DIR_OPEN, dir_fd=parent)
        except OSError as exc:
            raise self._unusable(relative, exc) from exc

    def _unusable(self, relative: str, exc: OSError) -> Forbidden:
        log.warning("home folder /%s cannot be used: %s", relative, exc)
        why = "it is not a folder" if exc.errno in (errno.ENOTDIR, errno.ELOOP) else exc.strerror
        return Forbidden(f"your home folder cannot be used: {why}")


def made(parent: int, name: str) -> None:
    """Make the folder complete (mode 0700 whatever the umask) under a temporary
    name, then rename it into place; a folder someone made meanwhile stays."""
    temp = f".davserver-home-{secrets.token_hex(8)}.tmp"
    os.mkdir(temp, 0o700, dir_fd=parent)
    try:
        fd = os.open(temp, DIR_OPEN, dir_fd=parent)
        try:
            os.fchmod(fd, 0o700)
        finally:
            os.close(fd)
        rename_noreplace(parent, temp, parent, name)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.rmdir(temp, dir_fd=parent)
        if not isinstance(exc, FileExistsError):
            raise


def summary(template: str, admins: Sequence[str], users: Sequence[str] | None) -> list[str]:
    """What ``check-config`` says about home folders: where they are, who sees
    the whole share, and each known user who cannot have one (403 then)."""
    whole = f"admins ({', '.join(admins)}) see the whole share" if admins else "nobody sees it all"
    lines = [f"user_root: each user's / is ROOT/{template}, made on first login; {whole}"]
    for name in users or ():
        problem = None if name in admins else name_problem(name)
        if problem is not None:
            lines.append(f"warning: user {name!r} cannot have a home folder ({problem}): 403")
    return lines


def user_roots(
    template: str | None,
    root: str,
    admins: Container[str],
    *,
    readonly: bool,
    shared: Iterable[str] = (),
) -> UserRoots | None:
    """The ``user_root`` setting, or None when it is off (the default); a
    read-only share makes no folders."""
    if not template:
        return None
    return UserRoots(template, root, admins=admins, create=not readonly, shared=shared)
