"""A PROPFIND's 207 sent as it is rendered (RFC 4918 §9.1, §13).

A listing of 100,000 entries, or of 50 files with large dead properties, used
to be rendered whole — every ``DAV:response``, then their join, then its UTF-8
copy — before the first byte went out.  Here the entries are rendered one at a
time and sent in pieces of about :data:`CHUNK` characters, so memory holds one
piece and one entry.

* An answer that fits in one piece goes out whole with ``Content-Length``, as
  before; a longer one has none (chunked on HTTP/1.1, closed on HTTP/1.0).
* Once the 207 is under way its status cannot change: a member that fails
  (unreadable, a property store error) gets a ``DAV:response`` of its own with
  the status the error table gives it and a ``DAV:responsedescription``
  (§14.24), and the others are listed as usual.  The target itself is rendered
  before the status is sent: its failure is the whole answer's, as before.
* What the access log counts is what went out: the body is iterated through it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterable, Iterator

from davserver.dav.error_responses import classify
from davserver.dav.methods.propfind_render import XML_HEAD, XML_TAIL, XML_TYPE, text
from davserver.dav.response import Response
from davserver.errors import DavServerError
from davserver.fs.listing import Listing, Unreadable
from davserver.fs.share import Entry
from davserver.fs.uploads import storage_error

log = logging.getLogger(__name__)

CHUNK = 64 * 1024  # characters per piece: few writes, little memory

Render = Callable[[Entry], str]
Href = Callable[[str, bool], str]


def failed(href: str, exc: DavServerError) -> str:
    """§14.24: a resource of the answer with a status instead of properties."""
    problem = classify(exc)
    status = f"HTTP/1.1 {problem.status} {Response.reason(problem.status)}"
    return (
        f"<D:response><D:href>{text(href)}</D:href><D:status>{status}</D:status>"
        f"<D:responsedescription>{text(problem.detail)}</D:responsedescription></D:response>"
    )


def rendered(
    target: Entry, members: Iterable[Entry | Unreadable], render: Render, href: Href
) -> Iterator[str]:
    """The target's ``DAV:response`` (its failure propagates), then each member's;
    ``members`` is closed at the end, or when the answer is abandoned."""
    try:
        yield render(target)
        yield from _members(members, render, href)
    finally:
        close = getattr(members, "close", None)
        if close is not None:
            close()


def _members(members: Iterable[Entry | Unreadable], render: Render, href: Href) -> Iterator[str]:
    def one(member: Entry | Unreadable) -> str:
        return _member(member, render, href)

    many = getattr(render, "many", None)  # a renderer that takes a listing's chunks
    if many is not None and isinstance(members, Listing):
        yield from many(members, one)
        return
    for member in members:
        yield one(member)


def _member(member: Entry | Unreadable, render: Render, href: Href) -> str:
    """One member's ``DAV:response``, or its failure's (§14.24)."""
    if isinstance(member, Unreadable):
        log.info("PROPFIND lists %s with its error: %s", member.path, member.error)
        return failed(href(member.path, False), member.error)
    try:
        return render(member)
    except DavServerError as exc:
        log.warning("PROPFIND of %s: %s", member.path, exc)
        return failed(href(member.path, member.is_dir), exc)
    except OSError as exc:
        log.warning("PROPFIND of %s: %s", member.path, exc)
        error = storage_error(exc, f"read {member.path}")
        return failed(href(member.path, member.is_dir), error)


def _pieces(parts: Iterator[str]) -> Generator[bytes, None, None]:
    """The multistatus document in pieces of at least :data:`CHUNK` characters
    (the last one shorter); closing it closes ``parts``."""
    buffered = [XML_HEAD]
    size = len(XML_HEAD)
    try:
        for part in parts:
            buffered.append(part)
            size += len(part)
            if size >= CHUNK:
                yield "".join(buffered).encode("utf-8")
                buffered, size = [], 0
        buffered.append(XML_TAIL)
        yield "".join(buffered).encode("utf-8")
    finally:
        close = getattr(parts, "close", None)
        if close is not None:
            close()


def _resume(taken: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    while taken:
        yield taken.pop(0)  # not kept once sent
    yield from rest


def streamed(parts: Iterator[str]) -> Response:
    """The 207 around ``parts``: whole when it fits in one piece, else as rendered."""
    pieces = _pieces(parts)
    first = next(pieces)  # renders the target: its failure is the whole answer's
    try:
        second = next(pieces)
    except StopIteration:
        return Response(207, [("Content-Type", XML_TYPE)], first)
    return Response(
        207,
        [("Content-Type", XML_TYPE)],
        _resume([first, second], pieces),
        on_close=pieces.close,
    )
