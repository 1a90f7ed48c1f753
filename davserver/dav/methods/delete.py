"""DELETE (RFC 4918 §9.6): remove a resource and, for a collection, everything in it.

The tree leaves the client's view in one rename before it is removed
(:func:`davserver.fs.removal.delete`).  What the server's user may not remove
(a folder of someone else's, a file in it) stays where it was, with its
ancestors, and the answer is 207 naming each such member with its status
(§9.6.1: the ancestors that stayed only because of a member are not listed, and
no 424); a file, or a collection whose own entries cannot change, that cannot
be deleted at all is a plain 403.  Locks and dead properties are forgotten for
what was removed, and only for that (§7.7: locks never outlive their resource).

Order with the lock store: the store must take a write just before the files
change, and forgets the locks just after, so a store that cannot record the
change refuses the DELETE (503) before any file is touched, and a failure in
between leaves at worst a lock on a missing resource, which fails closed (its
holder can UNLOCK it, an administrator break it) — never a file whose lock is gone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from davserver.dav import hrefs
from davserver.dav.error_responses import classify
from davserver.dav.methods.base import (
    Dav,
    check_locks,
    check_preconditions,
    forget,
    removal_changes,
)
from davserver.dav.methods.propfind_render import multistatus, response, text
from davserver.dav.request import Request
from davserver.dav.response import Response
from davserver.errors import DavServerError, Forbidden, NotFound, RequestError
from davserver.fs.removal import Pruned, Unremoved
from davserver.fs.share import Entry, child_path
from davserver.fs.uploads import storage_error
from davserver.locking.model import Lock


def handle(request: Request, dav: Dav) -> Response:
    entry = dav.share.lookup(request.path)
    if entry is None:
        raise NotFound(f"{request.path} does not exist")
    if request.view.is_mount(entry.path):  # the share's /, a user's / or a shared folder
        raise Forbidden(f"{request.view.mount_name(entry.path)} cannot be deleted")
    if entry.is_dir and request.depth not in (None, "infinity"):
        raise RequestError("DELETE of a collection acts on all members: Depth must be infinity")
    check_preconditions(request, dav, entry)
    guard = check_locks(request, dav, removal_changes(request.path))
    dav.share.check_writable()
    dav.locks.store.ensure_writable()  # a store that cannot forget stops us here
    judged: list[Lock] = []
    freed = _freeing(request, dav, entry)

    @contextmanager
    def commit() -> Iterator[None]:
        # The check held atomically with the step that makes it vanish (RFC 4918 §7):
        # a lock granted meanwhile wins (423).  Only the locks judged here are
        # forgotten below: one granted later is on a new resource at that path.
        with guard() as held:
            judged[:] = held.concerned
            with freed():
                yield

    try:
        pruned = dav.share.delete(entry, commit=commit)
    except FileNotFoundError as exc:
        raise NotFound(f"{request.path} does not exist") from exc
    except OSError as exc:
        raise storage_error(exc, "delete") from exc
    for names in pruned.removed:
        forget(dav, below(request.path, names), judged)
    return answer(request, pruned)


def below(path: str, names: tuple[str, ...]) -> str:
    """The share path of ``names`` below ``path``."""
    for name in names:
        path = child_path(path, name)
    return path


def failure(path: str, unremoved: Unremoved) -> DavServerError:
    """Why one entry stayed, as the error the one table maps to a status."""
    if unremoved.unread:
        return storage_error(unremoved.error, f"read {path}")
    return storage_error(unremoved.error, f"delete {path}")


def answer(request: Request, pruned: Pruned) -> Response:
    """204 when everything went; 207 naming each member that stayed (§9.6.1); the
    error itself when only the request-URI failed."""
    if pruned.complete:
        return Response(204)
    members = [item for item in pruned.failed if item.names]
    if not members:
        raise failure(request.path, pruned.failed[0])
    parts = []
    for item in members:
        path = below(request.path, item.names)
        problem = classify(failure(path, item))
        status = f"HTTP/1.1 {problem.status} {Response.reason(problem.status)}"
        parts.append(
            response(
                hrefs.href(request.mount, request.view.to_view(path), collection=item.folder),
                f"<D:status>{status}</D:status>"
                f"<D:responsedescription>{text(problem.detail)}</D:responsedescription>",
            )
        )
    return multistatus(parts)


def _freeing(
    request: Request, dav: Dav, entry: Entry
) -> Callable[[], AbstractContextManager[None]]:
    """The owners' usage freed in the step that makes the resource vanish (what
    the server's user could not remove and put back stays uncounted)."""
    quotas = dav.quotas
    if quotas is None:
        return nullcontext
    path = entry.path
    install = quotas.install(
        request.principal, (path, entry.stat.st_ino), drop=(path,), what="delete"
    )
    return lambda: quotas.charged(install)
