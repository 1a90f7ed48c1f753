"""MOVE (RFC 4918 §9.9) of a file or tree: one ``rename(2)``, or, across file
systems, a copy that takes the source's place in one held step.

Within one file system a MOVE is one rename inside the caller's ``commit`` (the
lock check held atomically with it, RFC 4918 §7).  Over an existing destination
that the kernel cannot simply replace, the old one is first set aside
(:func:`davserver.fs.trees.set_aside`).

Across file systems (another file system mounted below the root, where rename
fails with EXDEV) nothing can be one step, so:

1. Every entry of the source is noted (names, inode, size, mtime), and the
   source is copied under a hidden name beside the destination, outside the
   commit (it may take long; :func:`davserver.fs.trees.stage`).
2. In one held step (``commit``): the source must be as noted — a PUT, MKCOL,
   DELETE or MOVE inside it meanwhile fails the MOVE with 409 and nothing moved,
   never a lost update — then the source is set aside (hidden folder
   ``.davserver-aside-R-move.tmp`` beside it, under its own name) and the copy
   is put in place; if that fails the source is put back.  A lock granted on
   the source or the destination before this step wins (423), and none can be
   granted during it: the source vanishes from view in the same held step in
   which the destination appears.
3. Only then, outside the commit, is the hidden source removed (what cannot
   be removed is logged and left to the next start).

Any failure before the end of step 2 leaves the source and the destination as
they were and removes the copy.  A crash before step 2 leaves a hidden copy
(rolled back at the next start); a crash during or after it leaves the source
in its aside folder, which the next start puts back if its name is free: the
source is then intact, and the destination too if it was already in place.
Nothing is lost on any fault; at worst a crash turns the MOVE into a COPY.
"""

from __future__ import annotations

import errno
import logging
import os
import stat

from davserver.errors import Conflict
from davserver.fs.containment import DIR_FLAGS, DirStack, Place, fsync_dir
from davserver.fs.descend import descend
from davserver.fs.trees import (
    Cleanup,
    Commit,
    Skip,
    SourceChanged,
    no_commit,
    put_in_place,
    remove_at,
    set_aside,
    stage,
)
from davserver.fs.uploads import is_temp_name, storage_error

log = logging.getLogger(__name__)

Mark = tuple[tuple[str, ...], int, int, int]  # names below the top, inode, size, mtime


def move(source: Place, target: Place, *, skip: Skip, commit: Commit = no_commit) -> None:
    """MOVE ``source`` to ``target`` (overwriting it when it exists); see the module
    docstring.  409 :class:`~davserver.errors.Conflict` when the source changed
    while it was copied to another file system."""
    try:
        try:
            _rename(source, target, commit)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            _move_across(source, target, skip=skip, commit=commit)
    except SourceChanged as exc:
        raise Conflict(f"cannot move {source.path}: {exc}; nothing was moved") from None
    except OSError as exc:
        raise storage_error(exc, "move") from exc


def rename_entry(source: Place, target: Place) -> None:
    """The one rename of a MOVE (EXDEV when the two are on different file systems)."""
    os.rename(source.name, target.name, src_dir_fd=source.dir_fd, dst_dir_fd=target.dir_fd)


def _rename(source: Place, target: Place, commit: Commit) -> None:
    cleanup: Cleanup = None
    try:
        with commit():
            for place in (source, target):
                if place.verify is not None:
                    place.verify()
            old = target.lstat()
            new = os.stat(source.name, dir_fd=source.dir_fd, follow_symlinks=False)
            if old is None or (stat.S_ISREG(old.st_mode) and stat.S_ISREG(new.st_mode)):
                rename_entry(source, target)  # one atomic rename (file over file replaces it)
            else:
                cleanup = set_aside(target, lambda: rename_entry(source, target), "move")
            fsync_dir(target.dir_fd)
            fsync_dir(source.dir_fd)
    finally:
        if cleanup is not None:
            cleanup()


def _move_across(source: Place, target: Place, *, skip: Skip, commit: Commit) -> None:
    before = fingerprint(source, skip)
    staged = stage(source, target.dir_fd, skip=skip, members=True)
    replaced: list[Cleanup] = []
    discard: Cleanup = None
    try:
        with commit():
            for place in (source, target):
                if place.verify is not None:
                    place.verify()
            if fingerprint(source, skip) != before:
                raise SourceChanged(f"{source.path} changed while it was copied")
            discard = set_aside(
                source, lambda: replaced.append(put_in_place(target, staged)), "move"
            )
            fsync_dir(source.dir_fd)
    except BaseException:
        if discard is None:  # nothing moved: the source is back, the copy goes
            remove_at(target.dir_fd, staged)
        raise
    finally:
        # The move is done once the source is aside: what is left is removing the
        # hidden old versions, which nobody can see or lock any more.
        for cleanup in [*replaced, discard]:
            _finish(cleanup, source, target)


def _finish(cleanup: Cleanup, source: Place, target: Place) -> None:
    if cleanup is None:
        return
    try:
        cleanup()
    except OSError as exc:
        log.warning(
            "MOVE of %s to %s across file systems is done, but a hidden old version "
            "could not be removed (%s); the next start removes it",
            source.path,
            target.path,
            exc,
        )


def fingerprint(source: Place, skip: Skip) -> list[Mark]:
    """Every entry of the source: the names below it, inode, size and mtime (a
    PUT replaces a file by a new inode; a new or removed member changes the list)."""
    st = source.lstat()
    if st is None:
        raise SourceChanged(f"{source.path} was deleted before it was moved")
    marks: list[Mark] = [((), st.st_ino, st.st_size, st.st_mtime_ns)]
    if not stat.S_ISDIR(st.st_mode):
        return marks
    with DirStack(os.open(source.name, DIR_FLAGS, dir_fd=source.dir_fd)) as stack:
        descend(stack, lambda here: _note(here, skip, marks), _unreadable)
    return sorted(marks)


def _unreadable(name: str, exc: OSError) -> None:
    """A folder of the source that cannot be opened: the move cannot vouch for it."""
    raise exc


def _note(stack: DirStack, skip: Skip, marks: list[Mark]) -> list[str]:
    """Note the members of the current directory; returns its folders to visit."""
    names = tuple(stack.names)
    folders = []
    with os.scandir(stack.fd) as scan:
        for item in scan:
            if is_temp_name(item.name):
                continue
            try:
                st = item.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # gone: the second look sees the difference
            if stat.S_ISDIR(st.st_mode):
                if skip(item):
                    continue
                folders.append(item.name)
            marks.append(((*names, item.name), st.st_ino, st.st_size, st.st_mtime_ns))
    return folders
