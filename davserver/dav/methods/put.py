"""PUT (RFC 9110 §9.3.4, RFC 4918 §9.7): store a file, atomically.

The body goes into a hidden temporary file beside the target and replaces it
only once complete (:class:`~davserver.dav.uploads.AtomicUpload`): a cut-off
upload, a full disk (507) or a crash leaves the old content intact.  Every
check — conditionals, If header, locks — happens before the body is read, and
the lock check is held atomically with the rename (a lock granted to someone else while
the body arrived wins: 423, the old content untouched).
"""

from __future__ import annotations

from davserver.dates import http_date
from davserver.dav.methods.base import (
    Dav,
    check_locks,
    check_preconditions,
    creation_changes,
    require_parent,
)
from davserver.dav.methods.options import allow
from davserver.dav.request import Request
from davserver.dav.response import Response
from davserver.dav.share import Entry
from davserver.errors import MethodNotAllowed, RequestError


def handle(request: Request, dav: Dav) -> Response:
    share = dav.share
    target = share.lookup(request.path)
    if target is not None and target.is_dir:
        raise MethodNotAllowed(
            f"{request.path} is a collection; PUT writes files",
            allow(target, readonly=share.readonly),
        )
    if request.header("Content-Range") is not None:
        # RFC 9110 §14.5: a server that does not apply partial PUTs must refuse them.
        raise RequestError("partial PUT with Content-Range is not supported")
    if target is None:
        require_parent(dav, request.path)
    check_preconditions(request, dav, target)
    commit = check_locks(request, dav, creation_changes(request.path, target is not None))
    template = target.stat if target is not None else None
    upload = share.upload(
        request.path,
        expected=request.body.expected_length(),
        template=template,
        commit=commit,
    )
    try:
        for block in request.body.blocks():
            upload.write(block)
        stat = upload.commit()
    finally:
        upload.abort()
    stored = Entry(request.path, stat)
    headers = [("ETag", stored.etag or ""), ("Last-Modified", http_date(stored.mtime))]
    if target is None:
        headers.append(("Location", dav.href(request, request.path, collection=False)))
        return Response(201, headers)
    return Response(204, headers)
