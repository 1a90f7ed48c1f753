"""COPY and MOVE (RFC 4918 §9.8, §9.9).

The Destination is parsed once (:func:`davserver.dav.request.parse_destination`)
and that one value is used for the lock check and for the operation, so no
spelling of it can make them disagree.  Order of checks: the source exists
(404), the destination is ours and writable (403/502), depth, the
destination's parent (409), Overwrite (412), conditionals and If (412), locks
on everything changed (423), then the operation.

COPY copies no locks and MOVE moves none (§7.7): the locks of a moved source
and of an overwritten destination are gone afterwards.  Dead properties travel
with the resources.  As for DELETE, the lock store must take a write just
before the files change (503 and nothing changed when it cannot).

A lock taken while the operation runs wins (§7): COPY builds its result under a
hidden name first, which can take long; the lock check is then repeated,
atomically with the rename that makes the result visible
(:meth:`~davserver.locking.manager.LockManager.guarded_write`), and the locks of
what is replaced are forgotten inside that same step.  A lock granted meanwhile
on the destination or anything below it (or, for MOVE, on the source) makes the
request fail with 423 ``DAV:lock-token-submitted`` naming it; the staged copy is
removed and the locked resource, its content and its lock stay as they were.
At the commit the destination counts as replaced whole (depth infinity),
whether it existed at the start or appeared meanwhile.

A source that changes under a COPY (a member vanishes, or the source itself is
deleted or moved away meanwhile) fails the COPY with 409 Conflict and nothing
copied, never a partial 201 (:mod:`davserver.fs.trees`).  Properties are
copied or moved after the files, outside the held step.
"""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from davserver.dav.destination import Destination
from davserver.dav.methods.base import (
    Dav,
    check_locks,
    check_preconditions,
    overwrite_changes,
    removal_changes,
    require_parent,
)
from davserver.dav.quotas import copied_rows
from davserver.dav.request import Request
from davserver.dav.response import Response
from davserver.errors import Forbidden, NotFound, PreconditionFailed, RequestError
from davserver.fs.share import Entry
from davserver.locking.model import Change, Depth, is_ancestor_or_self


def handle_copy(request: Request, dav: Dav) -> Response:
    return _transfer(request, dav, is_move=False)


def handle_move(request: Request, dav: Dav) -> Response:
    return _transfer(request, dav, is_move=True)


def _depth(request: Request, source: Entry, *, is_move: bool) -> bool:
    """Whether members go too: COPY Depth 0 copies a collection alone (§9.8.3)."""
    depth = request.depth
    if not source.is_dir:
        if depth == "1":
            raise RequestError("Depth for COPY or MOVE must be 0 or infinity")
        return True
    if depth == "1" or (is_move and depth == "0"):
        allowed = "infinity" if is_move else "0 or infinity"
        raise RequestError(f"Depth for {request.method} of a collection must be {allowed}")
    return depth != "0"


def _checked_destination(request: Request, dav: Dav, source: Entry) -> Destination:
    dest = request.destination
    assert dest is not None
    if dest.path == source.path:
        raise Forbidden("source and destination are the same resource")
    if is_ancestor_or_self(source.path, dest.path) and source.is_dir:
        raise Forbidden("a collection cannot be copied or moved into itself")
    if request.view.is_mount(dest.path):  # the share's /, a user's / or a shared folder
        raise Forbidden(f"{request.view.mount_name(dest.path)} cannot be replaced")
    return dest


def _transfer(request: Request, dav: Dav, *, is_move: bool) -> Response:
    share = dav.share
    assert request.destination is not None  # parsed (or refused) with the request
    if share.is_hidden(request.destination.path):
        raise Forbidden(f"{request.destination.path} is reserved for the server")
    source = share.lookup(request.path)
    if source is None:
        raise NotFound(f"{request.path} does not exist")
    if is_move and request.view.is_mount(source.path):
        raise Forbidden(f"{request.view.mount_name(source.path)} cannot be moved")
    dest = _checked_destination(request, dav, source)
    members = _depth(request, source, is_move=is_move)
    require_parent(dav, dest.path)
    existing = share.lookup(dest.path)
    if existing is not None and not request.overwrite:
        raise PreconditionFailed(f"{dest.path} exists and Overwrite is F")
    check_preconditions(request, dav, source)
    changes: list[Change] = overwrite_changes(dest.path, existing is not None)
    # At the commit, whatever is at the destination then is replaced whole.
    final = [c if c.path != dest.path else Change(dest.path, Depth.INFINITY) for c in changes]
    if is_move:
        changes += removal_changes(source.path)
        final += removal_changes(source.path)
    guard = check_locks(request, dav, changes, final)
    if dest.suffix:
        raise RequestError(
            f"Destination has {dest.suffix!r} after its path; names with ';' or '?' "
            "cannot be a COPY or MOVE destination here"
        )
    dav.locks.store.ensure_writable()  # see delete.py: store first, then the files
    charged = _charging(request, dav, source, dest.path, existing, is_move=is_move, members=members)

    @contextmanager
    def commit() -> Iterator[None]:
        with guard() as held:
            with charged():
                yield
            # Overwritten: as if deleted first (§9.8.4, §9.9.3); moved: locks stay behind.
            held.forget(dest.path)
            if is_move:
                held.forget(source.path)

    if is_move:
        share.move(source, dest.path, commit=commit)
    else:
        share.copy(source, dest.path, members=members, commit=commit)
    if existing is not None:
        dav.props.remove_tree(dest.path)
    if is_move:
        dav.props.move_tree(source.path, dest.path)
    else:
        _copy_properties(dav, source.path, dest.path, members=members)
    if existing is not None:
        return Response(204)
    location = dav.href(request, dest.path, collection=source.is_dir)
    return Response(201, [("Location", location)])


def _copy_properties(dav: Dav, source: str, dest: str, *, members: bool) -> None:
    if members:
        dav.props.copy_tree(source, dest)
        return
    for name, value in dav.props.get_all(source).items():
        dav.props.set(dest, name, value)


def _charging(
    request: Request,
    dav: Dav,
    source: Entry,
    dest: str,
    existing: Entry | None,
    *,
    is_move: bool,
    members: bool,
) -> Callable[[], AbstractContextManager[None]]:
    """Usage changed in the step that installs the result: a COPY charges the
    copier for every copied file, a MOVE keeps the owners; what was overwritten
    is freed.  A COPY clearly over the quota is refused before anything is copied.
    A MOVE out of a shared folder into the mover's home folder is charged like a
    COPY (and frees the writers): the writers can no longer reach those files
    to free their quota, so the mover owns them."""
    quotas = dav.quotas
    if quotas is None:
        return nullcontext
    check = (dest, existing.stat.st_ino if existing is not None else None)
    adopt = is_move and _into_home(request, source.path, dest)
    if is_move and not adopt:
        install = quotas.install(
            request.principal, check, drop=(dest,), move=(source.path, dest), what="move"
        )
        return lambda: quotas.charged(install)
    what = "move" if is_move else "copy"
    # A COPY with Depth 0 of a collection copies no members (§9.8.3).
    walked = dav.share.walk(source) if members else iter([(source, 0)])
    files = [(e.path, e.stat.st_size) for e, _ in walked if stat.S_ISREG(e.stat.st_mode)]
    if existing is None or not existing.is_dir:
        quotas.budget(request.principal, dest, sum(size for _, size in files), what=what)
    rows = copied_rows(iter(files), source.path, dest)
    drop = (dest, source.path) if adopt else (dest,)
    install = quotas.install(request.principal, check, drop=drop, add=rows, what=what)
    return lambda: quotas.charged(install)


def _into_home(request: Request, source: str, dest: str) -> bool:
    """A confined user's MOVE from outside their home folder (a shared folder:
    the only other place they reach) into it."""
    view = request.view
    if not view.confined:
        return False
    return not is_ancestor_or_self(view.root, source) and is_ancestor_or_self(view.root, dest)
