"""Serving what users uploaded without running it in the share's origin.

A browser that opens an uploaded HTML, SVG or XML file (XSL can script) or a
script runs it with the viewer's cached credentials for this origin.  GET
therefore serves those types with ``Content-Security-Policy: sandbox`` (a
unique origin, no scripts) or as a download, as ``active_content`` says, and
every answer of the WebDAV port carries ``X-Content-Type-Options: nosniff`` (the
HTTP adapter adds :data:`NOSNIFF`) so
a browser never guesses an active type for a file served as something else.
"""

from __future__ import annotations

from urllib.parse import quote

NOSNIFF = ("X-Content-Type-Options", "nosniff")
ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/xsl",
        "application/xslt+xml",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "text/ecmascript",
        "application/x-shockwave-flash",
    }
)


def is_active(content_type: str) -> bool:
    """Whether a browser may run a file of this type (any ``+xml`` type too)."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ACTIVE_TYPES or media.endswith("+xml")


def guard_headers(mode: str, content_type: str, name: str) -> list[tuple[str, str]]:
    """The headers that keep a file of ``content_type`` from running (none when inline)."""
    if mode == "inline" or not is_active(content_type):
        return []
    if mode == "attachment":
        return [("Content-Disposition", f"attachment; filename*=UTF-8''{quote(name, safe='')}")]
    return [("Content-Security-Policy", "sandbox")]
