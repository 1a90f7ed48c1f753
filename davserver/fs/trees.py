"""Tree operations that a client sees as all or nothing, at any depth, and that a
crash (``kill -9``, power loss) leaves recoverable (RFC 4918 §9.6, §9.8, §9.9).

Every step is a rename between names in open directories
(:class:`~davserver.fs.containment.Place`), so no path is resolved twice and
no tree is too deep; each hidden name says what a restart must do with it
(:mod:`davserver.fs.recovery`):

* COPY builds the destination under ``.davserver-copy-R.tmp`` beside it, flushes
  it, and renames it into place.  Over an existing destination it is first
  renamed ``.davserver-swap-R-<inode>.tmp`` and swapped with the old one in one
  ``renameat2(RENAME_EXCHANGE)``; the old one, now under that name, is removed.
  Readers see the old tree or the new one, never a mix.
* DELETE (:mod:`davserver.fs.removal`) renames the tree into a hidden folder
  ``.davserver-delete-R.tmp`` under its own name (it vanishes at once), removes
  what can be removed and puts the rest back.
* MOVE (:mod:`davserver.fs.moves`) is one ``rename(2)``.  Over an existing
  destination (where the kernel cannot simply replace it) the old one is first
  moved *into* a hidden folder ``.davserver-aside-R-move.tmp`` under its own
  name, then the source is renamed into place and the folder removed; a crash
  in between puts the old one back.  COPY does the same where the file system
  cannot exchange.

The step that makes a COPY or MOVE visible runs inside the caller's ``commit``
context (the lock check held atomically with it, RFC 4918 §7: a lock granted
while a long COPY was staged wins, and the staged copy is removed); the staging
before it and the removal of the replaced tree after it stay outside.

A source that changes under a COPY never yields a partial copy: a member that
vanishes while it is copied, or a source no longer at its name when the copy is
staged or installed (a DELETE or MOVE of it meanwhile), fails the whole COPY
with 409 Conflict and nothing installed (:class:`SourceChanged`).  A member
removed before the walk lists it is simply not there, as if the COPY ran after
the removal.

Walks use :class:`~davserver.fs.containment.DirStack`: no recursion, no long
paths, a bounded number of open descriptors.  Links and special files are
never copied; links are removed, never followed.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
from collections.abc import Callable
from contextlib import AbstractContextManager

from davserver.common import turns
from davserver.errors import Conflict
from davserver.fs.containment import (
    DIR_FLAGS,
    DirStack,
    Place,
    exchange,
    fsync_dir,
    syncfs,
)
from davserver.fs.removal import delete as delete  # re-exported: the tree operations
from davserver.fs.removal import remove_at as remove_at
from davserver.fs.removal import remove_tree as remove_tree
from davserver.fs.uploads import (
    copy_data,
    copy_times,
    is_temp_name,
    open_file,
    stage_copy,
    storage_error,
    temp_name,
)

log = logging.getLogger(__name__)

# True for a directory that is not part of the share (the state directory).
Skip = Callable[[os.DirEntry[str]], bool]
NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# A rename that could not replace what is there now.
NOT_REPLACEABLE = frozenset({errno.ENOTEMPTY, errno.EEXIST, errno.EISDIR, errno.ENOTDIR})
# Wraps the step that makes a COPY or MOVE visible (the caller's held lock check).
Commit = Callable[[], AbstractContextManager[object]]


def no_commit() -> AbstractContextManager[object]:
    return contextlib.nullcontext()


class SourceChanged(Exception):
    """The source of a COPY changed while it was copied (a member or the whole
    source vanished); nothing was installed."""


def _scan(fd: int) -> list[os.DirEntry[str]]:
    with os.scandir(fd) as scan:
        return list(scan)


# --- copying ---------------------------------------------------------------------------


def _copy_file(source_fd: int, name: str, target_fd: int) -> None:
    reader, st = open_file(source_fd, name)
    try:
        fd = os.open(name, NEW_FILE, 0o600, dir_fd=target_fd)
        try:
            copy_data(reader, fd)
            copy_times(fd, st)
        finally:
            os.close(fd)
    finally:
        os.close(reader)


def _fill(source_fd: int, target_fd: int, skip: Skip) -> list[str]:
    """Copy the files of one directory; returns the names of its directories."""
    folders = []
    for item in _scan(source_fd):
        if is_temp_name(item.name):
            continue
        try:
            if item.is_dir(follow_symlinks=False):
                if not skip(item):
                    folders.append(item.name)
            elif item.is_file(follow_symlinks=False):
                # A long COPY must not keep the other requests of its process waiting.
                with turns.waiting():
                    _copy_file(source_fd, item.name, target_fd)
        except FileNotFoundError as exc:
            raise SourceChanged(f"{item.name} disappeared while it was copied") from exc
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise  # a link swapped in meanwhile is left out like any link
    return folders


def copy_tree(source_fd: int, target_fd: int, *, skip: Skip, members: bool = True) -> None:
    """Copy the open directory ``source_fd`` into the new, empty ``target_fd`` (modes
    and times kept, links and special files left out); only the directory itself
    when ``members`` is False (COPY Depth 0, RFC 4918 §9.8.3)."""
    with DirStack(source_fd, owned=False) as src, DirStack(target_fd, owned=False) as dst:
        levels = [_fill(src.fd, dst.fd, skip) if members else []]
        while True:
            if levels[-1]:
                name = levels[-1].pop()
                if not src.enter(name):
                    _check_present(src.fd, name)
                    continue  # it became a file or a link: left out like any link
                os.mkdir(name, 0o700, dir_fd=dst.fd)  # opened up below, once filled
                if not dst.enter(name):
                    raise OSError(errno.ESTALE, "the copy changed while it was made")
                levels.append(_fill(src.fd, dst.fd, skip))
                continue
            copy_times(dst.fd, src.stat)  # after its members: they change its mtime
            levels.pop()
            if not levels:
                return
            src.leave()
            dst.leave()


def _check_present(fd: int, name: str) -> None:
    try:
        os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError as exc:
        raise SourceChanged(f"{name} disappeared while it was copied") from exc


def _check_source(source: Place, before: os.stat_result) -> None:
    """The source is still what was copied: the same inode at its name (a DELETE
    renames a tree away before removing it, so a racing one is seen here)."""
    now = source.lstat()
    if now is None or (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino):
        raise SourceChanged(f"{source.path} was deleted or replaced while it was copied")


def stage(source: Place, dir_fd: int, *, skip: Skip, members: bool) -> str:
    """A complete, flushed copy of ``source`` under a new hidden name in ``dir_fd``."""
    st = os.stat(source.name, dir_fd=source.dir_fd, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode):
        return stage_copy(source, dir_fd, "copy")
    staging = temp_name("copy")
    os.mkdir(staging, 0o700, dir_fd=dir_fd)
    try:
        reader = os.open(source.name, DIR_FLAGS, dir_fd=source.dir_fd)
        try:
            writer = os.open(staging, DIR_FLAGS, dir_fd=dir_fd)
            try:
                copy_tree(reader, writer, skip=skip, members=members)
                syncfs(writer)  # the new files are on disk before the tree is in place
            finally:
                os.close(writer)
        finally:
            os.close(reader)
    except BaseException:
        remove_at(dir_fd, staging)
        raise
    return staging


def copy(
    source: Place,
    target: Place,
    *,
    skip: Skip,
    members: bool = True,
    commit: Commit = no_commit,
) -> None:
    """COPY ``source`` to or over ``target``: staged, then put in place inside
    ``commit`` (409 :class:`~davserver.errors.Conflict` if the source changed)."""
    try:
        if source.verify is not None:
            source.verify()
        before = _source_stat(source)
        staged = stage(source, target.dir_fd, skip=skip, members=members)
        try:
            _check_source(source, before)
            install(target, staged, commit, lambda: _check_source(source, before))
        except BaseException:
            remove_at(target.dir_fd, staged)
            raise
    except SourceChanged as exc:
        raise Conflict(f"cannot copy {source.path}: {exc}; nothing was copied") from None
    except OSError as exc:
        raise storage_error(exc, "copy") from exc


def _source_stat(source: Place) -> os.stat_result:
    found = source.lstat()
    if found is None:
        raise SourceChanged(f"{source.path} was deleted before it was copied")
    return found


Cleanup = Callable[[], None] | None
"""What is left to do once a tree is in place (remove the replaced one), outside
the commit."""


def install(
    target: Place,
    staged: str,
    commit: Commit = no_commit,
    check: Callable[[], None] | None = None,
) -> None:
    """Put the hidden ``staged`` (beside ``target``) at ``target`` inside ``commit``
    (after ``check``); an existing target is swapped out in one step where the file
    system can, else moved aside first, and removed after the commit.  Afterwards
    ``staged`` no longer exists."""
    cleanup: Cleanup = None
    try:
        with commit():
            if check is not None:
                check()
            cleanup = put_in_place(target, staged)
    finally:
        if cleanup is not None:
            cleanup()


def put_in_place(target: Place, staged: str) -> Cleanup:
    if target.verify is not None:
        target.verify()
    fd = target.dir_fd
    old = target.lstat()
    new = os.stat(staged, dir_fd=fd, follow_symlinks=False)
    if old is None or (stat.S_ISREG(old.st_mode) and stat.S_ISREG(new.st_mode)):
        try:
            os.rename(staged, target.name, src_dir_fd=fd, dst_dir_fd=fd)
            fsync_dir(fd)
            return None
        except OSError as exc:
            if exc.errno not in NOT_REPLACEABLE:  # something else appeared meanwhile
                raise
    swap = temp_name("swap", f"{new.st_ino:x}")
    os.rename(staged, swap, src_dir_fd=fd, dst_dir_fd=fd)
    if exchange(fd, swap, fd, target.name):
        fsync_dir(fd)
        return lambda: remove_at(fd, swap)  # the old tree, now under the hidden name
    try:
        return set_aside(target, lambda: os.rename(swap, target.name, src_dir_fd=fd, dst_dir_fd=fd))
    except BaseException:
        remove_at(fd, swap)
        raise


def set_aside(
    target: Place, put_in_place: Callable[[], object], op: str = "copy"
) -> Callable[[], None]:
    """Move the old ``target`` into a hidden folder (under its own name) and run
    ``put_in_place``; returns the removal of that folder.  If ``put_in_place`` fails
    the old one is put back; if even that fails, the folder stays for the next start
    to put back.  The folder with the old version becomes
    ``.davserver-trash-R-<op>.tmp`` before it is removed."""
    fd = target.dir_fd
    aside = temp_name("aside", op)
    os.mkdir(aside, 0o700, dir_fd=fd)
    aside_fd = os.open(aside, DIR_FLAGS, dir_fd=fd)
    try:
        os.rename(target.name, target.name, src_dir_fd=fd, dst_dir_fd=aside_fd)
        try:
            put_in_place()
        except BaseException:
            os.rename(target.name, target.name, src_dir_fd=aside_fd, dst_dir_fd=fd)
            raise
        fsync_dir(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.rmdir(aside, dir_fd=fd)  # only if empty: the old one was put back
        raise
    finally:
        os.close(aside_fd)

    def discard() -> None:
        # One rename makes "finished" unambiguous: an aside folder found empty after
        # a crash can then only mean that nothing was moved yet.
        trash = temp_name("trash", op)
        os.rename(aside, trash, src_dir_fd=fd, dst_dir_fd=fd)
        remove_at(fd, trash)

    return discard
