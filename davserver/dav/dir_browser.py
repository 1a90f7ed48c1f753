"""WsgiDAV's directory browser, asked only about the requests it can answer."""

from __future__ import annotations

from typing import Any

from wsgidav.dir_browser import WsgiDavDirBrowser

LISTING_METHODS = frozenset({"GET", "HEAD"})


class DirBrowser(WsgiDavDirBrowser):  # type: ignore[misc]
    """Answers GET/HEAD on a collection with an HTML listing.

    WsgiDAV 4.4's browser resolves the request's resource (a realpath and a stat)
    for every request before it looks at the method; only GET and HEAD can get a
    listing, so every other method goes straight to the next application.
    """

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ["REQUEST_METHOD"] not in LISTING_METHODS:
            return self.next_app(environ, start_response)
        return super().__call__(environ, start_response)
