"""GET and HEAD (RFC 9110 §9.3.1-§9.3.2): files, byte ranges, and folder listings.

A file is read from the descriptor whose ``fstat`` produced the headers, so a
concurrent PUT (which renames a new file into place) cannot mix old headers
with new bytes.  Range requests get 206 with one range, ``multipart/byteranges``
with several (RFC 9110 §14), 416 with ``Content-Range: bytes */size`` when none
exists.  A collection answers with davserver's HTML listing, which shows who
holds a lock on each entry and until when — or, while the lock store is down,
that the lock state is unknown (a read needs no lock state: still 200).
"""

from __future__ import annotations

import dataclasses
import mimetypes
import os
from io import FileIO

from davserver.common.dates import http_date
from davserver.dav import hrefs, ranges
from davserver.dav.active import guard_headers
from davserver.dav.browser import page_actions, pages
from davserver.dav.error_responses import classify, lock_badges
from davserver.dav.methods import shared_listing
from davserver.dav.methods.base import Dav, check_conditionals, check_preconditions
from davserver.dav.request import Request
from davserver.dav.response import FileSpan, Response
from davserver.errors import NotFound, StoreError
from davserver.fs.share import Entry
from davserver.locking.model import Depth, Lock


def content_type(path: str) -> str:
    guessed, _ = mimetypes.guess_type(path, strict=False)
    return guessed or "application/octet-stream"


def handle(request: Request, dav: Dav) -> Response:
    entry = dav.share.lookup(request.path)
    if entry is None:
        raise NotFound(f"{request.path} does not exist")
    if entry.is_dir:
        return listing(request, dav, entry)
    reader, st = dav.share.open_read(entry)
    try:
        return file_response(request, dav, Entry(entry.path, st), reader)
    except BaseException:
        reader.close()
        raise


def file_response(request: Request, dav: Dav, entry: Entry, reader: FileIO) -> Response:
    headers = [
        ("Content-Type", content_type(entry.path)),
        ("Last-Modified", http_date(entry.mtime)),
        ("ETag", entry.etag or ""),
        ("Accept-Ranges", "bytes"),
    ]
    name = entry.path.rsplit("/", 1)[-1]
    headers += guard_headers(dav.active_content, headers[0][1], name)
    if check_preconditions(request, dav, entry) == 304:
        reader.close()
        return Response(304, [h for h in headers if h[0] in ("Last-Modified", "ETag")])
    size = entry.size
    wanted = None
    if ranges.if_range_allows(request.header("If-Range"), entry.etag or "", entry.mtime):
        wanted = ranges.parse_range(request.header("Range"), size, max_ranges=dav.limits.max_ranges)
    if wanted is None:
        return Response(200, headers, FileSpan(reader, 0, size), size, reader.close)
    if len(wanted) == 1:
        part = wanted[0]
        headers.append(("Content-Range", part.content_range(size)))
        span = FileSpan(reader, part.start, part.length)
        return Response(206, headers, span, part.length, reader.close)
    multipart = ranges.multipart(wanted, size, headers[0][1])
    headers[0] = ("Content-Type", multipart.content_type)
    body = multipart.chunks(lambda offset, count: os.pread(reader.fileno(), count, offset))
    return Response(206, headers, body, multipart.length, reader.close)


def _badges(dav: Dav, request: Request, locks: list[Lock], path: str) -> list[pages.LockBadge]:
    """Who holds each lock (a freeze: why and by whom), and where it is inherited from."""
    badges = []
    for lock, badge in zip(locks, lock_badges(locks), strict=True):
        inherited = None
        if lock.root != path:
            inherited = dav.lock_href(request, lock)
        badges.append(dataclasses.replace(badge, inherited_from=inherited))
    return badges


def listing(
    request: Request, dav: Dav, folder: Entry, notice: pages.Notice | None = None
) -> Response:
    """A collection as an HTML page: folders first, then files, by name, with the
    upload, new-folder, rename and delete actions for a user who may write here
    (``notice``: the outcome of the action just refused, shown above the rows).

    The If header is not evaluated here: webdavclient3 sends its lock's If header
    with every request of a lock context, including ``HEAD /`` to see that the
    share is there, and a listing is no state a client conditions a write on.
    """
    if check_conditionals(request, folder) == 304:
        return Response(304)
    covering, below, unknown = _folder_locks(dav, folder.path)
    inherited = [lock for lock in covering if lock.depth is Depth.INFINITY]
    found: list[Entry] = dav.share.members(folder)
    shared: list[Entry] = []
    if shared_listing.at_home(request, folder, "1"):  # shared_folders in the user's /
        shadowed = request.view.shadowed()
        found = [member for member in found if member.path not in shadowed]
        shared = shared_listing.shared_entries(request, dav)
        below.update({entry.path: dav.locks.discover(entry.path) for entry in shared})
    members = sorted(found + shared, key=lambda e: (not e.is_dir, e.name.casefold()))
    if dav.permissions.active:
        members = [member for member in members if dav.visible(request, member.path)]
    rows = [
        pages.Row(
            name=member.name,
            href=dav.href(request, member.path, collection=member.is_dir),
            is_dir=member.is_dir,
            size=None if member.is_dir else member.size,
            modified=member.stat.st_mtime,
            locks=tuple(
                _badges(
                    dav,
                    request,
                    below.get(member.path, []) + ([] if member in shared else inherited),
                    member.path,
                )
            ),
        )
        for member in members
    ]
    actions, cookies = page_actions.actions_for(request, dav, folder.path)
    if notice is None:
        notice, cleared = page_actions.flash(request)
        cookies += cleared
    shown = request.view.to_view(folder.path)  # the user's home folder is their / (user_root)
    body = pages.listing_page(
        path=(request.mount + shown).rstrip("/") + "/",
        parent_href=None
        if shown == "/"
        else hrefs.href(request.mount, shown.rsplit("/", 1)[0] or "/", collection=True),
        breadcrumbs=breadcrumbs(request, shown),
        rows=rows,
        locks=_badges(dav, request, covering, folder.path),
        now=dav.locks.clock(),
        readonly=dav.share.readonly,
        lock_state_unknown=unknown,
        actions=actions,
        notice=notice,
    )
    headers = [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-cache")]
    headers += page_actions.page_headers(body)
    headers += [("Set-Cookie", cookie) for cookie in cookies]
    return Response(200, headers, body)


def _folder_locks(dav: Dav, path: str) -> tuple[list[Lock], dict[str, list[Lock]], str | None]:
    """The locks covering the folder, those rooted below it by root, and why
    the lock state is unknown (the store failed: none are shown) or None."""
    below: dict[str, list[Lock]] = {}
    try:
        covering = dav.locks.discover(path)
        for lock in dav.locks.locks_below(path):
            below.setdefault(lock.root, []).append(lock)
    except StoreError as exc:
        return [], {}, classify(exc).detail
    return covering, below, None


def breadcrumbs(request: Request, path: str) -> list[tuple[str, str]]:
    """The links to the folders above ``path``, a path of the user's view."""
    crumbs = [("/", hrefs.href(request.mount, "/", collection=True))]
    current = ""
    for segment in path.strip("/").split("/") if path != "/" else []:
        current += "/" + segment
        crumbs.append((segment, hrefs.href(request.mount, current, collection=True)))
    return crumbs
