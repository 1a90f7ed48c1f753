"""Our RequestServer: WsgiDAV's, with our lock checks and If evaluation."""

from __future__ import annotations

from wsgidav.request_server import RequestServer


class DavRequestServer(RequestServer):  # type: ignore[misc]
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
