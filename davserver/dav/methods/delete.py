"""DELETE (RFC 4918 §9.6): remove a resource and, for a collection, everything in it.

The tree leaves the client's view in one rename before it is removed
(:func:`davserver.dav.trees.delete`), so a failure half way leaves nothing
half deleted that anyone can see; locks and dead properties of everything
removed are forgotten (§7.7: locks never outlive their resource).

Order with the lock store: the store must take a write just before the files
change, and forgets the locks just after, so a store that cannot record the
change refuses the DELETE (503) before any file is touched, and a failure in
between leaves at worst a lock on a missing resource, which fails closed (its
holder can UNLOCK it, an administrator break it) — never a file whose lock is gone.
"""

from __future__ import annotations

from davserver.dav.methods.base import (
    Dav,
    check_locks,
    check_preconditions,
    forget,
    removal_changes,
)
from davserver.dav.request import Request
from davserver.dav.response import Response
from davserver.dav.uploads import storage_error
from davserver.errors import Forbidden, NotFound, RequestError


def handle(request: Request, dav: Dav) -> Response:
    entry = dav.share.lookup(request.path)
    if entry is None:
        raise NotFound(f"{request.path} does not exist")
    if entry.path == "/":
        raise Forbidden("the root collection cannot be deleted")
    if entry.is_dir and request.depth not in (None, "infinity"):
        raise RequestError("DELETE of a collection acts on all members: Depth must be infinity")
    check_preconditions(request, dav, entry)
    check_locks(request, dav, removal_changes(request.path))
    dav.share.check_writable()
    dav.locks.store.ensure_writable()  # a store that cannot forget stops us here
    try:
        dav.share.delete(entry)
    except FileNotFoundError as exc:
        raise NotFound(f"{request.path} does not exist") from exc
    except OSError as exc:
        raise storage_error(exc, "delete") from exc
    forget(dav, request.path)
    return Response(204)
