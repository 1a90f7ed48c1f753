"""At start, finish or roll back what a crash interrupted, and say so in the log.

Every change that takes more than one step works under hidden names
(``.davserver-<kind>-<random>[-<tag>].tmp``, never listed or served) whose kind
alone says what to do with them after a crash:

=========  ===================================================  =================
kind       what it is                                           at the next start
=========  ===================================================  =================
upload     a PUT body (or a copied file) not yet renamed in     rolled back
copy       a COPY being built beside its destination           rolled back
swap-I     a complete COPY about to be exchanged with the       inode I: rolled
           existing destination; after the exchange, the old    back; any other:
           one (the tag is the new tree's inode number)         finished
delete     a folder holding a tree being deleted (DELETE)       finished: what can
           under its own name; empty: nothing was moved yet     be removed is, the
                                                                rest put back if
                                                                its name is free
keep       the same folder once the DELETE's removals are       finished: put back
           over: it holds what could not be removed, or         if its name is
           nothing                                              free
trash      with tag move or copy: the old version of a          finished
           replaced destination; without: a tree being
           deleted by an older version
aside      a folder holding the old destination of a MOVE or    put back if that
           COPY under its own name, while the new one is        name is free
           renamed into place (then it becomes trash-move or    (rolled back),
           trash-copy); empty: nothing was moved yet            else finished
=========  ===================================================  =================

What recovery cannot read or remove (a folder of another user, such as a
volume's ``lost+found``; a leftover holding such a folder) is logged once as a
WARNING saying what to do, and skipped: start-up never fails because of what
the share holds.  A DELETE's remains whose name was taken meanwhile stay
hidden (and are tried again at the next start).

The hidden names sit beside their targets, so a rename of a parent directory
before the crash changes nothing.  :func:`recover` walks the whole share
(without recursion or long paths) before anything is served.  Several servers
may share one root: each holds a shared ``flock`` on the root while it runs,
and recovery needs it exclusively, so a starting server never touches the work
in progress of a running one.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from dataclasses import dataclass

from davserver.fs.containment import DIR_FLAGS, DirStack
from davserver.fs.descend import descend
from davserver.fs.removal import prune, put_back
from davserver.fs.share import Share, child_path
from davserver.fs.uploads import parse_temp_name, temp_name

log = logging.getLogger("davserver.recovery")

# Serving locks of this process, kept open until it exits (workers inherit them).
_HELD: list[int] = []


@dataclass(frozen=True)
class Outcome:
    """One interrupted operation and what the restart did about it."""

    path: str  # the share path of the hidden name (of the name put back, for an aside)
    finished: bool  # False: rolled back
    message: str
    restored: bool = False  # an old version was put back at ``path``


def recover(share: Share, *, hold: bool = False) -> list[Outcome]:
    """Finish or roll back everything a crash left under hidden names; with ``hold``,
    keep this process's serving lock (the server does; tests need not)."""
    lock_fd = os.open(share.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log.info("another davserver serves %s: its work in progress is left alone", share.root)
        outcomes: list[Outcome] = []
    else:
        outcomes = _recover(share)
    if hold:
        fcntl.flock(lock_fd, fcntl.LOCK_SH)
        _HELD.append(lock_fd)
    else:
        os.close(lock_fd)
    return outcomes


def _recover(share: Share) -> list[Outcome]:
    started = time.monotonic()
    walk = _Walk(share)
    with DirStack(share.open_dir("/")) as stack:
        # A folder it may not open (say lost+found: root's, mode 0700) is skipped.
        walk.folders = descend(
            stack, walk.visit, lambda name, exc: walk.unreadable(_here(stack, name), exc)
        )
    outcomes = walk.outcomes
    finished = sum(outcome.finished for outcome in outcomes)
    log.info(
        "recovery: checked %d folders in %.2f s; %d interrupted operation(s) finished, "
        "%d rolled back",
        walk.folders + 1,
        time.monotonic() - started,
        finished,
        len(outcomes) - finished,
    )
    return outcomes


def _here(stack: DirStack, name: str = "") -> str:
    return "/" + "/".join([*stack.names, name] if name else stack.names)


class _Walk:
    """One recovery walk: what it did, and the warnings about what it could not do."""

    def __init__(self, share: Share):
        self.share = share
        self.outcomes: list[Outcome] = []
        self.folders = 0

    def unreadable(self, path: str, exc: OSError) -> None:
        log.warning(
            "recovery: cannot read %s (%s): skipped; leftovers of interrupted operations "
            "in it, if any, are not cleaned up -- give the server's user access or ignore",
            self.share.root + path,
            exc.strerror,
        )

    def unremovable(self, path: str, exc: OSError) -> None:
        log.warning(
            "recovery: cannot remove %s (%s): left where it is -- remove it as a user who "
            "may, or give the server's user write access to its folder",
            self.share.root + path,
            exc.strerror,
        )

    def remove(self, fd: int, here: str, name: str, *, keep_top: bool = False) -> bool:
        """Remove what can be removed of ``name``; warn about the rest (True: all gone)."""
        pruned = prune(fd, name, keep_top=keep_top)
        for item in pruned.failed:
            path = child_path(here, "/".join((name, *item.names)))
            if item.unread:
                self.unreadable(path, item.error)
            else:
                self.unremovable(path, item.error)
        return pruned.complete

    def visit(self, stack: DirStack) -> list[str]:
        """Deal with the hidden names of the current folder; returns its folders to visit."""
        here = _here(stack)
        try:
            fd = stack.fd
            with os.scandir(fd) as scan:
                items = list(scan)
        except OSError as exc:
            self.unreadable(here, exc)
            return []
        folders = []
        hidden = []
        for item in items:
            parsed = parse_temp_name(item.name)
            if parsed is not None:
                hidden.append((item, *parsed))
            elif _is_share_folder(self.share, here, item):
                folders.append(item.name)
        # Asides first: whether their name is free must be judged before anything else moves.
        hidden.sort(key=lambda found: found[1] != "aside")
        for item, kind, tag in hidden:
            try:
                outcome = self.settle(fd, here, item, kind, tag)
            except OSError as exc:
                self.unremovable(child_path(here, item.name), exc)
                continue
            self.outcomes.append(outcome)
            log.warning("recovery: %s", outcome.message)
            if outcome.restored:
                folders.append(outcome.path.rsplit("/", 1)[1])  # look inside it too
        return folders

    def settle(self, fd: int, here: str, item: os.DirEntry[str], kind: str, tag: str) -> Outcome:
        where = "the root" if here == "/" else here
        path = child_path(here, item.name)
        if kind == "aside":
            return self.settle_aside(fd, here, item.name, tag)
        if kind in ("delete", "keep"):
            return self.settle_delete(fd, here, item.name, kind == "delete")
        staged = kind == "swap" and _inode(item) == _hex(tag)  # the new tree, not yet in place
        self.remove(fd, here, item.name)
        if kind == "upload":
            return Outcome(path, False, f"rolled back an unfinished upload in {where}")
        if kind == "copy":
            return Outcome(path, False, f"rolled back an unfinished COPY in {where}")
        if kind == "swap":
            if staged:
                return Outcome(path, False, f"rolled back a COPY in {where} not yet in place")
            return Outcome(path, True, f"finished a COPY in {where}: removed the replaced tree")
        if kind == "trash":
            if tag in ("move", "copy"):  # the old version of a replaced destination
                return Outcome(
                    path, True, f"finished a {tag.upper()} in {where}: removed the old version"
                )
            return Outcome(path, True, f"finished a DELETE in {where}")
        return Outcome(path, False, f"removed an unknown leftover {item.name} in {where}")

    def settle_delete(self, fd: int, here: str, name: str, removing: bool) -> Outcome:
        """A DELETE's folder: go on removing (``removing``), then put the rest back."""
        where = "the root" if here == "/" else here
        inside = _members(fd, name)
        if inside is None or len(inside) > 1:  # not ours after all
            self.remove(fd, here, name)
            return Outcome(child_path(here, name), False, f"removed an unknown leftover {name}")
        if not inside:
            os.rmdir(name, dir_fd=fd)
            if removing:  # cut short before the tree was moved in
                return Outcome(child_path(here, name), False, f"rolled back a DELETE in {where}")
            return Outcome(child_path(here, name), True, f"finished a DELETE in {where}")
        old = inside[0]
        target = child_path(here, old)
        folder_fd = os.open(name, DIR_FLAGS, dir_fd=fd)
        try:
            if removing:  # the same steps as the DELETE itself
                self.remove(folder_fd, child_path(here, name), old, keep_top=True)
                keep = temp_name("keep")
                os.rename(name, keep, src_dir_fd=fd, dst_dir_fd=fd)
                name = keep
            if _is_empty_folder(folder_fd, old):
                os.rmdir(old, dir_fd=folder_fd)
                os.rmdir(name, dir_fd=fd)
                return Outcome(target, True, f"finished a DELETE in {where}")
            try:
                put_back(folder_fd, fd, old)
            except FileExistsError:
                message = (
                    f"finished a DELETE in {where}: what could not be removed stays in "
                    f"{child_path(here, name)}, as {target} exists again; move it back by hand"
                )
                return Outcome(target, True, message)
        finally:
            os.close(folder_fd)
        os.rmdir(name, dir_fd=fd)
        message = f"finished a DELETE in {where}: what could not be removed is back at {target}"
        return Outcome(target, True, message, restored=True)

    def settle_aside(self, fd: int, here: str, name: str, op: str) -> Outcome:
        """The folder holds the old version of one name beside it (or nothing)."""
        what = "MOVE" if op == "move" else "COPY"
        inside = _members(fd, name)
        if inside is None:  # not ours after all
            self.remove(fd, here, name)
            return Outcome(child_path(here, name), False, f"removed an unknown leftover {name}")
        if len(inside) != 1:  # empty: cut short before anything was moved
            self.remove(fd, here, name)
            where = "the root" if here == "/" else here
            return Outcome(child_path(here, name), False, f"rolled back a {what} in {where}")
        old = inside[0]
        target = child_path(here, old)
        try:
            os.stat(old, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            aside_fd = os.open(name, DIR_FLAGS, dir_fd=fd)
            try:
                os.rename(old, old, src_dir_fd=aside_fd, dst_dir_fd=fd)
            finally:
                os.close(aside_fd)
            with contextlib.suppress(OSError):
                os.fsync(fd)
            os.rmdir(name, dir_fd=fd)
            message = f"rolled back a {what} onto {target}: the old {target} is back"
            return Outcome(target, False, message, restored=True)
        self.remove(fd, here, name)
        return Outcome(target, True, f"finished a {what} onto {target}: removed the old version")


def _is_share_folder(share: Share, here: str, item: os.DirEntry[str]) -> bool:
    if not item.is_dir(follow_symlinks=False) or share.is_state_entry(item):
        return False
    return not share.is_hidden(child_path(here, item.name))


def _is_empty_folder(fd: int, name: str) -> bool:
    try:
        folder_fd = os.open(name, DIR_FLAGS, dir_fd=fd)
    except OSError:
        return False
    try:
        with os.scandir(folder_fd) as scan:
            return next(scan, None) is None
    finally:
        os.close(folder_fd)


def _members(fd: int, name: str) -> list[str] | None:
    """The names in the folder ``name``; None when it is no folder."""
    try:
        folder_fd = os.open(name, DIR_FLAGS, dir_fd=fd)
    except NotADirectoryError:
        return None
    try:
        with os.scandir(folder_fd) as scan:
            return [item.name for item in scan]
    finally:
        os.close(folder_fd)


def _inode(item: os.DirEntry[str]) -> int:
    try:
        return item.stat(follow_symlinks=False).st_ino
    except OSError:
        return -1


def _hex(tag: str) -> int:
    try:
        return int(tag, 16)
    except ValueError:
        return -2
