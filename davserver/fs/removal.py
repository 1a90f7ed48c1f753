"""Removing trees: everything that can go goes, and what cannot is named, never
raised half way (RFC 4918 §9.6.1).

:func:`prune` removes a tree bottom-up without recursion and without long paths
(:class:`~davserver.fs.containment.DirStack`), links removed, never followed.
Whatever it cannot remove — a file in a folder the server's user may not
change, a folder it may not read — stays with all its ancestors, and is
reported as an :class:`Unremoved` with the error; the ancestors that stayed
only because of it are not (§9.6.1: their failure follows from their member's).

:func:`delete` is DELETE: a folder is first renamed, under its own name, into a
hidden folder ``.davserver-delete-R.tmp`` beside it (it leaves the view in that
one rename) and pruned there, all but its own top; once the walk is over the
hidden folder is renamed ``.davserver-keep-R.tmp``, and then the emptied top is
removed, or what could not be removed renamed back to its name, and the hidden
folder removed.  So an empty ``delete`` folder means that nothing happened
yet, and a ``keep`` folder holding an empty folder that it was all removed.  A
crash at any moment leaves one of those two hidden folders, and
:mod:`davserver.fs.recovery` finishes the job from either (the kind says
whether to go on removing or only to put back).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from davserver.common import turns
from davserver.fs.containment import DIR_FLAGS, DirStack, Place, fsync_dir, rename_noreplace
from davserver.fs.uploads import storage_error, temp_name

log = logging.getLogger(__name__)

# Entered exactly around the step that makes a deleted tree vanish (the lock
# store's atomic check, wired by the method layer).
Commit = Callable[[], AbstractContextManager[object]]
Names = tuple[str, ...]


@dataclass(frozen=True)
class Unremoved:
    """An entry a removal could not remove: its names below the top (empty: the
    top itself) and the error; ``unread``: a folder whose members were not even
    listed (nothing below it was touched)."""

    names: Names
    error: OSError
    folder: bool = False
    unread: bool = False


@dataclass
class Pruned:
    """What a removal did: ``removed`` lists the topmost removed entries (``[()]``:
    all of it), ``failed`` what stayed and why."""

    removed: list[Names] = field(default_factory=list)
    failed: list[Unremoved] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.failed


@dataclass
class _Level:
    """One folder of the walk: its folders still to visit, its members removed."""

    folders: list[str]
    removed: list[str] = field(default_factory=list)
    kept: bool = False  # something below it stays, so it stays


def _clear(fd: int, names: Names, failed: list[Unremoved]) -> _Level:
    """Unlink the non-directories of ``fd``; the level with its directories to visit."""
    # A long DELETE must not keep the other requests of its process waiting.
    with turns.waiting():
        return _clear_folder(fd, names, failed)


def _clear_folder(fd: int, names: Names, failed: list[Unremoved]) -> _Level:
    with os.scandir(fd) as scan:
        items = list(scan)
    level = _Level([])
    for item in items:
        if item.is_dir(follow_symlinks=False):
            level.folders.append(item.name)
            continue
        try:
            os.unlink(item.name, dir_fd=fd)
        except FileNotFoundError:
            pass
        except OSError as exc:
            failed.append(Unremoved((*names, item.name), exc))
            level.kept = True
            continue
        level.removed.append(item.name)
    return level


def _remove_entry(fd: int, name: str, names: Names, level: _Level, pruned: Pruned) -> None:
    """Remove ``name`` in ``fd`` that could not be entered (unreadable, or no longer
    a folder): unlink it, or rmdir it if it is empty."""
    error: OSError | None = None
    try:
        os.unlink(name, dir_fd=fd)
    except FileNotFoundError:
        return
    except OSError as exc:
        error = exc
    if error is not None:
        try:
            os.rmdir(name, dir_fd=fd)
        except FileNotFoundError:
            return
        except OSError as exc:
            unread = exc.errno == errno.ENOTEMPTY
            folder = unread or error.errno in (errno.EISDIR, errno.EPERM)
            if folder and not unread:
                error = exc  # a folder: why rmdir failed is the reason
            pruned.failed.append(Unremoved((*names, name), error, folder, unread))
            level.kept = True
            return
    level.removed.append(name)


def _walk(stack: DirStack, pruned: Pruned) -> _Level:
    """Prune below the top of ``stack``; returns the top's level."""
    levels = [_clear(stack.fd, (), pruned.failed)]
    while True:
        level = levels[-1]
        if level.folders:
            child = level.folders.pop()
            try:
                entered = stack.enter(child)
            except OSError as exc:  # may not read it: it can go only if empty
                _unreadable(stack.fd, child, tuple(stack.names), exc, level, pruned)
                continue
            if entered:
                levels.append(_clear(stack.fd, tuple(stack.names), pruned.failed))
            else:  # it became a file or a link meanwhile
                _remove_entry(stack.fd, child, tuple(stack.names), level, pruned)
            continue
        levels.pop()
        if not levels:
            return level
        names = tuple(stack.names)
        gone = stack.leave()
        _settle_folder(stack.fd, gone, names, level, levels[-1], pruned)


def _unreadable(
    fd: int, name: str, names: Names, denied: OSError, level: _Level, pruned: Pruned
) -> None:
    """A folder the walk may not open stays, even if it is empty: the server's user
    cannot see what it holds, and the kernel would let it remove an empty one that
    is not its own (a volume's ``lost+found``, which fsck needs)."""
    if _is_dir(fd, name) is None:
        return
    pruned.failed.append(Unremoved((*names, name), denied, folder=True, unread=True))
    level.kept = True


def _settle_folder(
    fd: int, name: str, names: Names, level: _Level, parent: _Level, pruned: Pruned
) -> None:
    """After its members: a folder goes if they all went, else stays with what it kept."""
    if not level.kept:
        try:
            os.rmdir(name, dir_fd=fd)
        except FileNotFoundError:
            pass
        except OSError as exc:
            pruned.failed.append(Unremoved(names, exc, folder=True))
            level.kept = True
    if level.kept:
        parent.kept = True
        pruned.removed.extend((*names, member) for member in level.removed)
    else:
        parent.removed.append(name)


def _is_dir(fd: int, name: str) -> bool | None:
    """None when it is gone."""
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return None


def _is_folder_to_walk(dir_fd: int, name: str, pruned: Pruned) -> bool:
    """Unlink ``name`` if it is a file or a link (one step); True for a folder."""
    try:
        os.unlink(name, dir_fd=dir_fd)
        pruned.removed.append(())
        return False
    except FileNotFoundError:
        return False
    except OSError as exc:
        folder = _is_dir(dir_fd, name)
        if folder is False:
            pruned.failed.append(Unremoved((), exc))
        return bool(folder)


def prune(dir_fd: int, name: str, *, keep_top: bool = False) -> Pruned:
    """Remove ``name`` in ``dir_fd`` and everything below it that can be removed;
    never raises for what cannot (it is in the result).  Links are removed, never
    followed.  ``keep_top``: a folder ``name`` itself stays, emptied (the caller
    removes it after a step of its own)."""
    pruned = Pruned()
    if not (keep_top and _is_dir(dir_fd, name)) and not _is_folder_to_walk(dir_fd, name, pruned):
        return pruned
    top = _Level([])
    try:
        stack = DirStack(os.open(name, DIR_FLAGS, dir_fd=dir_fd))
    except FileNotFoundError:
        return pruned
    except OSError as exc:
        _unreadable(dir_fd, name, (), exc, top, pruned)
    else:
        with stack:
            try:
                level: _Level | None = _walk(stack, pruned)
            except OSError as exc:  # the tree changed under the walk: the rest stays
                pruned.failed.append(Unremoved(tuple(stack.names), exc, folder=True))
                level = None
        if level is not None and keep_top and not level.kept:
            top.removed.append(name)  # all but the folder itself
        elif level is not None:
            _settle_folder(dir_fd, name, (), level, top, pruned)
    if top.removed:
        pruned.removed = [()]
    return pruned


def remove_at(dir_fd: int, name: str) -> None:
    """Delete ``name`` in ``dir_fd`` and everything below it; links are removed,
    never followed.  What cannot be removed raises (the first error), after
    everything else that could be was removed."""
    pruned = prune(dir_fd, name)
    if pruned.failed:
        raise pruned.failed[0].error


def remove_tree(path: str) -> None:
    """:func:`remove_at` for a path (the path of the top only needs to fit PATH_MAX)."""
    parent, name = os.path.split(os.path.abspath(path))
    fd = os.open(parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        remove_at(fd, name)
    finally:
        os.close(fd)


# --- DELETE ----------------------------------------------------------------------------


@contextlib.contextmanager
def _unguarded() -> Iterator[None]:
    yield


def delete(place: Place, commit: Commit | None = None) -> Pruned:
    """DELETE ``place`` (RFC 4918 §9.6): a file in one unlink, a folder as described
    above; ``commit`` is entered exactly around the step that makes it vanish.
    Raises (as a DavServerError) only when nothing was changed: a file that cannot
    be removed, a folder that cannot be moved out of view (its members cannot be
    removed either: the server's user may not change it) and is not empty."""
    guard = commit or _unguarded
    try:
        if not _is_dir(place.dir_fd, place.name):
            with guard():
                os.unlink(place.name, dir_fd=place.dir_fd)
            fsync_dir(place.dir_fd)
            return Pruned([()])
        return _delete_tree(place, guard)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise storage_error(exc, f"delete {place.path}") from exc


def _delete_tree(place: Place, guard: Commit) -> Pruned:
    fd, name = place.dir_fd, place.name
    work = temp_name("delete")
    os.mkdir(work, 0o700, dir_fd=fd)
    try:
        work_fd = os.open(work, DIR_FLAGS, dir_fd=fd)
    except BaseException:
        os.rmdir(work, dir_fd=fd)
        raise
    try:
        try:
            with guard():
                moved = _out_of_view(fd, name, work_fd)
        except BaseException:
            os.rmdir(work, dir_fd=fd)
            raise
        fsync_dir(fd)
        if not moved:  # it was empty and is gone
            os.rmdir(work, dir_fd=fd)
            return Pruned([()])
        pruned = prune(work_fd, name, keep_top=True)
        # The walk is over: from now on what the folder holds only goes back (or
        # goes, if it is the tree's emptied top).
        keep = temp_name("keep")
        os.rename(work, keep, src_dir_fd=fd, dst_dir_fd=fd)
        if pruned.complete:
            with contextlib.suppress(FileNotFoundError):
                os.rmdir(name, dir_fd=work_fd)
        elif not _put_back_or_keep(place, work_fd, keep):
            return pruned
    finally:
        os.close(work_fd)
    os.rmdir(keep, dir_fd=fd)
    fsync_dir(fd)
    return pruned


def _put_back_or_keep(place: Place, work_fd: int, keep: str) -> bool:
    """Put what stayed back at ``place``; False when its name was taken meanwhile."""
    try:
        put_back(work_fd, place.dir_fd, place.name)
    except FileExistsError:
        log.warning(
            "DELETE of %s: a new %s was made while it was being deleted, so what could "
            "not be removed stays hidden in %s; the next start puts it back once the "
            "name is free",
            place.path,
            place.path,
            keep,
        )
        return False
    return True


def _out_of_view(fd: int, name: str, work_fd: int) -> bool:
    """Rename the folder into the hidden one (True).  A folder the server's user may
    not change cannot move (its ``..`` would change), but goes if it is empty and
    readable (False); one it may not read stays (see :func:`_unreadable`)."""
    try:
        os.rename(name, name, src_dir_fd=fd, dst_dir_fd=work_fd)
        return True
    except PermissionError:
        try:
            os.close(os.open(name, DIR_FLAGS, dir_fd=fd))
        except PermissionError:
            raise PermissionError(errno.EACCES, "the server's user may not read it", name) from None
        try:
            os.rmdir(name, dir_fd=fd)
        except OSError:
            raise PermissionError(
                errno.EACCES, "the server's user may not change its members", name
            ) from None
    return False


def put_back(work_fd: int, fd: int, name: str) -> None:
    """What a DELETE could not remove goes back under its name, unless a new entry
    took the name meanwhile (``FileExistsError``: it stays hidden, and the next
    start tries again)."""
    rename_noreplace(work_fd, name, fd, name)
    fsync_dir(fd)
