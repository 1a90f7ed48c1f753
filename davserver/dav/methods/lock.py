"""LOCK and UNLOCK (RFC 4918 §9.10, §9.11), on our lock manager.

A LOCK with a body asks for a new lock; one without a body refreshes the lock
its If header names (§9.10.2).  A LOCK on an unmapped URL creates an empty
file, but only once the lock is granted (§7.3, §9.10.4): a refused LOCK leaves
nothing behind, and creating a member is a change to the parent collection.
"""

from __future__ import annotations

import os

from davserver.dav.lock_xml import parse_lockinfo
from davserver.dav.methods.base import Dav, check_locks, check_preconditions, require_parent
from davserver.dav.methods.propfind_render import activelock
from davserver.dav.request import Request
from davserver.dav.response import Response
from davserver.dav.share import parent_path
from davserver.dav.uploads import storage_error
from davserver.dav.xml_body import parse_xml
from davserver.errors import RefreshNotFound, RequestError
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
    wanted = LockRequest(
        path=request.path,
        scope=info.scope,
        depth=depth,
        owner=info.owner,
        principal=request.principal,
        timeout=timeout,
        collection=target is not None and target.is_dir,
    )
    if target is not None:
        return _granted(request, dav, dav.locks.acquire(wanted), 200)
    require_parent(dav, request.path)
    # Creating the member changes the parent's membership (§7.3); locks on the new
    # URL itself are conflicts for acquire() to report (no-conflicting-lock).
    check_locks(request, dav, [Change(parent_path(request.path))])
    fs_path = dav.share.writable_path(request.path)
    lock = dav.locks.acquire(wanted)
    try:
        _create_empty(fs_path)
    except BaseException:
        dav.locks.store.remove(lock.token)
        raise
    return _granted(request, dav, lock, 201)


def _create_empty(fs_path: str) -> None:
    """An empty file, without truncating one that appeared meanwhile (no O_TRUNC)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        os.close(os.open(fs_path, flags, 0o666))
    except OSError as exc:
        raise storage_error(exc, "create the locked resource") from exc


def _refresh(request: Request, dav: Dav, timeout: int | None) -> Response:
    """§9.10.2: no body; the If header names the lock; same token, new timeout."""
    if request.if_header is None:
        raise RequestError("a LOCK without a body refreshes a lock: send If: (<token>)")
    candidates = [
        token
        for token in sorted(request.submitted)
        if (lock := dav.locks.get(token)) is not None and lock.covers(request.path)
    ]
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
    return Response(status, headers, body)


def handle_unlock(request: Request, dav: Dav) -> Response:
    """§9.11: 204; 409 lock-token-matches-request-uri; 403 for another's lock."""
    token = parse_lock_token_header(request.header("Lock-Token"))
    target = dav.share.lookup(request.path)
    check_preconditions(request, dav, target)
    dav.locks.release(token, request.path, request.principal)
    return Response(204)
