"""WsgiDAV's WSGI application, entered without its per-response wrapper.

``WsgiDAVApp.__call__`` decodes and normalises ``PATH_INFO``, picks the share's
provider and then runs the middleware stack (here: WsgiDAV's HTTP
authenticator, then our dispatcher) — but it also wraps ``start_response`` to
log every request at INFO, to read and discard unread request bodies into
memory, and to insist on a ``Content-Length`` in every answer, closing the
connection after each 204 (RFC 9110 §8.6 forbids Content-Length there).  Our
HTTP layer decides about unread bodies itself (close or drain, see
:mod:`davserver.http`), and requests are logged by davserver, so this subclass
keeps the routing and drops the wrapper.  Written against WsgiDAV 4.4.0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from wsgidav import util
from wsgidav.wsgidav_app import WsgiDAVApp

BAD_PATH = b"Bad request path: not valid UTF-8 or escapes the root.\n"


class DavApp(WsgiDAVApp):  # type: ignore[misc]
    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        try:
            # WSGI hands PATH_INFO over as latin-1; clients send UTF-8 (PEP 3333).
            path = util.re_encode_wsgi(path)
            if path != "*":
                path = util.normalize_path(path)
        except Exception:  # UnicodeDecodeError, or DAVError for ".." above the root
            start_response(
                "400 Bad Request",
                [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(BAD_PATH))),
                ],
            )
            return [BAD_PATH]
        environ["PATH_INFO"] = path
        share, provider = self.resolve_provider(path)
        environ["wsgidav.app"] = self
        environ["wsgidav.config"] = self.config
        environ["wsgidav.provider"] = provider
        environ["wsgidav.verbose"] = self.verbose
        if share and share != "/":
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + share
            environ["PATH_INFO"] = path[len(share) :]
        return self.application(environ, start_response)  # type: ignore[no-any-return]
