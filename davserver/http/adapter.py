"""The one seam between the wire and the application: WSGI environ → Request, Response → WSGI.

cheroot's gateway calls this WSGI application; it is the only code that reads
the environ of a WebDAV request.  Per request it:

1. names the client (a trusted proxy's word, :mod:`.forwarded`) and the request id
   (a sane incoming ``X-Request-Id``, else 16 random hex digits);
2. answers ``/healthz``, ``/readyz`` (and ``/metrics``) itself, before authentication;
3. builds the typed :class:`~davserver.dav.request.Request`: the raw path checked
   (:mod:`davserver.dav.guard`), the principal from a trusted proxy's
   ``user_header`` (:mod:`davserver.dav.logins.proxy_identity`) or the Basic-auth step
   (:mod:`davserver.dav.logins.basic`) — or the refusal to answer with instead — and the
   body with its framing verdict;
4. calls ``handle(request) -> Response`` (the application, wrapped by observability);
5. writes the :class:`~davserver.dav.response.Response`: Content-Length, no body
   for HEAD/204/304, ``X-Request-Id``, ``nosniff``; a :class:`FileSpan` body stays
   reachable for ``sendfile`` (:mod:`.gateway`), and what went out is recorded in
   ``response.sent`` before ``response.on_close`` runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from davserver.common.request_ids import request_id
from davserver.dav.active import NOSNIFF
from davserver.dav.guard import PathRefused, refused_path
from davserver.dav.logins.basic import Authenticator
from davserver.dav.logins.proxy_identity import ProxyIdentity
from davserver.dav.request import Headers, Request
from davserver.dav.request_body import Body, content_length
from davserver.dav.response import FileSpan, Response
from davserver.dav.user_roots import IDENTITY, UserRoots, UserView
from davserver.errors import DavServerError
from davserver.http.body import LazyContinueInput
from davserver.http.forwarded import Network, Origin, origin_of
from davserver.locking.model import canonical_path
from davserver.observe.logsetup import request_id_var

log = logging.getLogger(__name__)

Handler = Callable[[Request], Response]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

NO_BODY_STATUSES = frozenset({204, 304})
BAD_PATH = "Bad request path: not valid UTF-8 or escapes the root."


def target_of(environ: Mapping[str, Any]) -> str:
    """The request-target as the client sent it."""
    uri = environ.get("REQUEST_URI")
    if uri:
        return str(uri)
    query = environ.get("QUERY_STRING")
    path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", "/"))
    return path + (f"?{query}" if query else "")


def decoded_path(path_info: str) -> str | None:
    """PATH_INFO as UTF-8 (WSGI hands it over as latin-1, PEP 3333), None when it is
    not UTF-8 or a ``..`` leaves the root."""
    try:
        path = path_info.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return None
    if path != "*" and ".." in path.split("/"):
        return None
    return path


def body_of(environ: Mapping[str, Any]) -> Body:
    """The body with its framing verdict: davserver's HTTP layer judged it once
    (its readers deliver exactly that); under another WSGI server (or a test
    calling the application directly) the headers say it."""
    stream = environ["wsgi.input"]
    if isinstance(stream, LazyContinueInput):
        length = stream.declared_length
        chunked = length is None
        refusal: Callable[[], tuple[int, str] | None] = lambda: stream.refusal  # noqa: E731
    else:
        chunked = "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()
        length = None if chunked else content_length(environ.get("CONTENT_LENGTH"))
        refusal = lambda: None  # noqa: E731
    expected = None
    if chunked:
        expected = content_length(environ.get("HTTP_X_EXPECTED_ENTITY_LENGTH"), strict=False)
    return Body(stream, length, chunked=chunked, expected=expected, refusal=refusal)


def build_request(
    environ: dict[str, Any],
    *,
    path: str | None = None,
    origin: Origin | None = None,
    request_id: str = "",
    principal: str | None = None,
    refusal: DavServerError | None = None,
    started: float | None = None,
    arrival: float | None = None,
    view: UserView = IDENTITY,
) -> Request:
    """The Request of ``environ`` once the client and principal are known;
    ``path`` is the decoded path (PATH_INFO as it is when not given), in the
    user's ``view`` (their home folder is their ``/``)."""
    if origin is None:
        origin = Origin(
            str(environ.get("REMOTE_ADDR", "")), str(environ.get("wsgi.url_scheme", "http"))
        )
    if path is None:
        path = str(environ.get("PATH_INFO") or "/")
    try:
        body = body_of(environ)
    except DavServerError as exc:  # a Content-Length that is no number
        refusal = refusal or exc
        body = Body(environ["wsgi.input"], 0, chunked=False)
    return Request(
        method=str(environ["REQUEST_METHOD"]).upper(),
        path=view.to_real(canonical_path(path)),
        slash=path.endswith("/"),
        mount=str(environ.get("SCRIPT_NAME") or "").rstrip("/"),
        # Looked up by CGI name (HTTP_IF_MATCH, CONTENT_TYPE): a name never
        # reaches another key of the environ, so it is not copied.
        headers=Headers(environ),
        body=body,
        principal=principal,
        target=target_of(environ),
        client=origin.address,
        proxy=origin.proxy,
        forwarded_host=origin.host,
        scheme=origin.scheme,
        protocol=str(environ.get("SERVER_PROTOCOL", "HTTP/1.1")),
        request_id=request_id,
        started=time.time() if started is None else started,
        arrival=time.perf_counter() if arrival is None else arrival,
        refusal=refusal,
        view=view,
    )


class Adapter:
    """The WSGI application of the WebDAV port around ``handle``."""

    def __init__(
        self,
        handle: Handler,
        auth: Authenticator,
        hidden: Callable[[str], bool],
        *,
        trusted: Sequence[Network] = (),
        routes: Mapping[str, WSGIApp] | None = None,
        identity: ProxyIdentity | None = None,
        homes: UserRoots | None = None,
    ):
        self.handle = handle
        self.homes = homes
        self.auth = auth
        self.identity = identity
        self.hidden = hidden
        self.trusted = tuple(trusted)
        self.routes = dict(routes or {})

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        origin = origin_of(environ, self.trusted)
        method = str(environ["REQUEST_METHOD"]).upper()
        route = self.routes.get(environ.get("PATH_INFO", "")) if self.routes else None
        if route is not None and environ["REQUEST_METHOD"] in ("GET", "HEAD"):
            return self.probe(route, environ, origin, start_response)
        rid = request_id(environ.get("HTTP_X_REQUEST_ID"))
        request_id_var.set(rid)  # log lines of this request carry it, until it is sent
        try:
            request = self.request(environ, method, origin, rid)
            response = self.handle(request)
        except BaseException:
            request_id_var.set(None)
            raise
        try:
            return self.write(request, response, start_response)
        except BaseException:
            # The answer never got going: finish it anyway (open files, its record).
            Streamed(response, b"").close()
            raise

    def probe(
        self,
        route: WSGIApp,
        environ: dict[str, Any],
        origin: Origin,
        start_response: StartResponse,
    ) -> Iterable[bytes]:
        """A health or metrics endpoint (a WSGI app with its own access log)."""
        environ["REMOTE_ADDR"], environ["wsgi.url_scheme"] = origin.address, origin.scheme

        def start(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            return start_response(status, [*headers, NOSNIFF], *exc_info)

        answer = route(environ, start)
        return [b""] if environ["REQUEST_METHOD"] == "HEAD" else answer

    def request(self, environ: dict[str, Any], method: str, origin: Origin, rid: str) -> Request:
        """The typed request: path guard first, then the Basic-auth step."""
        started, arrival = time.time(), time.perf_counter()
        refusal: DavServerError | None = refused_path(target_of(environ), self.hidden)
        path = decoded_path(str(environ.get("PATH_INFO") or "/"))
        if path is None:
            refusal, path = refusal or PathRefused(400, BAD_PATH), "/"
        principal = None
        if refusal is None:
            try:
                # The user a trusted single sign-on proxy names, else the Basic-auth step.
                if self.identity is not None:
                    principal = self.identity.principal(environ, origin.trusted)
                if principal is None:
                    principal = self.auth.principal(
                        method,
                        path,
                        environ.get("HTTP_AUTHORIZATION"),
                        origin.address,
                        origin.scheme,
                    )
            except DavServerError as exc:
                refusal = exc
        view = IDENTITY
        if refusal is None and self.homes is not None:
            try:
                view = self.homes.view(principal)  # the home folder made on first use
            except DavServerError as exc:
                refusal = exc
        return build_request(
            environ,
            path=path,
            origin=origin,
            request_id=rid,
            principal=principal,
            refusal=refusal,
            started=started,
            arrival=arrival,
            view=view,
        )

    def write(
        self, request: Request, response: Response, start_response: StartResponse
    ) -> Iterable[bytes]:
        headers, body = framed(response, request.request_id)
        start_response(response.status_line, headers)
        return Streamed(response, b"" if request.method == "HEAD" else body)


def framed(
    response: Response, request_id: str | None = None
) -> tuple[list[tuple[str, str]], bytes | Iterable[bytes]]:
    """Headers and body as they go out: Content-Length added, none for 204/304;
    with a ``request_id`` (the WebDAV port) also ``X-Request-Id`` and ``nosniff``
    (unless the answer has its own).  One pass over the headers."""
    body = response.body
    no_body = response.status in NO_BODY_STATUSES
    if no_body:
        body, length = b"", None
    elif isinstance(body, bytes):
        length = len(body)
    else:
        length = response.length
    headers: list[tuple[str, str]] = []
    has_length = has_nosniff = False
    for header in response.headers:
        name = header[0].lower()
        if name == "content-length":
            if no_body:
                continue  # 204/304: no Content-Length
            has_length = True
        elif name == "x-content-type-options":
            has_nosniff = True
        headers.append(header)
    if length is not None and not has_length:
        headers.append(("Content-Length", str(length)))
    if request_id is not None:
        headers.append(("X-Request-Id", request_id))
        if not has_nosniff:
            headers.append(NOSNIFF)
    return headers, body


class Streamed:
    """A response body on its way out.  It records what was sent in
    ``response.sent`` and runs ``response.on_close`` once, when the body is sent
    or abandoned.  A file's bytes stay reachable as ``span``: the gateway may
    send them with ``sendfile`` instead of iterating."""

    def __init__(self, response: Response, body: bytes | Iterable[bytes]):
        self.response = response
        self.body = body
        self.span = body if isinstance(body, FileSpan) else None
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        sent = self.response.sent
        if isinstance(self.body, bytes):
            sent.sent += len(self.body)
            yield self.body
        else:
            for chunk in self.body:
                sent.sent += len(chunk)
                yield chunk
        sent.completed = True

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        span, sent = self.span, self.response.sent
        if span is not None and span.sent > sent.sent:  # it went out by sendfile
            sent.sent, sent.completed = span.sent, span.sent == span.count
        on_close, self.response.on_close = self.response.on_close, None
        try:
            if on_close is not None:
                on_close()
        finally:
            request_id_var.set(None)


def send(
    response: Response, method: str, environ: dict[str, Any], start_response: StartResponse
) -> Iterable[bytes]:
    """Hand a Response of another WSGI application (the admin listener) to the
    WSGI server, by the same rules as the WebDAV port's."""
    headers, body = framed(response)
    start_response(response.status_line, headers)
    return Streamed(response, b"" if method == "HEAD" else body)
