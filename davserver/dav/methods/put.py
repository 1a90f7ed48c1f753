"""PUT (RFC 9110 §9.3.4, RFC 4918 §9.7): store a file, atomically.

The body goes into a hidden temporary file beside the target and replaces it
only once complete (:class:`~davserver.fs.uploads.AtomicUpload`): a cut-off
upload, a full disk (507) or a crash leaves the old content intact.  Every
check — conditionals, If header, locks — happens before the body is read, and
the lock check is held atomically with the rename (a lock granted to someone else while
the body arrived wins: 423, the old content untouched).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from davserver.common.dates import http_date
from davserver.dav.methods.base import (
    Commit,
    Dav,
    check_locks,
    check_preconditions,
    creation_changes,
    require_parent,
)
from davserver.dav.methods.options import allow
from davserver.dav.request import Request
from davserver.dav.response import Response
from davserver.errors import MethodNotAllowed, RequestError
from davserver.fs.share import Entry
from davserver.locking.writes import Guarded


def handle(request: Request, dav: Dav) -> Response:
    share = dav.share
    # The target's folder, opened once for the lookup and the upload (else the usual way).
    prepared = share.upload_place(request.path)
    place, target = prepared if prepared is not None else (None, share.lookup(request.path))
    try:
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
        expected = request.body.expected_length()
        # Over the quota with the announced length: 507 before the body is read.
        quotas = dav.quotas
        budget = quotas.budget(request.principal, request.path, expected) if quotas else None
        template = target.stat if target is not None else None
        upload = share.upload(
            request.path,
            expected=expected,
            template=template,
            commit=_charging(request, dav, commit, target, lambda: upload.written),
            place=place,
        )
    except BaseException:
        if place is not None:
            place.close()
        raise
    try:
        for block in request.body.blocks():
            if budget:  # a chunked body: abandoned (nothing installed) once past the quota
                budget.check(upload.written + len(block))
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


def _charging(
    request: Request, dav: Dav, commit: Commit, target: Entry | None, size: Callable[[], int]
) -> Commit:
    """The lock check's commit, with the quota checked and the uploader's usage
    changed in the same step (a file overwritten counts as freed)."""
    quotas = dav.quotas
    if quotas is None:
        return commit
    before = target.stat.st_ino if target is not None else None

    @contextmanager
    def charged() -> Iterator[Guarded]:
        with commit() as held:
            path = request.path
            install = quotas.install(
                request.principal, (path, before), drop=(path,), add=((path, size()),)
            )
            with quotas.charged(install):
                yield held

    return charged
