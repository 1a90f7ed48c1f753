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
trash      a tree being deleted (DELETE); with tag move or      finished
           copy: the old version of a replaced destination
aside      a folder holding the old destination of a MOVE or    put back if that
           COPY under its own name, while the new one is        name is free
           renamed into place (then it becomes trash-move or    (rolled back),
           trash-copy); empty: nothing was moved yet            else finished
=========  ===================================================  =================

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

from davserver.dav.containment import DIR_FLAGS, DirStack
from davserver.dav.share import Share, child_path
from davserver.dav.trees import remove_at
from davserver.dav.uploads import parse_temp_name

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
    outcomes: list[Outcome] = []
    folders = 0
    with DirStack(share.open_dir("/")) as stack:
        levels = [_visit(share, stack, outcomes)]
        while levels:
            if not levels[-1]:
                levels.pop()
                if levels:
                    stack.leave()
                continue
            if stack.enter(levels[-1].pop()):
                folders += 1
                levels.append(_visit(share, stack, outcomes))
    finished = sum(outcome.finished for outcome in outcomes)
    log.info(
        "recovery: checked %d folders in %.2f s; %d interrupted operation(s) finished, "
        "%d rolled back",
        folders + 1,
        time.monotonic() - started,
        finished,
        len(outcomes) - finished,
    )
    return outcomes


def _visit(share: Share, stack: DirStack, outcomes: list[Outcome]) -> list[str]:
    """Deal with the hidden names of the current folder; returns its folders to visit."""
    here = "/" + "/".join(stack.names)
    fd = stack.fd
    with os.scandir(fd) as scan:
        items = list(scan)
    folders = []
    hidden = []
    for item in items:
        parsed = parse_temp_name(item.name)
        if parsed is not None:
            hidden.append((item, *parsed))
        elif _is_share_folder(share, here, item):
            folders.append(item.name)
    # Asides first: whether their name is free must be judged before anything else moves.
    hidden.sort(key=lambda found: found[1] != "aside")
    for item, kind, tag in hidden:
        outcome = _settle(fd, here, item, kind, tag)
        outcomes.append(outcome)
        log.warning("recovery: %s", outcome.message)
        if outcome.restored:
            folders.append(outcome.path.rsplit("/", 1)[1])  # look inside it too
    return folders


def _is_share_folder(share: Share, here: str, item: os.DirEntry[str]) -> bool:
    if not item.is_dir(follow_symlinks=False) or share.is_state_entry(item):
        return False
    return not share.is_hidden(child_path(here, item.name))


def _settle(fd: int, here: str, item: os.DirEntry[str], kind: str, tag: str) -> Outcome:
    where = "the root" if here == "/" else here
    path = child_path(here, item.name)
    if kind == "aside":
        return _settle_aside(fd, here, item.name, tag)
    staged = kind == "swap" and _inode(item) == _hex(tag)  # the new tree, not yet in place
    remove_at(fd, item.name)
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


def _settle_aside(fd: int, here: str, name: str, op: str) -> Outcome:
    """The folder holds the old version of one name beside it (or nothing)."""
    what = "MOVE" if op == "move" else "COPY"
    try:
        aside_fd = os.open(name, DIR_FLAGS, dir_fd=fd)
    except NotADirectoryError:  # not ours after all
        remove_at(fd, name)
        return Outcome(child_path(here, name), False, f"removed an unknown leftover {name}")
    try:
        with os.scandir(aside_fd) as scan:
            inside = [item.name for item in scan]
        if len(inside) != 1:  # empty: cut short before anything was moved
            remove_at(fd, name)
            where = "the root" if here == "/" else here
            return Outcome(child_path(here, name), False, f"rolled back a {what} in {where}")
        old = inside[0]
        target = child_path(here, old)
        try:
            os.stat(old, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            os.rename(old, old, src_dir_fd=aside_fd, dst_dir_fd=fd)
            with contextlib.suppress(OSError):
                os.fsync(fd)
            os.rmdir(name, dir_fd=fd)
            message = f"rolled back a {what} onto {target}: the old {target} is back"
            return Outcome(target, False, message, restored=True)
    finally:
        os.close(aside_fd)
    remove_at(fd, name)
    return Outcome(target, True, f"finished a {what} onto {target}: removed the old version")


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
