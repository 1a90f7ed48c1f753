"""The admin listener's WSGI application: authentication, routing, refusals.

``/api/…`` is the JSON API (:mod:`.api`), everything else the console
(:mod:`.console`); ``/healthz`` and ``/readyz`` answer without credentials (load
balancers and probes have none), ``/metrics`` only to administrators and the
metrics readers (``metrics_users``, ``metrics_token_file``).

Cross-site requests: a browser that has logged in here sends its Basic
credentials with any request to this origin, also one a foreign page makes.
So every change needs proof that it comes from our own pages: console forms
carry a per-session token that must equal a ``SameSite=Strict`` cookie
(a foreign page can neither read the cookie nor make the browser send it), and
API changes must be ``application/json`` (which a foreign page cannot send
without a CORS preflight we never allow).  Both also refuse a request whose
``Origin`` or ``Sec-Fetch-Site`` says it comes from elsewhere.

Every refusal is rendered by :mod:`davserver.dav.error_responses` (the one error
table): problem details for the API, an HTML page for the console.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from davserver.admin.http.admin_auth import AdminAuth
from davserver.admin.service import AdminService
from davserver.dav.error_responses import ErrorContext, classify, render_problem
from davserver.dav.response import Response
from davserver.errors import (
    BodyTooLarge,
    DavServerError,
    Forbidden,
    RequestError,
    UnsupportedMediaType,
)
from davserver.http.adapter import send
from davserver.http.forwarded import Network, origin_of

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
CSRF_COOKIE = "davserver_admin_csrf"
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
)


@dataclass
class AdminRequest:
    """One request to the admin listener, with its administrator."""

    environ: dict[str, Any]
    principal: str
    body_limit: int
    csrf: str = ""  # the session's token (cookie), made on the first console page
    new_csrf: bool = False
    query: dict[str, str] = field(default_factory=dict)

    @property
    def method(self) -> str:
        return str(self.environ["REQUEST_METHOD"]).upper()

    @property
    def path(self) -> str:
        return str(self.environ.get("PATH_INFO") or "/")

    def header(self, name: str) -> str | None:
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            return self.environ.get(key)
        value = self.environ.get("HTTP_" + key)
        return None if value is None else str(value)

    def body(self) -> bytes:
        """The request body, at most ``body_limit`` bytes (413 beyond)."""
        try:
            length = int(self.environ.get("CONTENT_LENGTH") or 0)
        except ValueError as exc:
            raise RequestError("Content-Length is not a number") from exc
        if length > self.body_limit:
            raise BodyTooLarge(f"an admin request body is at most {self.body_limit} bytes")
        return bytes(self.environ["wsgi.input"].read(length)) if length > 0 else b""

    def form(self) -> dict[str, str]:
        """An ``application/x-www-form-urlencoded`` body (console forms)."""
        text = self.body().decode("utf-8", "replace")
        return dict(parse_qsl(text, keep_blank_values=True))

    def json(self) -> dict[str, Any]:
        """A JSON object body (the API); 415 for anything else, 400 if unreadable."""
        kind = (self.header("Content-Type") or "").split(";")[0].strip().lower()
        data = self.body()
        if not data:
            return {}
        if kind != "application/json":
            raise UnsupportedMediaType("API requests with a body must be application/json")
        try:
            document = json.loads(data)
        except ValueError as exc:
            raise RequestError(f"the body is not valid JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise RequestError("the body must be a JSON object")
        return document


Handler = Callable[[AdminRequest, AdminService], Response]


class AdminApp:
    """WSGI: ``/api/…`` to ``api``, the rest to ``console``; ``routes`` are mounted
    WSGI apps (health and metrics)."""

    def __init__(
        self,
        service: AdminService,
        auth: AdminAuth,
        *,
        api: Handler,
        console: Handler,
        routes: Mapping[str, WSGIApp] | None = None,
        trusted: Sequence[Network] = (),
    ):
        self.service = service
        self.trusted = tuple(trusted)
        self.auth = auth
        self.api = api
        self.console = console
        self.routes = dict(routes or {})
        self.body_limit = 16 * 1024 + 8 * service.reason_max

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        # The client a trusted proxy names; REMOTE_ADDR and the scheme (CGI's names)
        # carry it to the access line, login throttling and the plain-HTTP check.
        origin = origin_of(environ, self.trusted)
        environ["REMOTE_ADDR"], environ["wsgi.url_scheme"] = origin.address, origin.scheme
        path = str(environ.get("PATH_INFO") or "/")
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        mounted = self.routes.get(path)
        if mounted is not None and path in OPEN_PATHS:
            return mounted(environ, start_response)
        is_api = path == "/api" or path.startswith("/api/")
        try:
            principal = self.auth.principal(
                environ, metrics=path == "/metrics", trusted_peer=origin.trusted
            )
            environ["REMOTE_USER"] = principal  # the access line's user (CGI's name)
            request = AdminRequest(environ, principal, self.body_limit)
            if mounted is not None:
                return mounted(environ, start_response)
            request.query = dict(parse_qsl(str(environ.get("QUERY_STRING") or "")))
            check_same_origin(request)
            if is_api:
                response = self.api(request, self.service)
            else:
                session(request)
                response = self.console(request, self.service)
                if request.new_csrf:
                    response.headers.append(("Set-Cookie", csrf_cookie(request.csrf)))
        except DavServerError as exc:
            response = self.refusal(exc, path, json_wanted=is_api)
        except Exception:
            log.exception("admin %s %s failed", method, path)
            response = self.refusal(DavServerError("unexpected error"), path, json_wanted=is_api)
        response.headers.extend(SECURITY_HEADERS)
        if not any(name.lower() == "cache-control" for name, _ in response.headers):
            response.headers.append(("Cache-Control", "no-store"))
        return send(response, method, environ, start_response)

    def refusal(self, exc: DavServerError, path: str, *, json_wanted: bool) -> Response:
        ctx = ErrorContext(
            href_of=lambda lock: lock.root,
            request_href=path,
            now=self.service.now,
            accept="application/json" if json_wanted else "text/html",
            home_href="/locks",
        )
        return render_problem(classify(exc), ctx)


def check_same_origin(request: AdminRequest) -> None:
    """Refuse a change that a foreign page made the browser send (403)."""
    if request.method in ("GET", "HEAD"):
        return
    site = request.header("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        raise Forbidden("cross-site requests may not change anything here")
    origin = request.header("Origin")
    if origin is not None and origin != "null":
        host = request.header("Host") or ""
        if urlsplit(origin).netloc.lower() != host.lower():
            raise Forbidden(f"requests from {origin} may not change anything here")
    elif origin == "null":
        raise Forbidden("requests from an opaque origin may not change anything here")


def session(request: AdminRequest) -> None:
    """The console session's CSRF token: from the cookie, or a new one."""
    cookies: SimpleCookie = SimpleCookie()
    with contextlib.suppress(CookieError):  # a malformed cookie header: a new session
        cookies.load(request.header("Cookie") or "")
    morsel = cookies.get(CSRF_COOKIE)
    if morsel is not None and len(morsel.value) >= 32:
        request.csrf = morsel.value
    else:
        request.csrf, request.new_csrf = secrets.token_urlsafe(32), True


def csrf_cookie(token: str) -> str:
    return f"{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"


def require_csrf(request: AdminRequest, form: Mapping[str, str]) -> None:
    """A console form must carry the session's token (403 otherwise)."""
    sent = form.get("csrf", "")
    if request.new_csrf or not sent or not secrets.compare_digest(sent, request.csrf):
        raise Forbidden("this form has expired or comes from another site: reload the page")
