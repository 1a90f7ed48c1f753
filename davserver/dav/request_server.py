"""Our RequestServer: WsgiDAV's, with our If evaluation, lock checks, LOCK and UNLOCK.

For every method we first decide — before reading the request body — whether
the request may proceed: the If header must parse (else 400) and hold (else
412, RFC 4918 §10.4), and every lock covering what the method changes must
have its token submitted by its principal (else 423 lock-token-submitted,
§7.4-§7.6).  Only then does WsgiDAV's own method body run, with its lock and
If handling switched off.  Afterwards, locks of deleted and moved-away
resources are forgotten: locks never travel (§7.7).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from lxml import etree
from wsgidav.dav_error import HTTP_BAD_REQUEST, DAVError
from wsgidav.request_server import RequestServer

from davserver.dav import errors as http_errors
from davserver.dav import propfind_fast
from davserver.dav.lock_methods import LockMethods
from davserver.dav.lock_xml import DAV
from davserver.dav.request_context import RequestContext, check_http_conditionals, parent_of
from davserver.dav.xml_body import buffer_body, read_xml_body
from davserver.errors import DavServerError, RequestError
from davserver.locking.model import Change, Depth, canonical_path

StartResponse = Callable[..., Any]


class _BadBodyIs400:
    """cheroot raises ValueError for a malformed chunked body; WsgiDAV would turn
    that into 500.  It is the client's fault: 400 (the old file is kept anyway)."""

    def __init__(self, stream: Any):
        self._stream = stream

    def read(self, *size: int | None) -> bytes:
        try:
            return bytes(self._stream.read(*size))
        except ValueError as exc:
            raise DAVError(HTTP_BAD_REQUEST, f"malformed request body: {exc}") from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class DavRequestServer(LockMethods, RequestServer):  # type: ignore[misc]
    ALL_METHODS = (
        "OPTIONS",
        "GET",
        "HEAD",
        "PROPFIND",
        "PROPPATCH",
        "PUT",
        "DELETE",
        "COPY",
        "MOVE",
        "MKCOL",
        "LOCK",
        "UNLOCK",
    )

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        started: list[bool] = []

        def tracking(*args: Any) -> Any:
            started.append(True)
            return start_response(*args)

        try:
            yield from super().__call__(environ, tracking)
        except DavServerError as exc:
            if started:
                raise
            yield from self.answer_error(exc, environ, start_response)
        except DAVError as exc:
            # WsgiDAV's own 409/412/423 (missing parent, If-Match, ...) get our
            # rendering too: no-store, JSON for clients that ask for it.
            if started or exc.value not in http_errors.WSGIDAV_STATUSES:
                raise
            condition = exc.err_condition.condition_code if exc.err_condition else None
            problem = http_errors.wsgidav_problem(exc.value, exc.context_info, condition)
            yield from self.answer_error(problem, environ, start_response)

    def answer_error(
        self,
        exc: DavServerError | http_errors.Problem,
        environ: dict[str, Any],
        start_response: StartResponse,
    ) -> Iterator[bytes]:
        ctx = environ.get("davserver.context")
        if not isinstance(ctx, RequestContext):
            ctx = RequestContext.from_environ(environ, self._davProvider, parse_if=False)
        error_context = ctx.error_context(environ)
        if isinstance(exc, http_errors.Problem):
            response = http_errors.render_problem(exc, error_context)
        else:
            response = http_errors.render(exc, error_context)
        start_response(response.status_line, response.headers)
        yield b"" if environ["REQUEST_METHOD"] == "HEAD" else response.body

    # --- WsgiDAV hooks we replace ------------------------------------------

    def _evaluate_if_headers(self, res: Any, environ: dict[str, Any]) -> None:
        """Only the HTTP conditionals (If-Match & co.); the If header is ours."""
        check_http_conditionals(res, environ)

    def _check_write_permission(self, res: Any, depth: str, environ: dict[str, Any]) -> None:
        """Done up front for the whole request by :meth:`guard`."""

    @contextlib.contextmanager
    def _write_transaction(self, res: Any, environ: dict[str, Any]) -> Iterator[None]:
        yield

    # --- the checks ---------------------------------------------------------

    def context(self, environ: dict[str, Any]) -> RequestContext:
        ctx = RequestContext.from_environ(environ, self._davProvider)
        environ["davserver.context"] = ctx
        return ctx

    def guard(self, ctx: RequestContext, changes: Iterable[Change] = ()) -> None:
        """412 if the If header is false, 423 if a covering lock's token is missing."""
        ctx.check_if_header()
        changes = list(changes)
        if changes:
            ctx.manager.check_write(changes, ctx.submitted, ctx.principal)
            # Checked again just before an upload is committed: a lock taken
            # while the body was arriving must still win (TOCTOU).
            ctx.environ["davserver.before_commit"] = lambda: ctx.manager.check_write(
                changes, ctx.submitted, ctx.principal
            )

    def after_success(
        self,
        method: Callable[[dict[str, Any], StartResponse], Iterable[bytes]],
        environ: dict[str, Any],
        start_response: StartResponse,
        on_success: Callable[[], object],
    ) -> Iterator[bytes]:
        """Run a WsgiDAV method; call ``on_success`` if it answered 2xx."""
        status: list[int] = []

        def capture(status_line: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            status.append(int(status_line.split(" ", 1)[0]))
            return start_response(status_line, headers, *exc)

        yield from method(environ, capture)
        if status and 200 <= status[0] < 300:
            on_success()

    # --- methods --------------------------------------------------------------

    def do_GET(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        self.guard(self.context(environ))
        return super().do_GET(environ, start_response)

    def do_HEAD(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        self.guard(self.context(environ))
        return super().do_HEAD(environ, start_response)

    def do_OPTIONS(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        self.guard(self.context(environ))
        return super().do_OPTIONS(environ, start_response)

    def do_PROPFIND(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        ctx = self.context(environ)
        self.guard(ctx)
        body = read_xml_body(environ)
        fast = propfind_fast.answer(ctx, body, start_response)
        if fast is not None:
            return fast
        if body is not None and body.find(f"{{{DAV}}}propname") is not None:
            # RFC 4918 §14.20 calls it DAV:propname; WsgiDAV 4.4 only knows DAV:name.
            for element in body.iter(f"{{{DAV}}}propname"):
                element.tag = f"{{{DAV}}}name"
            buffer_body(environ, etree.tostring(body))
        adapter = self._davProvider.lock_manager
        if environ.get("HTTP_DEPTH", "infinity").strip() == "0":
            return super().do_PROPFIND(environ, start_response)
        # WsgiDAV assembles the whole multistatus inside this call: lock discovery for
        # every member comes from one read of the store.
        with adapter.snapshot(canonical_path(environ.get("PATH_INFO") or "/")):
            return super().do_PROPFIND(environ, start_response)

    def do_PROPPATCH(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        ctx = self.context(environ)
        self.guard(ctx, [Change(ctx.path)])
        read_xml_body(environ)
        return super().do_PROPPATCH(environ, start_response)

    def do_PUT(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        ctx = self.context(environ)
        self.guard(ctx, ctx.creation_changes(ctx.path))
        environ["wsgi.input"] = _BadBodyIs400(environ["wsgi.input"])
        return super().do_PUT(environ, start_response)

    def do_MKCOL(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        ctx = self.context(environ)
        self.guard(ctx, ctx.creation_changes(ctx.path))
        return super().do_MKCOL(environ, start_response)

    def do_DELETE(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        ctx = self.context(environ)
        self.guard(ctx, [Change(parent_of(ctx.path)), Change(ctx.path, Depth.INFINITY)])
        return self.after_success(
            super().do_DELETE, environ, start_response, lambda: ctx.manager.forget(ctx.path)
        )

    def do_COPY(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        return self._copy_move(environ, start_response, is_move=False)

    def do_MOVE(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        return self._copy_move(environ, start_response, is_move=True)

    def _copy_move(
        self, environ: dict[str, Any], start_response: StartResponse, *, is_move: bool
    ) -> Any:
        ctx = self.context(environ)
        dest = self.destination_path(ctx)
        changes = ctx.overwrite_changes(dest)
        if is_move:
            changes += [Change(parent_of(ctx.path)), Change(ctx.path, Depth.INFINITY)]
        self.guard(ctx, changes)
        dest_existed = ctx.exists(dest)

        def forget_locks() -> None:
            if is_move:
                ctx.manager.forget(ctx.path)  # locks never travel (§7.7)
            if dest_existed:
                ctx.manager.forget(dest)  # the old destination was deleted (§9.8.4, §9.9.4)

        method = super().do_MOVE if is_move else super().do_COPY
        return self.after_success(method, environ, start_response, forget_locks)

    def destination_path(self, ctx: RequestContext) -> str:
        """The Destination header as a canonical path; 400 when it is unusable."""
        raw = ctx.environ.get("HTTP_DESTINATION", "").strip()
        if not raw:
            raise RequestError("COPY and MOVE need a Destination header")
        try:
            parts = urlsplit(raw)
            path = unquote(parts.path, errors="strict")
        except (ValueError, UnicodeDecodeError) as exc:
            raise RequestError(f"Destination is not a valid URI: {raw!r}") from exc
        if not path.startswith("/"):
            raise RequestError(f"Destination must be an absolute URI or path: {raw!r}")
        mount = ctx.mount_prefix
        if mount and not (path == mount or path.startswith(mount + "/")):
            raise RequestError(f"Destination is outside this server: {raw!r}")
        return canonical_path(path[len(mount) :])
