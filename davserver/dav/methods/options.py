"""OPTIONS (RFC 9110 §9.3.7, RFC 4918 §9.1 and §18): what a resource accepts.

Clients decide from this answer whether they may lock: Finder mounts read-only
and Office opens documents read-only without ``DAV: 1,2``.
"""

from __future__ import annotations

from davserver.dav.methods.base import Dav, check_if_header
from davserver.dav.request import Request
from davserver.dav.response import Response
from davserver.fs.share import Entry

READ = ("OPTIONS", "GET", "HEAD", "PROPFIND")
WRITE_EXISTING = ("PROPPATCH", "DELETE", "COPY", "MOVE", "LOCK", "UNLOCK")
ALL = (*READ, "PUT", "MKCOL", *WRITE_EXISTING)
# An unmapped URL can be created (PUT, MKCOL) or locked, which creates it (§7.3).
UNMAPPED = ("OPTIONS", "PUT", "MKCOL", "LOCK")


def allow(entry: Entry | None, *, readonly: bool, server_wide: bool = False) -> tuple[str, ...]:
    """The methods ``entry`` accepts (RFC 9110 §10.2.1 Allow)."""
    if readonly:
        return READ if entry is not None or server_wide else ("OPTIONS",)
    if server_wide:
        return ALL
    if entry is None:
        return UNMAPPED
    if entry.is_dir:
        return (*READ, *WRITE_EXISTING)
    return (*READ, "PUT", *WRITE_EXISTING)


def dav_headers(readonly: bool) -> list[tuple[str, str]]:
    return [("DAV", "1" if readonly else "1,2"), ("MS-Author-Via", "DAV")]


def handle(request: Request, dav: Dav) -> Response:
    readonly = dav.share.readonly
    server_wide = request.target == "*"
    entry = None if server_wide else dav.share.lookup(request.path)
    if not server_wide:
        check_if_header(request, dav, entry)
    methods = allow(entry, readonly=readonly, server_wide=server_wide)
    headers = [*dav_headers(readonly), ("Allow", ", ".join(methods))]
    if entry is not None and not entry.is_dir:
        headers.append(("Accept-Ranges", "bytes"))
    return Response(200, headers)
