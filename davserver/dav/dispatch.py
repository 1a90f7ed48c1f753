"""The last WsgiDAV middleware: parse the request once, run its method, send the answer.

WsgiDAV stays the framework (its WSGI application, middleware stack and HTTP
authenticator with our domain controller); this is its documented seam, the
request resolver at the end of the stack.  From here on everything is ours:
:class:`~davserver.dav.request.Request` → ``METHODS[method](request, dav)`` →
:class:`~davserver.dav.response.Response`, with every refusal rendered by
:mod:`davserver.dav.errors`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from wsgidav.dav_provider import DAVProvider

from davserver.dav import hrefs
from davserver.dav.errors import ErrorContext, render
from davserver.dav.methods import METHODS, Handler, allowed_methods
from davserver.dav.methods.base import Dav
from davserver.dav.permissions import authorize
from davserver.dav.request import Request
from davserver.dav.response import FileSpan, Response
from davserver.dav.uploads import storage_error
from davserver.errors import DavServerError, Forbidden, MethodNotAllowed
from davserver.locking.model import Lock, canonical_path
from davserver.observe.facts import note_lock_work

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WRITE_METHODS = frozenset({"PUT", "DELETE", "MKCOL", "COPY", "MOVE", "PROPPATCH", "LOCK", "UNLOCK"})
# Methods HTTP or its extensions define: 405 with Allow; anything else is 501 (RFC 9110 §15.6.2).
KNOWN_METHODS = frozenset(
    {"POST", "PATCH", "TRACE", "CONNECT", "SEARCH", "REPORT", "ACL", "BIND", "VERSION-CONTROL"}
)
NO_BODY_STATUSES = frozenset({204, 304})


class ShareProvider(DAVProvider):  # type: ignore[misc]
    """WsgiDAV routes requests to a provider per share; ours resolves nothing itself:
    the method handlers work on :class:`~davserver.dav.share.Share`."""

    def __init__(self, readonly: bool):
        super().__init__()
        self.readonly = readonly

    def is_readonly(self) -> bool:
        return self.readonly

    def get_resource_inst(self, path: str, environ: dict[str, Any]) -> None:
        return None


class Dispatcher:
    """WSGI application at the end of WsgiDAV's middleware stack."""

    def __init__(self, dav: Dav, methods: Mapping[str, Handler] = METHODS):
        self.dav = dav
        self.methods = methods

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"].upper()
        refused: DavServerError | None = None
        try:
            request = Request.from_environ(environ)
            response = self.run(request)
        except DavServerError as exc:
            refused = exc
            response = self.refusal(exc, environ)
        except OSError as exc:  # a storage fault no handler anticipated: 507/409/403/500
            log.warning("%s %s: %s", method, environ.get("PATH_INFO"), exc)
            response = self.refusal(storage_error(exc, "complete the request"), environ)
        except Exception:
            log.exception("%s %s failed", method, environ.get("PATH_INFO"))
            response = self.refusal(DavServerError("unexpected error"), environ)
        note_lock_work(environ, method, response, refused)  # for the access log
        return send(response, method, environ, start_response)

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

    def refuse(
        self, exc: DavServerError, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        """Answer a refusal raised outside the method layer (authentication)."""
        method = environ["REQUEST_METHOD"].upper()
        return send(self.refusal(exc, environ), method, environ, start_response)

    def refusal(self, exc: DavServerError, environ: dict[str, Any]) -> Response:
        mount = (environ.get("SCRIPT_NAME") or "").rstrip("/")
        path = canonical_path(environ.get("PATH_INFO") or "/")
        slash = (environ.get("PATH_INFO") or "/").endswith("/") or self._is_collection(path)

        def href_of(lock: Lock) -> str:
            return hrefs.href(mount, lock.root, collection=lock.collection)

        ctx = ErrorContext(
            href_of=href_of,
            request_href=hrefs.href(mount, path, collection=slash),
            now=self.dav.locks.clock(),
            accept=environ.get("HTTP_ACCEPT", ""),
            home_href=hrefs.href(mount, "/", collection=True),
        )
        return render(exc, ctx)

    def _is_collection(self, path: str) -> bool:
        try:
            entry = self.dav.share.lookup(path)
        except DavServerError:
            return False
        return entry is not None and entry.is_dir


def send(
    response: Response, method: str, environ: dict[str, Any], start_response: StartResponse
) -> Iterable[bytes]:
    """Hand a Response to the WSGI server (Content-Length, HEAD, 204/304 rules)."""
    headers = list(response.headers)
    body = response.body
    if response.status in NO_BODY_STATUSES:
        body, length = b"", None
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
    elif isinstance(body, bytes):
        length = len(body)
    else:
        length = response.length
    if length is not None and not any(k.lower() == "content-length" for k, _ in headers):
        headers.append(("Content-Length", str(length)))
    # WsgiDAV's application drains unread request bodies into memory unless told
    # that input was read: the HTTP layer decides instead (close or drain).
    environ.setdefault("wsgidav.some_input_read", 1)
    start_response(response.status_line, headers)
    if method == "HEAD" or isinstance(body, bytes):
        if response.on_close is not None:
            response.on_close()
        return [b""] if method == "HEAD" else [body]  # type: ignore[list-item]
    return Streamed(body, response.on_close)


class Streamed:
    """An iterable body on its way out; ``on_close`` runs once it is sent or
    abandoned.  A file's bytes stay reachable as ``file_span``: the HTTP
    layer may send them with ``sendfile`` instead of iterating."""

    def __init__(self, body: Iterable[bytes], on_close: Callable[[], None] | None):
        self.body = body
        self.on_close = on_close
        self.file_span = body if isinstance(body, FileSpan) else None

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.body)

    def close(self) -> None:
        on_close, self.on_close = self.on_close, None
        if on_close is not None:
            on_close()
