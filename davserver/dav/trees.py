"""Tree operations that a client sees as all or nothing, at any depth.

* COPY builds the destination under a hidden name (``.davserver-copy-*.tmp``)
  beside it and renames it into place; over an existing destination the two
  are swapped in one ``renameat2(RENAME_EXCHANGE)`` where the kernel and file
  system offer it, so readers see the old tree or the new one, never a mix.
* DELETE first renames the tree to a hidden name (``.davserver-trash-*.tmp``),
  then removes it: it vanishes from view at once.
* MOVE is one ``rename(2)``; over an existing destination the old one is moved
  aside first and removed after the new one is in place.

Every walk keeps its own stack instead of recursing, so a tree 10,000 levels
deep is no different from a flat one.  Hidden leftovers of a crash are removed
by :func:`cleanup_temp_files` at start (they were never visible).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import logging
import os
import shutil
import stat
from collections.abc import Callable, Iterator

from davserver.dav.uploads import atomic_copy, is_temp_name, storage_error, temp_name

log = logging.getLogger(__name__)

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_libc_name = ctypes.util.find_library("c")
_libc = ctypes.CDLL(_libc_name, use_errno=True) if _libc_name else None
_renameat2 = getattr(_libc, "renameat2", None)


def exchange(a: str, b: str) -> bool:
    """Atomically swap two paths; False when the kernel or file system cannot."""
    if _renameat2 is None:
        return False
    result = _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), a)


def _entries(directory: str) -> list[os.DirEntry[str]]:
    with os.scandir(directory) as scan:
        return list(scan)


def remove_tree(path: str) -> None:
    """Delete ``path`` (file or directory) and everything below it, iteratively;
    links are removed, never followed."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            os.unlink(path)
            return
    except FileNotFoundError:
        return
    pending: list[tuple[str, bool]] = [(path, False)]
    while pending:
        current, emptied = pending.pop()
        if emptied:
            with contextlib.suppress(FileNotFoundError):
                os.rmdir(current)
            continue
        pending.append((current, True))
        for item in _entries(current):
            if item.is_dir(follow_symlinks=False):
                pending.append((item.path, False))
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(item.path)


def delete(path: str) -> None:
    """DELETE: out of view first (one rename), then removed."""
    if not stat.S_ISDIR(os.lstat(path).st_mode):
        os.unlink(path)
        return
    trash = os.path.join(os.path.dirname(path), temp_name("trash"))
    os.rename(path, trash)
    remove_tree(trash)


def copy_tree(
    source: str, target: str, *, skip: Callable[[str], bool], members: bool = True
) -> None:
    """Copy directory ``source`` to the new path ``target`` (mode and times kept, links
    and special files left out); only the directory itself when ``members`` is False
    (COPY Depth 0, RFC 4918 §9.8.3)."""
    pending = [(source, target)]
    while pending:
        src, dest = pending.pop()
        os.mkdir(dest, 0o700)  # opened up by copystat below, once filled
        if members or src != source:
            for item in _entries(src):
                if skip(item.path) or is_temp_name(item.name):
                    continue
                child = os.path.join(dest, item.name)
                if item.is_dir(follow_symlinks=False):
                    pending.append((item.path, child))
                elif item.is_file(follow_symlinks=False):
                    _copy_file(item.path, child)
        shutil.copystat(src, dest, follow_symlinks=False)


def _copy_file(source: str, target: str) -> None:
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    with open(os.open(source, flags), "rb", buffering=0) as reader:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with open(fd, "wb", buffering=0) as writer:
            shutil.copyfileobj(reader, writer, 1024 * 1024)
    shutil.copystat(source, target, follow_symlinks=False)


def copy(source: str, target: str, *, skip: Callable[[str], bool], members: bool = True) -> None:
    """COPY ``source`` over or to ``target``: staged, then put in place."""
    try:
        if not stat.S_ISDIR(os.lstat(source).st_mode):
            if os.path.lexists(target) and stat.S_ISDIR(os.lstat(target).st_mode):
                _replace_aside(target, lambda: atomic_copy(source, target))
            else:
                atomic_copy(source, target)
            return
        staging = os.path.join(os.path.dirname(target), temp_name("copy"))
        try:
            copy_tree(source, staging, skip=skip, members=members)
            _put_in_place(staging, target)
        finally:
            remove_tree(staging)
    except OSError as exc:
        raise storage_error(exc, "copy") from exc


def _put_in_place(staging: str, target: str) -> None:
    """Rename ``staging`` to ``target``; an existing target is swapped out and removed."""
    if not os.path.lexists(target):
        os.rename(staging, target)
    elif not exchange(staging, target):
        _replace_aside(target, lambda: os.rename(staging, target))
    # After a swap the old target sits at the staging name; the caller removes it.


def _replace_aside(target: str, install: Callable[[], object]) -> None:
    """Move the old ``target`` aside (hidden), install the new one, then remove the old;
    if installing fails the old one is put back."""
    aside = os.path.join(os.path.dirname(target), temp_name("trash"))
    os.rename(target, aside)
    try:
        install()
    except BaseException:
        with contextlib.suppress(OSError):
            os.rename(aside, target)
        raise
    remove_tree(aside)


def move(source: str, target: str, *, skip: Callable[[str], bool]) -> None:
    """MOVE ``source`` to ``target`` (overwriting it when it exists)."""
    try:
        if os.path.lexists(target):
            source_is_dir = stat.S_ISDIR(os.lstat(source).st_mode)
            target_is_dir = stat.S_ISDIR(os.lstat(target).st_mode)
            if not source_is_dir and not target_is_dir:
                os.replace(source, target)  # file over file: one atomic rename
                return
            _replace_aside(target, lambda: _rename_or_copy(source, target, skip))
            return
        _rename_or_copy(source, target, skip)
    except OSError as exc:
        raise storage_error(exc, "move") from exc


def _rename_or_copy(source: str, target: str, skip: Callable[[str], bool]) -> None:
    try:
        os.rename(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:  # another file system mounted below the root
            raise
        copy(source, target, skip=skip)
        delete(source)


def _temp_entries(root: str, skip: Callable[[str], bool]) -> Iterator[str]:
    """Temporary names anywhere below ``root`` (not below them), iteratively."""
    pending = [root]
    while pending:
        try:
            entries = _entries(pending.pop())
        except OSError:
            continue
        for item in entries:
            if is_temp_name(item.name):
                yield item.path
            elif item.is_dir(follow_symlinks=False) and not skip(item.path):
                pending.append(item.path)


def cleanup_temp_files(root: str, *, skip: Callable[[str], bool]) -> int:
    """Remove what a crash left under hidden names (unfinished uploads and copies,
    trees being deleted); returns how many.  Call once at start, before serving."""
    removed = 0
    for path in list(_temp_entries(root, skip)):
        with contextlib.suppress(FileNotFoundError):
            remove_tree(path)
            removed += 1
    if removed:
        log.info(
            "removed %d unfinished upload(s), copies or deletions left under %s", removed, root
        )
    return removed
