"""The parsed Destination of a COPY or MOVE: a plain value.

Apart from the parsing in :mod:`davserver.dav.request` so that the user views
(:mod:`davserver.dav.user_roots`), which the request itself carries, can map one
without importing the request.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Destination:
    """Where a COPY or MOVE writes (RFC 4918 §10.3), as a canonical share path.

    How the header is read — the way WsgiDAV and the clients written against it
    read it: percent-decoded first, then split, so an encoded ``%3B`` or ``%3F``
    ends the path just like ``;`` and ``?``, and ``.``/``..`` segments are
    resolved (RFC 3986 §5.2.4).  ``suffix`` holds what came after the path
    (parameters or query): the method refuses such a destination with 400,
    after the lock check, so a locked resource is reported as locked whatever
    spelling names it, and no file with a surprising name is ever created.
    """

    path: str
    slash: bool
    suffix: str = ""
