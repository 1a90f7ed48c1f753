"""Refuse hostile paths and hide the state directory, before anything normalises them.

The HTTP adapter checks the raw request-target here first, so ``..`` segments
(also percent-encoded), backslashes, NUL bytes and over-long names are refused
with 400 instead of being silently resolved.  The server's state directory does
not exist over WebDAV: any method on it or below it gets 404, in any letter
case.  Neither do our temporary names (``.davserver-*.tmp``).  Which names are
hidden is decided by the share's one rule (:mod:`davserver.fs.hidden`), so a
folder that holds a nested state directory stays readable and writable.  The
``Destination`` of COPY/MOVE is parsed once, with the request
(:mod:`davserver.dav.request`).  Both refusals are short plain-text answers
(:class:`PathRefused`), given before authentication.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote, urlsplit

from davserver.dav.response import Response
from davserver.errors import DavServerError

MAX_NAME_BYTES = 255  # NAME_MAX on Linux file systems
MAX_PATH_BYTES = 4096


class PathRefused(DavServerError):
    """A request path refused before anything else ran: 400 or 404 in plain text."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> Response:
        body = (self.message + "\n").encode("utf-8")
        headers = [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")]
        return Response(self.status, headers, body)


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


def is_hidden(path: str, hidden: Callable[[str], bool]) -> bool:
    """The state directory or a temporary name (path already checked)."""
    segments = [segment for segment in unquote(path).split("/") if segment]
    return hidden("/" + "/".join(segments))


def refused_path(target: str, hidden: Callable[[str], bool]) -> PathRefused | None:
    """Why the raw request-target is refused (400, 404), or None.  ``hidden`` is
    the share's rule (HiddenNames.is_hidden)."""
    raw_path = urlsplit(target).path if "://" in target else target.split("?", 1)[0]
    if raw_path == "*":
        return None
    problem = path_problem(raw_path)
    if problem:
        return PathRefused(400, f"Bad request path: {problem}.")
    if is_hidden(raw_path, hidden):
        return PathRefused(404, "Not found.")
    return None
