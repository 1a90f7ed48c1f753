"""One handler per WebDAV method (RFC 4918 §9, RFC 9110 §9), registered by name.

Each module implements one method or one family (COPY and MOVE; LOCK and
UNLOCK; GET and HEAD) as ``handle(request, dav) -> Response``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from davserver.dav.methods import copymove, delete, get, lock, mkcol, options, propfind, proppatch
from davserver.dav.methods import put as put_method
from davserver.dav.methods.base import Dav
from davserver.dav.request import Request
from davserver.dav.response import Response

Handler = Callable[[Request, Dav], Response]

METHODS: Final[Mapping[str, Handler]] = {
    "OPTIONS": options.handle,
    "GET": get.handle,
    "HEAD": get.handle,
    "PROPFIND": propfind.handle,
    "PROPPATCH": proppatch.handle,
    "PUT": put_method.handle,
    "DELETE": delete.handle,
    "MKCOL": mkcol.handle,
    "COPY": copymove.handle_copy,
    "MOVE": copymove.handle_move,
    "LOCK": lock.handle_lock,
    "UNLOCK": lock.handle_unlock,
}

READ_METHODS: Final = ("OPTIONS", "GET", "HEAD", "PROPFIND")


def allowed_methods(readonly: bool) -> tuple[str, ...]:
    """What a share accepts at all (OPTIONS ``*``, 405/501 answers)."""
    return READ_METHODS if readonly else tuple(METHODS)
