"""The WSGI gateway: cheroot's, except that a file answer may go out by ``sendfile``."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from cheroot import wsgi

from davserver.http.adapter import Streamed
from davserver.http.cheroot_request import STEP_ASIDE_BYTES

# Header names are the client's: the cache of their keys is bounded in entries and
# holds only short names (a name may be 64 KiB: 512 of them would be 64 MiB).
ENV_NAMES_MAX = 512
ENV_NAME_CACHED = 64  # bytes; the longest registered field names are about 40
_env_names: dict[bytes, str] = {}


def env_name(field: bytes) -> str:
    """The environ key of a header field (``If-Match`` -> ``HTTP_IF_MATCH``)."""
    key = _env_names.get(field)
    if key is None:
        key = "HTTP_" + field.decode("latin-1").upper().replace("-", "_")
        if len(_env_names) < ENV_NAMES_MAX and len(field) <= ENV_NAME_CACHED:
            _env_names[field] = key
    return key


class DavGateway(wsgi.Gateway_10):
    """cheroot's WSGI 1.0 gateway; an answer with a ``span`` (a byte range of
    an open file, see :class:`davserver.dav.response.FileSpan`) is sent by the
    request's :meth:`~davserver.http.cheroot_request.DavHTTPRequest.send_file` when it
    can: the kernel copies file to socket, no block passes through Python."""

    req: Any

    def get_environ(self) -> dict[str, Any]:  # type: ignore[override]  # cheroot's is untyped
        """cheroot's environ, built in one pass with the header keys cached: the
        same keys and values (a test compares), for a TCP listener."""
        req = self.req
        server = req.server
        if isinstance(server.bind_addr, str):  # a Unix socket: cheroot adds peer credentials
            return dict(super().get_environ())  # type: ignore[no-untyped-call]
        conn = req.conn
        base = conn.environ_base
        if base is None:  # what stays the same on this connection, made once
            base = {
                "ACTUAL_SERVER_PROTOCOL": server.protocol,
                "REMOTE_ADDR": conn.remote_addr or "",
                "REMOTE_PORT": str(conn.remote_port or ""),
                "SCRIPT_NAME": "",
                "SERVER_NAME": server.server_name,
                "SERVER_SOFTWARE": server.software,
                "wsgi.multiprocess": False,
                "wsgi.multithread": True,
                "wsgi.run_once": False,
                "wsgi.url_scheme": req.scheme.decode("latin-1"),
                "wsgi.version": self.version,
                "SERVER_PORT": str(server.bind_addr[1]),
            }
            if conn.ssl_env:
                base.update(conn.ssl_env)
            conn.environ_base = base
        env: dict[str, Any] = base.copy()
        env["PATH_INFO"] = req.path.decode("latin-1")
        env["QUERY_STRING"] = req.qs.decode("latin-1")
        env["REQUEST_METHOD"] = req.method.decode("latin-1")
        env["REQUEST_URI"] = req.uri.decode("latin-1")
        env["SERVER_PROTOCOL"] = req.request_protocol.decode("latin-1")
        env["wsgi.errors"] = sys.stderr
        env["wsgi.input"] = req.rfile
        env["wsgi.input_terminated"] = bool(req.chunked_read)
        names = _env_names
        for field, value in req.inheaders.items():
            if b"_" in field:
                # Dropped, as nginx and Apache drop them: ``Remote_User`` would become
                # HTTP_REMOTE_USER like ``Remote-User``, smuggled past a proxy that
                # overwrites the one it knows (user_header; any header davserver reads).
                continue
            env[names.get(field) or env_name(field)] = value.decode("latin-1")
        content_type = env.pop("HTTP_CONTENT_TYPE", None)
        if content_type is not None:
            env["CONTENT_TYPE"] = content_type
        length = env.pop("HTTP_CONTENT_LENGTH", None)
        if length is not None:
            env["CONTENT_LENGTH"] = length
        return env

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Any:
        """cheroot's start_response, the header fields encoded in one loop."""
        if self.started_response and not exc_info:
            raise RuntimeError("WSGI start_response called a second time with no exc_info.")
        self.started_response = True
        req = self.req
        if req.sent_headers:
            raise exc_info[1]
        if not isinstance(status, str):
            raise TypeError("WSGI response status is not of type str.")
        req.status = status.encode("ISO-8859-1")
        out = req.outheaders
        for name, value in headers:
            if not isinstance(name, str):
                raise TypeError(f"WSGI response header key {name!r} is not of type str.")
            if not isinstance(value, str):
                raise TypeError(f"WSGI response header value {value!r} is not of type str.")
            if name.lower() == "content-length":
                self.remaining_bytes_out = int(value)
            out.append((name.encode("ISO-8859-1"), value.encode("ISO-8859-1")))
        return self.write

    def respond(self) -> None:
        response = self.req.server.wsgi_app(self.env, self.start_response)
        span = response.span if isinstance(response, Streamed) else None
        try:
            if span is not None and self.req.can_send_file(self.remaining_bytes_out, span):
                self.req.send_file(span)
            elif _small(response):
                self._write_corked(response)
            else:
                self._write_all(response)
            if span is not None and span.sent < span.count:
                # The file shrank under us: the promised Content-Length cannot be
                # kept, and only closing tells the client the answer is short.
                self.req.close_connection = True
        finally:
            self.req.ensure_headers_sent()
            if hasattr(response, "close"):
                response.close()

    def _write_corked(self, response: Iterable[bytes]) -> None:
        """Head and body in one send: cheroot's writer sends each write at once (a
        system call, and a TCP packet, for the head and another for the body).
        What was written goes out on the way out, also if the body failed."""
        conn = self.req.conn
        wfile, cork = conn.wfile, _Cork()
        conn.wfile = cork
        try:
            self._write_all(response)
        finally:
            conn.wfile = wfile
            if cork.parts:
                wfile.write(b"".join(cork.parts))

    def _write_all(self, response: Iterable[bytes]) -> None:
        for chunk in response:
            if not isinstance(chunk, bytes):
                raise ValueError("WSGI applications must yield bytes")
            if chunk:
                self.write(chunk)


def _small(response: Iterable[bytes]) -> bool:
    """An answer with a body already whole in memory and small enough to send at
    once (a larger one may wait for a slow reader and steps aside while it does;
    without a body the head is one write anyway)."""
    if not isinstance(response, Streamed):
        return False
    body = response.body
    return isinstance(body, bytes) and 0 < len(body) < STEP_ASIDE_BYTES


class _Cork:
    """Collects what is written to a connection, to send it in one write."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)
