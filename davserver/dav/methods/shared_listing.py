"""Shared folders in a user's root (``shared_folders`` with ``user_root``).

``/team`` of the share is ``/team`` in every user's view, so the listings of a
user's ``/`` (PROPFIND with Depth 1 or infinity, the HTML page) show it among
their own members; a member of their own folder with the same name is hidden by
it.  A shared folder is rendered with lock discovery of its own: its locks are
not below the user's root.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from davserver.dav.methods.base import Dav
from davserver.dav.request import Request
from davserver.fs.listing import Unreadable
from davserver.fs.share import Entry


def at_home(request: Request, target: Entry, depth: str) -> bool:
    """A listing of the user's ``/`` that shows the shared folders."""
    view = request.view
    return bool(view.shared) and target.path == view.root and depth != "0"


def shared_entries(request: Request, dav: Dav) -> list[Entry]:
    """The shared folders that exist and this user may see."""
    found = []
    for folder in request.view.shared:
        entry = dav.share.lookup(folder)
        if entry is not None and entry.is_dir and dav.visible(request, folder):
            found.append(entry)
    return found


def without_shadowed(
    request: Request, found: Iterable[Entry | Unreadable]
) -> Iterator[Entry | Unreadable]:
    """The user's own members, less those a shared folder hides; ``found`` is
    closed at the end."""
    hidden = request.view.shadowed()
    try:
        for entry in found:
            if not any(entry.path == name or entry.path.startswith(name + "/") for name in hidden):
                yield entry
    finally:
        close = getattr(found, "close", None)
        if close is not None:
            close()
