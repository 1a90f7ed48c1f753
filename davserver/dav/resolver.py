"""Last middleware: dispatch each request to our RequestServer subclass.

WsgiDAV's RequestResolver builds a stock ``RequestServer`` per request and
offers no hook to change the class, so this small replacement does the same
dispatch with ``DavRequestServer`` (DESIGN.md, "Seams").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from wsgidav.dav_error import HTTP_NOT_FOUND, DAVError
from wsgidav.mw.base_mw import BaseMiddleware
from wsgidav.util import get_rfc1123_time

from davserver.dav.request_server import DavRequestServer


class Resolver(BaseMiddleware):  # type: ignore[misc]
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        provider = environ["wsgidav.provider"]
        if environ["REQUEST_METHOD"] == "OPTIONS" and environ["PATH_INFO"] == "*":
            level = "1" if provider is None or provider.is_readonly() else "1,2"
            start_response(
                "200 OK",
                [
                    ("Content-Length", "0"),
                    ("DAV", level),
                    ("MS-Author-Via", "DAV"),
                    ("Allow", ", ".join(DavRequestServer.ALL_METHODS)),
                    ("Date", get_rfc1123_time()),
                ],
            )
            yield b""
            return
        if provider is None:
            raise DAVError(HTTP_NOT_FOUND, "no resource provider for this path")
        app_iter = DavRequestServer(provider)(environ, start_response)
        try:
            yield from app_iter
        finally:
            close = getattr(app_iter, "close", None)
            if close:
                close()
