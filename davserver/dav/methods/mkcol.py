"""MKCOL (RFC 4918 §9.3): create a collection.

The lock check is repeated atomically with the ``mkdir`` (RFC 4918 §7, as for
PUT): a LOCK granted meanwhile on the parent or on the new name wins with 423,
and no collection is made.
"""

from __future__ import annotations

from davserver.dav.methods.base import (
    Dav,
    check_if_header,
    check_locks,
    creation_changes,
    require_parent,
)
from davserver.dav.methods.options import allow
from davserver.dav.request import Request
from davserver.dav.response import Response
from davserver.errors import MethodNotAllowed, UnsupportedMediaType
from davserver.fs.uploads import storage_error


def handle(request: Request, dav: Dav) -> Response:
    share = dav.share
    if request.body.present:
        # §9.3.1: we define no MKCOL body; 415, without reading it.
        raise UnsupportedMediaType("MKCOL with a request body is not supported")
    existing = share.lookup(request.path)
    if existing is not None:
        raise MethodNotAllowed(
            f"{request.path} already exists", allow(existing, readonly=share.readonly)
        )
    require_parent(dav, request.path)
    check_if_header(request, dav, None)
    commit = check_locks(request, dav, creation_changes(request.path, exists=False))
    try:
        # Under the held lock check: a LOCK granted since the check above wins (423).
        share.mkdir(request.path, commit)
    except FileExistsError as exc:  # created meanwhile
        raise MethodNotAllowed(f"{request.path} already exists", ("OPTIONS",)) from exc
    except OSError as exc:
        raise storage_error(exc, "create the collection") from exc
    location = dav.href(request, request.path, collection=True)
    return Response(201, [("Location", location)])
