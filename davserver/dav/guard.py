"""Outermost WSGI middleware: refuse hostile paths and hide the state directory.

It sees the request before WsgiDAV normalises it, so ``..`` segments (also
percent-encoded), backslashes, NUL bytes and over-long names are refused with
400 instead of being silently resolved.  The server's state directory does not
exist over WebDAV: any method on it or below it gets 404, in any letter case.
Neither do our temporary names (``.davserver-*.tmp``).  Which names are hidden
is decided by the share's one rule (:mod:`davserver.dav.hidden`), so a folder
that holds a nested state directory stays readable and writable.  The
``Destination`` of COPY/MOVE is parsed once, with the request
(:mod:`davserver.dav.request`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

MAX_NAME_BYTES = 255  # NAME_MAX on Linux file systems
MAX_PATH_BYTES = 4096


def _plain(status: str, message: str, start_response: StartResponse) -> list[bytes]:
    body = (message + "\n").encode("utf-8")
    start_response(
        status,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [body]


def path_problem(raw_path: str) -> str | None:
    """Why a (percent-encoded) request path is unacceptable, or None if it is fine."""
    try:
        decoded = unquote(raw_path, errors="strict")
    except UnicodeDecodeError:
        return "percent-encoded bytes are not valid UTF-8"
    if "\x00" in decoded:
        return "NUL bytes are not allowed in paths"
    if "\\" in decoded:
        return "backslashes are not allowed in paths"
    if len(decoded.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
        return f"path longer than {MAX_PATH_BYTES} bytes"
    for segment in decoded.split("/"):
        if segment in ("..", "."):
            return "'.' and '..' segments are not allowed in paths"
        if len(segment.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
            return f"a path segment is longer than {MAX_NAME_BYTES} bytes"
    return None


class PathGuard:
    """Refuse hostile paths (400) and any access to the state directory (404)."""

    def __init__(self, app: WSGIApp, hidden: Callable[[str], bool]):
        self.app = app
        self.hidden = hidden  # the share's rule (HiddenNames.is_hidden)

    def is_hidden(self, path: str) -> bool:
        """The state directory or a temporary name (path already checked)."""
        segments = [segment for segment in unquote(path).split("/") if segment]
        return self.hidden("/" + "/".join(segments))

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        raw = environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
        raw_path = urlsplit(raw).path if "://" in raw else raw.split("?", 1)[0]
        if raw_path == "*":
            return self.app(environ, start_response)
        problem = path_problem(raw_path)
        if problem:
            return _plain("400 Bad Request", f"Bad request path: {problem}.", start_response)
        if self.is_hidden(raw_path):
            return _plain("404 Not Found", "Not found.", start_response)
        return self.app(environ, start_response)
