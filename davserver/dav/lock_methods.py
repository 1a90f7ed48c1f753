"""LOCK and UNLOCK (RFC 4918 §9.10, §9.11), on our lock manager."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wsgidav.dav_error import HTTP_CONFLICT, DAVError

from davserver.dav.lock_xml import LockInfo, lock_response_body, parse_lockinfo
from davserver.dav.request_context import RequestContext, check_http_conditionals, parent_of
from davserver.dav.xml_body import read_xml_body
from davserver.errors import LockNotFound, RequestError
from davserver.locking.model import Change, Depth, Lock, LockRequest
from davserver.locking.timeout import parse_timeout_header
from davserver.locking.tokens import parse_lock_token_header

StartResponse = Callable[..., Any]
XML_TYPE = 'application/xml; charset="utf-8"'


def parse_lock_depth(value: str | None) -> Depth:
    """LOCK Depth (§9.10.3): ``0`` or ``infinity`` (the default); anything else is 400."""
    if value is None:
        return Depth.INFINITY
    normalized = value.strip().lower()
    if normalized == "0":
        return Depth.ZERO
    if normalized == "infinity":
        return Depth.INFINITY
    raise RequestError(f"LOCK Depth must be 0 or infinity, not {value!r}")


class LockMethods:
    """Mixed into DavRequestServer; needs its ``context`` and ``_davProvider``."""

    context: Callable[[dict[str, Any]], RequestContext]

    def do_LOCK(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        ctx = self.context(environ)
        depth = parse_lock_depth(environ.get("HTTP_DEPTH"))
        timeouts = parse_timeout_header(environ.get("HTTP_TIMEOUT"))
        timeout = ctx.manager.grant_timeout(timeouts)
        res = ctx.resource(ctx.path)
        ctx.check_if_header()
        check_http_conditionals(res, environ)
        body = read_xml_body(environ)
        if body is None:
            return self._refresh(ctx, timeout, start_response)
        info = parse_lockinfo(body)
        if res is None:
            return self._lock_unmapped(ctx, info, depth, timeout, start_response)
        request = self._request(ctx, info, depth, timeout, collection=bool(res.is_collection))
        lock = ctx.manager.acquire(request)
        return self._answer(ctx, lock, "200 OK", start_response, with_token=True)

    @staticmethod
    def _request(
        ctx: RequestContext, info: LockInfo, depth: Depth, timeout: int | None, collection: bool
    ) -> LockRequest:
        return LockRequest(
            path=ctx.path,
            scope=info.scope,
            depth=depth,
            owner=info.owner,
            principal=ctx.principal,
            timeout=timeout,
            collection=collection,
        )

    def _lock_unmapped(
        self,
        ctx: RequestContext,
        info: LockInfo,
        depth: Depth,
        timeout: int | None,
        start_response: StartResponse,
    ) -> list[bytes]:
        """§9.10.4: lock first, then create the empty resource; a refused LOCK
        leaves nothing behind, and creating a member is a change to the parent."""
        parent = ctx.resource(parent_of(ctx.path))
        if parent is None or not parent.is_collection:
            raise DAVError(HTTP_CONFLICT, "the parent collection does not exist")
        # Creating the member changes the parent's membership (§7.3); locks on the
        # new URL itself are conflicts for acquire() to report (no-conflicting-lock).
        ctx.manager.check_write([Change(parent_of(ctx.path))], ctx.submitted, ctx.principal)
        lock = ctx.manager.acquire(self._request(ctx, info, depth, timeout, collection=False))
        try:
            parent.create_empty_resource(ctx.path.rsplit("/", 1)[1])
        except BaseException:
            ctx.manager.store.remove(lock.token)
            raise
        return self._answer(ctx, lock, "201 Created", start_response, with_token=True)

    def _refresh(
        self, ctx: RequestContext, timeout: int | None, start_response: StartResponse
    ) -> list[bytes]:
        """§9.10.2: no body, the If header names the lock; same token, new timeout."""
        ctx.is_refresh = True
        if ctx.if_header is None:
            raise RequestError("a LOCK without a body refreshes a lock: send If: (<token>)")
        candidates = [
            token
            for token in sorted(ctx.submitted)
            if (lock := ctx.manager.get(token)) is not None and lock.covers(ctx.path)
        ]
        if not candidates:
            raise LockNotFound(next(iter(sorted(ctx.submitted)), ""), ctx.path)
        lock = ctx.manager.refresh(candidates[0], ctx.path, ctx.principal, timeout)
        return self._answer(ctx, lock, "200 OK", start_response, with_token=False)

    @staticmethod
    def _answer(
        ctx: RequestContext,
        lock: Lock,
        status: str,
        start_response: StartResponse,
        *,
        with_token: bool,
    ) -> list[bytes]:
        body = lock_response_body(lock, ctx.href_of(lock), ctx.manager.clock())
        headers = [
            ("Content-Type", XML_TYPE),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ]
        if with_token:
            headers.append(("Lock-Token", f"<{lock.token}>"))
        start_response(status, headers)
        return [body]

    def do_UNLOCK(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        """§9.11: 204; 409 lock-token-matches-request-uri; 403 for another's lock."""
        ctx = self.context(environ)
        token = parse_lock_token_header(environ.get("HTTP_LOCK_TOKEN"))
        ctx.check_if_header()
        ctx.manager.release(token, ctx.path, ctx.principal)
        start_response("204 No Content", [("Content-Length", "0")])
        return [b""]
