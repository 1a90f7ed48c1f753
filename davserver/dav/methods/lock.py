"""LOCK and UNLOCK (RFC 4918 §9.10, §9.11), on our lock manager.

A LOCK with a body asks for a new lock; one without a body refreshes the lock
its If header names (§9.10.2).  A LOCK on an unmapped URL creates an empty
file (§7.3, §9.10.4), and creating a member is a change to the parent
collection.  The file is created first (``O_EXCL``), then the lock is inserted,
and the file is removed again when the lock is refused: a crash at any point
leaves no lock without its resource (which would answer 423 to every PUT there,
for ever with an infinite lock) — at worst an empty file nobody locked.  When
the store fails while inserting, the lock may be in it after all, so the file
is removed only once the store says that no lock is rooted there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os

from davserver.dav.lock_policy import check_infinity_lock
from davserver.dav.lock_xml import parse_lockinfo
from davserver.dav.methods.base import Dav, check_locks, check_preconditions, require_parent
from davserver.dav.methods.propfind_render import activelock
from davserver.dav.request import Request
from davserver.dav.response import LockOutcome, LockVerdict, Response
from davserver.dav.xml_body import parse_xml
from davserver.errors import (
    BodyTooLarge,
    DavServerError,
    RefreshNotFound,
    RequestError,
    StoreError,
)
from davserver.fs.containment import Place
from davserver.fs.share import Entry, parent_path
from davserver.fs.uploads import storage_error
from davserver.locking.model import Change, Depth, Lock, LockRequest
from davserver.locking.timeout import parse_timeout_header
from davserver.locking.tokens import parse_lock_token_header

XML_TYPE = 'application/xml; charset="utf-8"'


def lock_depth(depth: str | None) -> Depth:
    """LOCK Depth (§9.10.3): ``0`` or ``infinity`` (the default); ``1`` is 400."""
    if depth is None or depth == "infinity":
        return Depth.INFINITY
    if depth == "0":
        return Depth.ZERO
    raise RequestError("LOCK Depth must be 0 or infinity")


def handle_lock(request: Request, dav: Dav) -> Response:
    depth = lock_depth(request.depth)
    timeout = dav.locks.grant_timeout(parse_timeout_header(request.header("Timeout")))
    target = dav.share.lookup(request.path)
    check_preconditions(request, dav, target)
    data = request.body.read_all(dav.limits.xml_body)
    if not data.strip():
        return _refresh(request, dav, timeout)
    info = parse_lockinfo(parse_xml(data))
    if len(info.owner.encode("utf-8")) > dav.limits.lock_owner_bytes:
        raise BodyTooLarge(
            f"DAV:owner is larger than {dav.limits.lock_owner_bytes} bytes; send a shorter "
            "owner (a name or a URL)"
        )
    wanted = LockRequest(
        path=request.path,
        scope=info.scope,
        depth=depth,
        owner=info.owner,
        principal=request.principal,
        timeout=timeout,
        collection=target is not None and target.is_dir,
        # Shown to administrators (davserver locks list, the admin console).
        client=request.header("User-Agent") or "",
        address=request.client,
    )
    if target is not None:
        _check_infinity(request, dav, target, wanted)
        return _granted(request, dav, dav.locks.acquire(wanted), 200)
    return _lock_unmapped(request, dav, wanted)


def _check_infinity(request: Request, dav: Dav, target: Entry, wanted: LockRequest) -> None:
    """403 for a depth-infinity LOCK the policy keeps from this collection (§9.10.3)."""
    if wanted.depth is Depth.INFINITY:
        check_infinity_lock(dav.share, target, request.principal, dav.infinity)


def _lock_unmapped(request: Request, dav: Dav, wanted: LockRequest) -> Response:
    """The empty file first, then the lock (see the module docstring)."""
    require_parent(dav, request.path)
    # Creating the member changes the parent's membership (§7.3); locks on the new
    # URL itself are conflicts for acquire() to report (no-conflicting-lock).
    check_locks(request, dav, [Change(parent_path(request.path))])
    with dav.share.place(request.path) as place:
        created = _create_empty(place)
        if created is None:  # it appeared meanwhile: lock what is there now
            entry = dav.share.lookup(request.path)
            wanted = dataclasses.replace(wanted, collection=entry is not None and entry.is_dir)
            if entry is not None:
                _check_infinity(request, dav, entry, wanted)
            return _granted(request, dav, dav.locks.acquire(wanted), 200)
        try:
            lock = dav.locks.acquire(wanted)
        except BaseException as exc:
            _undo_create(dav, request.path, place, created, exc)
            raise
    return _granted(request, dav, lock, 201)


def _create_empty(place: Place) -> os.stat_result | None:
    """A new empty file (``O_EXCL``: never one that appeared meanwhile): its
    identity, or None when something is there already."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(place.name, flags, 0o666, dir_fd=place.dir_fd)
    except FileExistsError:
        return None
    except OSError as exc:
        raise storage_error(exc, "create the locked resource") from exc
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


def _undo_create(
    dav: Dav, path: str, place: Place, created: os.stat_result, exc: BaseException
) -> None:
    """Remove the file made for a LOCK that was not granted.  A refusal is certain;
    after a store failure (or anything unexpected) the lock may be stored all the
    same, so the file stays unless the store now says no lock is rooted at it."""
    if isinstance(exc, StoreError) or not isinstance(exc, DavServerError):
        try:
            held = dav.locks.store.find(path, False, dav.locks.clock())
        except StoreError:
            return
        if any(lock.root == path for lock in held):
            return
    now = place.lstat()
    ours = now is not None and (now.st_dev, now.st_ino) == (created.st_dev, created.st_ino)
    if ours and now is not None and now.st_size == 0:
        with contextlib.suppress(OSError):
            os.unlink(place.name, dir_fd=place.dir_fd)


def _refresh(request: Request, dav: Dav, timeout: int | None) -> Response:
    """§9.10.2: no body; the If header names the lock; same token, new timeout."""
    if request.if_header is None:
        raise RequestError("a LOCK without a body refreshes a lock: send If: (<token>)")
    # The locks covering the request-URI were read for the If header already: one
    # read, however many tokens the header submits.
    covering = dav.locks.tokens_covering(request.path, request.lock_reads)
    candidates = sorted(request.submitted & covering)
    if not candidates:
        named = next(iter(sorted(request.submitted)), "")
        raise RefreshNotFound(named, request.path)
    lock = dav.locks.refresh(candidates[0], request.path, request.principal, timeout)
    return _answer(request, dav, lock, 200, with_token=False)


def _granted(request: Request, dav: Dav, lock: Lock, status: int) -> Response:
    return _answer(request, dav, lock, status, with_token=True)


def _answer(request: Request, dav: Dav, lock: Lock, status: int, *, with_token: bool) -> Response:
    # §9.10.1: prop/lockdiscovery with the granted lock, rendered as PROPFIND renders it.
    body = (
        '<?xml version="1.0" encoding="utf-8"?>\n<D:prop xmlns:D="DAV:"><D:lockdiscovery>'
        + activelock(lock, dav.lock_href(request, lock), dav.locks.clock())
        + "</D:lockdiscovery></D:prop>"
    ).encode("utf-8")
    headers = [("Content-Type", XML_TYPE), ("Cache-Control", "no-store")]
    if with_token:
        headers.append(("Lock-Token", f"<{lock.token}>"))
    verdict = LockVerdict.GRANTED if with_token else LockVerdict.REFRESHED
    return Response(status, headers, body, lock=LockOutcome(verdict, lock.token))


def handle_unlock(request: Request, dav: Dav) -> Response:
    """§9.11: 204; 409 lock-token-matches-request-uri; 403 for another's lock."""
    token = parse_lock_token_header(request.header("Lock-Token"))
    target = dav.share.lookup(request.path)
    check_preconditions(request, dav, target)
    dav.locks.release(token, request.path, request.principal)
    return Response(204, lock=LockOutcome(LockVerdict.RELEASED, token))
