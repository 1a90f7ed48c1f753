"""The application: ``handle(Request) -> Response``.

The HTTP adapter (:mod:`davserver.http.adapter`) builds the typed
:class:`~davserver.dav.request.Request` and writes the
:class:`~davserver.dav.response.Response`; in between everything is here:
the refusal the adapter found (a hostile path, a failed login), the shared
headers parsed once, read-only shares and permissions, then
``METHODS[method](request, dav)``.  Every refusal is rendered by
:mod:`davserver.dav.error_responses`; a refusal because of a lock gets its typed
:class:`~davserver.dav.response.LockOutcome` and its ``refused`` lock event here,
where it is rendered.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from davserver.dav import hrefs
from davserver.dav.error_responses import ErrorContext, render, rule_for
from davserver.dav.guard import PathRefused
from davserver.dav.methods import METHODS, Handler, allowed_methods
from davserver.dav.methods.base import Dav
from davserver.dav.permissions import authorize
from davserver.dav.request import Request
from davserver.dav.response import LockOutcome, LockVerdict, Response
from davserver.errors import (
    DavServerError,
    Forbidden,
    Frozen,
    LockConflict,
    LockError,
    LockNotFound,
    LockTokenMissing,
    MethodNotAllowed,
    PreconditionFailed,
)
from davserver.fs.uploads import storage_error
from davserver.locking.events import LockEvent, LockEventKind
from davserver.locking.model import Lock
from davserver.locking.tokens import OPAQUE_LOCK_TOKEN_SCHEME

log = logging.getLogger(__name__)

WRITE_METHODS = frozenset({"PUT", "DELETE", "MKCOL", "COPY", "MOVE", "PROPPATCH", "LOCK", "UNLOCK"})
# Methods HTTP or its extensions define: 405 with Allow; anything else is 501 (RFC 9110 §15.6.2).
KNOWN_METHODS = frozenset(
    {"POST", "PATCH", "TRACE", "CONNECT", "SEARCH", "REPORT", "ACL", "BIND", "VERSION-CONTROL"}
)


class Dispatcher:
    """``handle(Request) -> Response``: the whole WebDAV application."""

    def __init__(self, dav: Dav, methods: Mapping[str, Handler] = METHODS):
        self.dav = dav
        self.methods = methods

    def __call__(self, request: Request) -> Response:
        try:
            if request.refusal is not None:
                raise request.refusal
            request.check()
            return self.run(request)
        except PathRefused as exc:
            return exc.response()
        except DavServerError as exc:
            return self.refusal(exc, request)
        except OSError as exc:  # a storage fault no handler anticipated: 507/409/403/500
            log.warning("%s %s: %s", request.method, request.path, exc)
            return self.refusal(storage_error(exc, "complete the request"), request)
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return self.refusal(DavServerError("unexpected error"), request)

    def run(self, request: Request) -> Response:
        handler = self.methods.get(request.method)
        if handler is None:
            allow = allowed_methods(self.dav.share.readonly)
            if request.method in KNOWN_METHODS:
                raise MethodNotAllowed(f"{request.method} is not supported here", allow)
            return Response(501, [("Allow", ", ".join(allow))])
        if self.dav.share.readonly and request.method in WRITE_METHODS:
            raise Forbidden(f"this share is read-only: {request.method} is refused")
        authorize(self.dav.permissions, request)
        return handler(request, self.dav)

    def refusal(self, exc: DavServerError, request: Request) -> Response:
        mount, view = request.mount, request.view
        slash = request.slash or self._is_collection(request.path)

        def href_of(lock: Lock) -> str:  # the lock as the user sees it (view.error)
            return hrefs.href(mount, lock.root, collection=lock.collection)

        ctx = ErrorContext(
            href_of=href_of,
            request_href=hrefs.href(mount, view.to_view(request.path), collection=slash),
            now=self.dav.locks.clock(),
            accept=request.accept,
            home_href=hrefs.href(mount, "/", collection=True),
        )
        # Rendered in the user's view (user_root); the lock outcome keeps real paths.
        response = render(view.error(exc), ctx)
        response.lock = refused_outcome(exc, request)
        if response.lock is not None:
            self._refused_event(request, response.lock)
        return response

    def _refused_event(self, request: Request, outcome: LockOutcome) -> None:
        events = self.dav.locks.events
        if events is None:
            return
        blocking = outcome.blocking
        event = LockEvent(
            LockEventKind.REFUSED,
            request.started,
            lock=blocking[0] if blocking else None,
            path=request.path,
            actor=request.principal,
            precondition=outcome.precondition,
            blocking=blocking,
        )
        try:
            events(event)
        except Exception:  # an event sink must never turn a refusal into a 500
            log.exception("lock event for %s %s failed", request.method, request.path)

    def _is_collection(self, path: str) -> bool:
        try:
            entry = self.dav.share.lookup(path)
        except DavServerError:
            return False
        return entry is not None and entry.is_dir


def first_submitted(request: Request) -> str | None:
    """The first ``opaquelocktoken:`` the If header names, as written."""
    try:
        header = request.if_header
    except DavServerError:  # the refusal may be that the header is malformed
        return None
    for listed in header.lists if header else ():
        for condition in listed.conditions:
            token = condition.token
            if token is not None and token.startswith(OPAQUE_LOCK_TOKEN_SCHEME):
                return token
    return None


def refused_outcome(exc: DavServerError, request: Request) -> LockOutcome | None:
    """The lock outcome of a refusal: one because of a lock (423, 409, 412 with a
    token submitted), with its RFC 4918 §16 condition and the locks that refused it."""
    submitted = first_submitted(request) if not isinstance(exc, PathRefused) else None
    if not isinstance(exc, LockError) and not (isinstance(exc, PreconditionFailed) and submitted):
        return None
    blocking: tuple[Lock, ...] = ()
    if isinstance(exc, (LockConflict, LockTokenMissing, Frozen)):
        blocking = exc.locks
    named = (exc.token if isinstance(exc, LockNotFound) else None) or submitted
    if blocking:
        named = blocking[0].token
    return LockOutcome(LockVerdict.REFUSED, named, rule_for(exc).condition, blocking)
